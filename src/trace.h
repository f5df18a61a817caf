/*
** trace.h: tracing records (stream.c keeps them, the binding delivers
** them). A stream traced (chc_request.trace) queues one record per event
** of its exchange: the setup phases of the connection opened for it
** (resolve, connect, proxy, tls; reported by conn.c through the pool),
** then send_headers, send_body, receive_headers. Recording never calls
** anyone: the owner of the stream takes the records at its own safe
** points (chc_stream_trace_take). A stream not traced has no queue, and
** every hook is one test of a NULL pointer.
*/
#ifndef CHC_TRACE_H
#define CHC_TRACE_H

#include <stddef.h>

#include "common.h"

enum {
  CHC_TR_RESOLVE, CHC_TR_CONNECT, CHC_TR_PROXY, CHC_TR_TLS,
  CHC_TR_SEND_HEADERS, CHC_TR_SEND_BODY, CHC_TR_RECV_HEADERS,
  CHC_TR_RECV_BODY, CHC_TR_CLOSED
};
enum { CHC_TR_STARTED, CHC_TR_COMPLETE, CHC_TR_FAILED };

/* What an event knows; empty strings and -1 for what it does not. */
typedef struct chc_trace_rec {
  double t;            /* CLOCK_MONOTONIC seconds, as http.now() */
  int phase, what;     /* CHC_TR_* */
  int reused;          /* send_headers: on a reused connection (0/1) */
  int port, status;    /* connect: the peer's port; receive_headers */
  long long bytes;     /* send_body: bytes sent */
  char addr[80];       /* connect: the address; proxy, tls: the peer */
  char alpn[16], tls_version[16], cipher[64]; /* tls */
  int ecode;           /* failed: the error */
  char emsg[CHC_ERRMSG_MAX];
} chc_trace_rec;

typedef struct chc_trace {
  chc_trace_rec *r;
  size_t head, n, cap; /* r[head..n) not taken yet */
  int open;            /* the phase started and not ended, or -1 */
  long long got;       /* body bytes the caller consumed */
} chc_trace;

const char *chc_trace_phase(int phase); /* "resolve", "send_headers"... */

#endif
