/*
** h2conn.h: the HTTP/2 glue between the engine (h2.c) and a pooled
** connection (h2conn.c), behind the protocol interface of pool_int.h
** (h2_ops): the deferred pump, settle, the retry queue, and the
** per-stream timers.
*/
#ifndef CHC_H2CONN_H
#define CHC_H2CONN_H

#include "buf.h"
#include "h2.h"
#include "loop.h"

struct pconn;
struct chc_stream;

/* A connection's HTTP/2 state (h2conn.c owns every field). */
typedef struct h2conn {
  struct pconn *c;
  chc_h2 *engine;
  chc_list streams;  /* h2_stream.cnode of every stream on it */
  int nactive;       /* of those, not yet ended or failed */
  chc_list retryq;   /* streams to move to another connection */
  chc_defer pump;    /* flush the engine's frames to the socket */
  chc_timer ptimer;  /* the wait for a liveness PING's ACK */
  unsigned slots : 1, /* the engine said streams may have freed up */
      goaway : 1,
      pinging : 1, /* a PING is out: no stream goes on before its ACK */
      suspect : 1; /* a stream timed out: PING before the next one */
} h2conn;

/* A stream's HTTP/2 part: what a submission needs, and the engine's
** stream once submitted. h2conn.c owns the fields; the memory is
** stream.c's (allocated with the stream, zeroed, kept for reuse), and
** h2_stream_prepare fills it for a request whose origin may speak
** HTTP/2. */
typedef struct h2_stream {
  struct chc_stream *s;
  chc_h2_stream *st; /* the engine's stream: NULL until submitted */
  chc_list cnode;    /* h2conn.streams, or h2conn.retryq */
  int done;          /* ended or failed: no longer counted in nactive */
  chc_timer rtimer;  /* read timeout while the reader waits, or write
                     ** timeout while the producer waits */
  int rt_write;      /* rtimer is the write timeout */
  char *method, *target;
  char *protocol;    /* an extended CONNECT's :protocol (RFC 8441), or NULL */
  chc_hlist headers;
  int body_kind;
  const char *body;
  size_t body_len;
} h2_stream;

/* The connection agreed HTTP/2: start the engine, submit the stream it
** was opened for, let the origin's waiters in. */
void h2_start(struct pconn *c);
void h2conn_free(struct pconn *c);
/* The origin's HTTP/2 connection c is about to take a stream: if it sat
** idle for the pool's h2_ping_after or longer, or a stream on it timed
** out, send a PING first (c is pinging, and off the idle lists; the
** origin's waiters get it at the ACK, or a new connection if none comes
** within the connect timeout). */
void h2_ping_check(struct pconn *c);
/* The HTTP/2 part of s for this request (0), or -1 out of memory. */
int h2_stream_prepare(struct chc_stream *s, const char *method,
                      const char *target, const chc_hlist *headers,
                      int body_kind, const char *body, size_t body_len,
                      const char *protocol);
void h2_stream_reset(struct chc_stream *s);   /* the stream is released */
void h2_stream_destroy(struct chc_stream *s); /* what it holds, not itself */

#endif
