/*
** h1conn.h: HTTP/1.1 exchanges on a pooled connection (h1conn.c), behind
** the protocol interface of pool_int.h (h1_ops). The engine (h1.c) is
** sans-I/O; this is where its bytes meet the transport.
*/
#ifndef CHC_H1CONN_H
#define CHC_H1CONN_H

#include <stddef.h>

#include "buf.h"
#include "h1.h"

struct pconn;
struct chc_stream;

/* A connection's HTTP/1.1 state while it serves an exchange (h1conn.c
** owns every field). The pool keeps a few of these for reuse, parser
** memory included (pool_h1_get/put). */
typedef struct h1conn {
  chc_h1_resp resp;    /* the response parser */
  const char *wbody;   /* borrowed request body bytes, after pconn.wbuf */
  size_t wbody_len;
  int write_errno;
  unsigned got_bytes : 1, /* a response byte came on this exchange */
      write_failed : 1,   /* sending failed: the read side decides */
      resp_pending : 1;   /* response complete, request body still going */
} h1conn;

/* A stream's HTTP/1.1 part (h1conn.c's, but `head` and `chunked` are
** written by stream.c when the request is made). Kept with a stream that
** is reused, so its buffers keep their memory. */
typedef struct h1_stream {
  chc_buf head;     /* serialised request head (and framed string body),
                    ** kept for a retry */
  int chunked;      /* producer body sent with chunked framing */
  const char *bp;   /* body region ready for the reader: in the conn's
                    ** read buffer, or in tail */
  size_t bn;
  chc_buf tail;     /* body bytes kept when the conn moved on */
  int upgrade;      /* the request has an Upgrade field: a 101 may come */
  int draining;     /* released mid-body: the conn reads the rest away */
  size_t drained;   /* bytes discarded so far */
} h1_stream;

/* The connection is set up and speaks HTTP/1.1: serve the stream it was
** opened for. */
void h1_begin(struct pconn *c);
/* The stream stops using its connection (a body region in the read
** buffer is copied out first). */
void h1_detach(struct chc_stream *s);
void h1conn_free(h1conn *h);
/* Sends up to n bytes of file fd from off with sendfile(2): see
** chc_stream_sendfile (pool.h) for when and what it returns. */
long long h1_sendfile(struct chc_stream *s, int fd, long long off, size_t n);
/* The write deadline of c passed: 1 when the complete response was
** already there (it stands; the upload ends), 0 to fail as usual. */
int h1_write_timed_out(struct pconn *c);

#endif
