/*
** h2_int.h: what the two halves of the HTTP/2 engine share: h2.c (the
** session: nghttp2's callbacks, feed/flush, the connection's state and
** stream lifetime) and h2_req.c (requests: their header checks and
** submission, the data providers, and the stream API). Nothing outside
** the engine includes it: the engine's interface is h2.h.
**
** Both files own the structs together: h2.c creates and frees them and
** records what nghttp2 reports; h2_req.c fills a stream's request side
** and moves its body in and out at the caller's request.
*/
#ifndef CHC_H2_INT_H
#define CHC_H2_INT_H

#include <nghttp2/nghttp2.h>

#include "h2.h"

#define DEF_STREAM_WINDOW (256u * 1024)
#define DEF_CONN_WINDOW (8u * 1024 * 1024)
#define DEF_MAX_HEADER 65536
#define DEF_UPLOAD (64u * 1024)
#define BLOCK_SIZE (16 * 1024) /* the default SETTINGS_MAX_FRAME_SIZE */

/* How usable the engine is. DEAD_PROTO: the peer broke the protocol;
** only a flush (sending the GOAWAY nghttp2 queued) still makes sense.
** DEAD_HARD: nghttp2 failed fatally or the caller aborted; nghttp2 is not
** called again except to delete the session. */
enum { ALIVE, DEAD_PROTO, DEAD_HARD };

/* Body bytes live in blocks that never move or grow once allocated, so
** a region handed out by peek stays valid while feeds append. */
typedef struct block {
  struct block *next;
  size_t r, w, cap;
  char data[];
} block;

struct chc_h2_stream {
  chc_h2 *h2;    /* NULL once the engine is freed */
  chc_list node; /* h2->streams */
  void *ud;
  int32_t id;
  /* response */
  int status;
  chc_hlist fields, trailers;
  size_t head_bytes; /* of the header block being received */
  block *bhead, *btail;
  size_t buffered; /* body bytes held, not consumed */
  /* request body */
  int body_kind;
  const char *body; /* BYTES: borrowed */
  size_t body_len, body_off;
  chc_buf up; /* STREAM: the producer's queue */
  chc_error err;
  uint32_t rst_code;
  unsigned has_head : 1, ended : 1, failed : 1, cancelled : 1, released : 1,
      closed : 1, hdr_sent : 1, req_sent : 1, up_end : 1, up_blocked : 1,
      rst_recv : 1, retryable : 1,
      interim : 1, /* a 1xx head came before the final one */
      tunnel : 1,  /* an extended CONNECT: the request side outlives the
                   ** response's END_STREAM (RFC 8441 5: both directions
                   ** close independently) */
      finishing : 1; /* released after both sides ended: the queued
                     ** request bytes and END_STREAM still go out */
};

struct chc_h2 {
  nghttp2_session *s;
  chc_h2_callbacks cb;
  void *ud;
  size_t max_header, upload_limit;
  chc_list streams; /* every stream object: owned or zombie */
  size_t nopen;     /* submitted, not yet closed by nghttp2 */
  nghttp2_nv *nv;   /* submit scratch */
  size_t nvcap;
  chc_buf names; /* lower-cased names for the scratch nv */
  chc_error err;
  int dead;
  unsigned goaway_recv : 1, shutting : 1,
      settings_recv : 1; /* the server's first SETTINGS arrived */
  int32_t goaway_last;
  uint32_t goaway_code;
  unsigned pings_out;
  uint64_t ping_seq;
  char emsg[160];  /* nghttp2's last error text (error_callback2) */
  char gdebug[64]; /* GOAWAY debug data, printable */
};

#define CB(h2, name, ...)                          \
  do {                                             \
    if ((h2)->cb.name) (h2)->cb.name(__VA_ARGS__); \
  } while (0)

/* h2.c: helpers (chc_printable, common.h, makes bytes fit a message) */
int h2_name_is(const chc_hlist *h, size_t i, const char *name);
/* Does the comma-separated list p[0..n) hold the token tok (any case)? */
int h2_list_has(const char *p, size_t n, const char *tok, size_t tl);
void h2_seterr(chc_error *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* h2.c: stream bodies and lifetime */
void h2_body_drop(chc_h2_stream *st, size_t n); /* n <= buffered */
int h2_st_live(const chc_h2_stream *st); /* the caller still wants events */
/* The request side still takes bytes (h2_req.c): live, or a tunnel whose
** response ended. */
int h2_st_up_live(const chc_h2_stream *st);
void h2_st_drop_body(chc_h2_stream *st); /* and give its window back */
void h2_st_free(chc_h2_stream *st);

#endif
