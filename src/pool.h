/*
** pool.h: the transport's public face to the binding (and to C users):
** connection pools and request streams. Callback based, no Lua.
**
** A stream is one request/response exchange. The caller creates it with
** chc_pool_request(), then watches it through its notify callback, which is
** called (never re-entrantly into the caller's own call, and never freeing
** anything) whenever something observable changed: the head arrived, body
** bytes are ready, the body ended, an error happened, or the request body
** can take more bytes. The callback must only record/wake; it must not call
** back into the pool.
**
** Ownership: the caller owns the stream until chc_stream_release(); after
** that the transport frees it when it no longer needs it.
*/
#ifndef CHC_POOL_H
#define CHC_POOL_H

#include <stdint.h>

#include "buf.h"
#include "common.h"
#include "loop.h"
#include "tls.h"
#include "trace.h"

typedef struct chc_pool chc_pool;
typedef struct chc_stream chc_stream;

/* Timeouts in ms; -1 = none. */
typedef struct chc_timeouts {
  int64_t connect, read, write, pool, total;
} chc_timeouts;

typedef struct chc_pool_opts {
  int max_connections; /* total open connections */
  int max_keepalive;   /* idle connections kept */
  int64_t keepalive_expiry; /* ms an idle connection is kept */
  /* ms an HTTP/2 connection may sit idle before its next stream waits for
  ** a PING's ACK (-1: never) */
  int64_t h2_ping_after;
  int http1, http2;
  int retries; /* retries of failed connects */
  chc_timeouts to;
  size_t max_header_size;
  const char *uds; /* copied */
  /* https: the pool takes it over (also when chc_pool_new fails). NULL:
  ** defaults (chc_tls_opts_default), made at the first https request. */
  chc_tls_conf *tls;
  /* NULL: direct. Else the proxy every connection goes through (proxy.h);
  ** the pool takes it over like tls (also when chc_pool_new fails). */
  struct chc_proxy *proxy;
} chc_pool_opts;

void chc_pool_opts_default(chc_pool_opts *o);

chc_pool *chc_pool_new(chc_loop *lp, const chc_pool_opts *o);
/* Closes every connection; streams still owned by callers fail with
** Closed (their notify is called). The memory goes when the last stream
** is released. */
void chc_pool_free(chc_pool *p);
const chc_timeouts *chc_pool_timeouts(const chc_pool *p);

typedef struct chc_pool_stats {
  int connections, idle, active, waiting;
  int origins; /* scheme/host/port entries held (by connections, streams) */
} chc_pool_stats;
void chc_pool_stats_get(const chc_pool *p, chc_pool_stats *st);

enum { CHC_BODY_NONE, CHC_BODY_BYTES, CHC_BODY_STREAM };

typedef struct chc_request {
  const char *method;
  int https;
  const char *host; /* bare host (IPv6 without brackets) */
  int port;
  const char *target;     /* origin-form */
  const chc_hlist *headers;
  int body_kind;
  /* CHC_BODY_BYTES: borrowed; the caller keeps it alive until release */
  const char *body;
  size_t body_len;
  chc_timeouts to; /* effective timeouts for this request */
  int trace;       /* record trace events (trace.h) */
  /* An extended CONNECT (RFC 8441), e.g. "websocket"; NULL for every
  ** other request. Over HTTP/2 (a pool with http2 whose connection to the
  ** origin is HTTP/2) the request goes as CONNECT with this :protocol and
  ** the fields h2_headers, once the server's SETTINGS arrived, and its
  ** body is a tunnel: chc_stream_write/write_end carry the caller's bytes
  ** and the response's body is the other direction; after a 2xx only the
  ** caller's own timers apply (the read, write and total timeouts covered
  ** the opening). A server that did not enable extended CONNECT, or a
  ** connection that turns out HTTP/1.1, gets the request as method and
  ** headers say (an HTTP/1.1 Upgrade), on a connection of its own that
  ** offers only HTTP/1.1 and is never reused. */
  const char *protocol;
  const chc_hlist *h2_headers;
} chc_request;

typedef void (*chc_stream_notify)(chc_stream *s, void *ud);

/* Starts a request. Validates and serialises the head first: on invalid
** input returns NULL with e set (LocalProtocolError / UnsupportedProtocol)
** and nothing is sent. Otherwise returns the stream; progress and failures
** are reported through notify. */
chc_stream *chc_pool_request(chc_pool *p, const chc_request *rq,
                             chc_stream_notify notify, void *ud,
                             chc_error *e);

/* Observers. */
int chc_stream_has_head(const chc_stream *s);
/* 1 when the connection had served another exchange before this one. */
int chc_stream_reused(const chc_stream *s);
const chc_error *chc_stream_error(const chc_stream *s); /* NULL if none */
int chc_stream_status(const chc_stream *s);
const char *chc_stream_reason(const chc_stream *s);
const char *chc_stream_version(const chc_stream *s);
const chc_hlist *chc_stream_headers(const chc_stream *s);
/* Exchanges dst with the head's fields: dst gets them, the stream gets
** what dst held (give it an empty list: its memory is reused by the next
** response). O(1): for keeping the fields past release. */
void chc_stream_take_headers(chc_stream *s, chc_hlist *dst);
/* NULL until the body ended (and when there were none). */
const chc_hlist *chc_stream_trailers(const chc_stream *s);

/* Body. chc_stream_peek returns the bytes ready now (n > 0), 0 when none
** are ready yet, or -1 at the end of the body. After using the bytes call
** chc_stream_consume(s, n) with all or part of them: that is what lets the
** transport read more (backpressure). */
int chc_stream_peek(chc_stream *s, const char **p, size_t *n);
void chc_stream_consume(chc_stream *s, size_t n);

/* Request body (CHC_BODY_STREAM). chc_stream_writable: 1 when a write would
** be accepted now, 0 when the producer should wait for notify, -1 when the
** request body is no longer wanted (error, or the response already ended:
** the producer should stop). write copies what the socket does not take at
** once; returns 0 or -1 (error in chc_stream_error). */
int chc_stream_writable(chc_stream *s);
int chc_stream_write(chc_stream *s, const char *p, size_t n);
int chc_stream_write_end(chc_stream *s);
/* The producer failed: abort the request with this error. */
void chc_stream_abort(chc_stream *s, int code, const char *msg);

/* A fixed-length producer body from a file: sends up to n bytes of fd
** from off straight to the socket (HTTP/1.1 over plain TCP, nothing
** queued). Returns the bytes sent (counted as written), 0 when the socket
** is full, -1 when it cannot go that way now (use chc_stream_write), -2
** on a write error (chc_stream_error). Never more than the Content-Length
** left. */
long long chc_stream_sendfile(chc_stream *s, int fd, long long off, size_t n);

/* Request body bytes that went to the socket so far (never more than did:
** bytes still queued on the connection count as not sent); *total gets
** the body's length, or -1 when unknown. For progress reports. */
unsigned long long chc_stream_body_written(const chc_stream *s,
                                           long long *total);

/* Tracing (trace.h): copies the oldest record not taken yet into *r and
** returns 1, or 0 when there is none (or s is not traced). */
int chc_stream_trace_next(chc_stream *s, chc_trace_rec *r);

/* The caller is done with the stream: the connection goes back to the pool
** when the exchange is complete, otherwise it is discarded (or a waiting
** request is dequeued). Never waits; never calls notify. */
void chc_stream_release(chc_stream *s);

#endif
