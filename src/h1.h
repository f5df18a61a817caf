/*
** h1.h: the HTTP/1.1 client engine, sans-I/O.
**
** Request side: serialise a request head and chunked framing into a buffer.
** Response side: a parser over llhttp that takes bytes and reports the head
** (status, version, reason, ordered fields), the body as one contiguous
** region per feed, trailers, and the end of the message. No sockets here.
*/
#ifndef CHC_H1_H
#define CHC_H1_H

#include <stddef.h>
#include <sys/types.h>

#include <llhttp.h>

#include "buf.h"
#include "common.h"

/* ---- request side ---- */

/* Body framing for chc_h1_write_head. */
#define CHC_H1_BODY_NONE (-1)    /* no body and no Content-Length */
#define CHC_H1_BODY_CHUNKED (-2) /* Transfer-Encoding: chunked */
/* >= 0: Content-Length: n */

/* Appends "METHOD target HTTP/1.1\r\n" + Host (unless the fields carry one)
** + the fields in order + the framing header (unless the fields already
** carry Content-Length or Transfer-Encoding) + "\r\n".
** Validates first and appends nothing on error: the method must be a token
** (RFC 9110 5.6.2), field names tokens, field values free of CR, LF and NUL,
** the target free of CTLs and spaces. Returns 0, or -1 with e set
** (LocalProtocolError), or -1 with errno ENOMEM (e untouched). */
int chc_h1_write_head(chc_buf *out, const char *method, const char *target,
                      const char *host, const chc_hlist *fields,
                      long long body, chc_error *e);
/* Chunked framing: "<hex>\r\n<data>\r\n"; n must be > 0 (n == 0 would
** end the body: -1 with errno EINVAL). These return 0, or -1 and ENOMEM. */
int chc_h1_write_chunk(chc_buf *out, const void *p, size_t n);
/* Only the chunk header; the caller appends the data and then "\r\n". */
int chc_h1_write_chunk_head(chc_buf *out, size_t n);
/* "0\r\n\r\n" */
int chc_h1_write_last_chunk(chc_buf *out);

/* Validation helpers (also used by the Lua layer through the binding). */
int chc_h1_is_token(const char *p, size_t n);
int chc_h1_is_field_value(const char *p, size_t n);

/* ---- response side ---- */

enum {
  CHC_H1_HEAD = 1, /* a final (>= 200, or 101) head completed in this feed */
  CHC_H1_BODY = 2, /* body bytes in r->body/r->body_len from this feed */
  CHC_H1_DONE = 4  /* the message ended; trailers (if any) are in r->trailers */
};

typedef struct chc_h1_resp {
  llhttp_t parser;
  /* configuration */
  size_t max_head; /* bytes of status line + fields (and of trailers) */
  int no_body;     /* response to HEAD: the head ends the message */
  /* results */
  int status;        /* final status (1xx heads are skipped, except 101) */
  int major, minor;  /* version */
  chc_buf reason;    /* NUL-terminated */
  chc_hlist fields;  /* head fields, order and duplicates kept */
  chc_hlist trailers;
  int keep_alive;    /* after DONE: connection reusable */
  /* body bytes delivered by the last feed: a region inside the caller's
  ** buffer (chunked framing removed by moving bytes towards the start) */
  char *body;
  size_t body_len;
  unsigned events; /* CHC_H1_* seen in the last feed */
  int done;        /* message complete */
  chc_error err;   /* set when a feed/eof returns -1 */
  /* private */
  chc_buf name, value; /* partial field name/value across feeds */
  size_t head_bytes;   /* of the current head (or trailers), vs max_head */
  int state;           /* where the parser is: H1_* in h1.c */
  int ext_paused;      /* llhttp 8.1 chunk-extension workaround, see h1.c */
  int crlf_left;       /* CRLF bytes after chunk data still to check */
  int size_line;       /* a chunk-size line comes next (BWS, see h1.c) */
  chc_buf line;        /* that line, gathered until its LF */
  size_t interim_bytes; /* of the 1xx heads before this one */
  int ninterim;        /* how many there were */
  char *in, *in_end;   /* the buffer of the current feed */
} chc_h1_resp;

/* Prepares a parser for one response (call again for the next response on a
** kept-alive connection: it resets the results, keeps the memory).
** The struct must be zeroed once before its first init (`= {0}`, calloc or
** memset): init cannot tell stale pointers from live ones. chc_h1_resp_free
** releases the memory and leaves the struct zeroed, ready for another init.
** max_head 0 means 65536. */
void chc_h1_resp_init(chc_h1_resp *r, size_t max_head, int no_body);
void chc_h1_resp_free(chc_h1_resp *r);

/* Feeds n bytes at p (the parser may move body bytes inside [p, p+n)).
** Parses until the input is used up or the message is DONE (then it stops:
** bytes after the end of the message are not consumed). Sets r->events.
** Returns the number of bytes consumed, or -1 on malformed input with
** r->err set (RemoteProtocolError naming what was wrong: "malformed status
** line", "response head larger than 65536 bytes", "invalid chunk size",...;
** out of memory: ReadError and errno ENOMEM).
** After DONE or an error, further feeds return -1 / 0 consumed. */
ssize_t chc_h1_resp_feed(chc_h1_resp *r, char *p, size_t n);

/* The peer closed the connection (clean EOF). Returns 1 if this completed
** the message (a read-until-close body: sets done), 0 if the message was
** already done, or -1 with r->err set ("connection closed before the end
** of the response body: N bytes missing", "... before a response").
*/
int chc_h1_resp_eof(chc_h1_resp *r);

#endif
