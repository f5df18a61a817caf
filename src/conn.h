/*
** conn.h: the transport of one connection (conn.c, conn_tls.c). Knows
** bytes, not HTTP: resolve, a non-blocking connect that tries every
** address in turn, the edge-triggered socket, the connect deadline,
** conn_recv/conn_send, close and free.
**
** Setup is a chain of steps run one after the other before the connection
** is ready: the socket step (resolve + connect) at the bottom, then what
** the owner pushed above it, in order (today: TLS for https; later a
** proxy handshake). A step is a small object, a conn_step_type plus its
** own state, like curl's connection filters (STYLE.md section 5). Each
** step only knows the one below it: its recv/send go down the chain, so
** TLS inside a tunnel through a TLS proxy is simply two TLS steps.
** conn_recv/conn_send ask the top step; a plain connection's chain is the
** socket step alone, and conn_recv/conn_send then go straight to the
** socket (the fast path).
**
** Ownership: a conn has one owner at a time (the pool's connection, or a
** new owner after a takeover: conn_set_owner), told about readiness,
** setup failure and edges through its conn_owner callbacks. Only the
** owner calls conn_* on it. conn_close never frees: the owner calls
** conn_free once no callback of its own is running on the conn (G6: the
** pool frees its connections at reap time).
*/
#ifndef CHC_CONN_H
#define CHC_CONN_H

#include <netdb.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "common.h"
#include "loop.h"
#include "resolver.h"
#include "tls.h"

typedef struct conn conn;
typedef struct conn_step conn_step;

/*
** What the owner is told. Each callback may close the conn (conn_close);
** conn.c touches nothing of it afterwards.
**  on_ready: every step is done; the connect deadline is stopped.
**  on_fail: setup failed (resolve, every address refused, a step, or the
**    connect deadline). `final` is set for failures that a retry cannot
**    cure (out of memory, a TLS session that cannot be made): the owner
**    should not try again.
**  on_io: an edge after setup (CHC_EV_*; an error edge counts as both
**    directions, and an edge a TLS step waited for in the other direction
**    is added). The owner records it in readable/writable itself.
*/
typedef struct conn_owner {
  void (*on_ready)(conn *t, void *ud);
  void (*on_fail)(conn *t, void *ud, int code, const char *msg, int final);
  void (*on_io)(conn *t, void *ud, unsigned ev);
} conn_owner;

/* Questions a step may answer (conn_step_type.query). */
enum {
  CONN_Q_PENDING,  /* bytes the step holds that no recv has returned yet */
  CONN_Q_EOF_CLEAN /* 1 if the end of the stream was a clean close */
};

/*
** A step's functions. Setup: start is called once the steps below are
** ready, then on_io on every edge until it is done; both return 1 (done),
** 0 (wait for the next edge) or -1 (failed: conn_step_fail set the
** error). recv/send return a count or -1 with errno (EAGAIN: wait for an
** edge; EPROTO: the step's own failure, errmsg tells it). query answers a
** CONN_Q_* or returns -1 to let the step below answer. close says goodbye
** without waiting (TLS close_notify); free releases the step's memory.
** Any function may be NULL but recv and send.
*/
typedef struct conn_step_type {
  const char *doing; /* "TLS handshake with": for the deadline's message */
  int (*start)(conn_step *st);
  int (*on_io)(conn_step *st, unsigned ev);
  ssize_t (*recv)(conn_step *st, char *p, size_t n);
  ssize_t (*send)(conn_step *st, const struct iovec *iov, int k);
  ssize_t (*peek)(conn_step *st, char *p, size_t n);
  const char *(*errmsg)(const conn_step *st);
  const char *(*alpn)(const conn_step *st);
  long (*query)(const conn_step *st, int what);
  void (*close)(conn_step *st);
  void (*free)(conn_step *st);
} conn_step_type;

/* The part every step starts with; conn.c owns the links. */
struct conn_step {
  const conn_step_type *type;
  conn_step *below; /* NULL for the socket step */
  conn *t;
};

/* Tracing the setup (trace.h's CHC_TR_RESOLVE .. CHC_TR_TLS, and
** CHC_TR_STARTED/COMPLETE/FAILED): st is the step concerned (the socket
** step for resolve and connect). Called from inside the conn's own
** callbacks: it must only record. */
typedef void (*conn_tracer)(conn *t, void *ud, int phase, int what,
                            const conn_step *st);

#define CONN_MAX_STEPS 4
enum { CONN_SETUP, CONN_READY, CONN_CLOSED };

/*
** The transport. conn.c owns every field; the owner reads `readable`,
** `writable`, `peer` and `io.fd`, and writes `readable`/`writable` as it
** meets edges and EAGAINs (edge-triggered: "may have bytes / room").
** conn_recv clears `readable` itself after a plain read that emptied the
** socket, so the owner's "read until EAGAIN" loop ends there.
*/
struct conn {
  chc_loop *lp;
  chc_io io;               /* the socket, edge-triggered, read+write */
  int state;               /* CONN_* */
  unsigned readable : 1, writable : 1,
      read_wants_write : 1, /* a TLS read waits for the socket's room: */
      write_wants_read : 1, /* the next edge that way is for the other */
      peer_fin : 1;         /* an edge said the peer's FIN is queued */
  const conn_owner *own;
  void *ud;
  conn_step sock;          /* the bottom step: always there */
  conn_step *steps[CONN_MAX_STEPS]; /* bottom first */
  int nsteps, cur;         /* cur: the step being set up */
  conn_step *top;
  /* the socket step's state */
  chc_resolve *res;
  struct addrinfo *ai, *ai_cur;
  char *host, *uds;
  int port;
  chc_timer ctimer;        /* the connect deadline, over the whole chain */
  int64_t connect_ms;
  int ecode, efinal;       /* a step's failure (conn_step_fail) */
  char emsg[CHC_ERRMSG_MAX];
  char peer[80];           /* "host:port" or the socket path, for messages */
  conn_tracer tracer;      /* NULL: not traced (conn_set_tracer) */
  int trphase;             /* the setup phase under way */
};

/* A transport for `peer` (a name for messages), not yet started. NULL on
** out of memory. */
conn *conn_new(chc_loop *lp, const char *peer, const conn_owner *own,
               void *ud);
/* Adds a step above the ones pushed so far (before conn_start). On
** success the conn owns st; -1 (too many): the caller keeps it. */
int conn_push(conn *t, conn_step *st);
/* Runs the chain: resolve host:port (or connect to the unix socket uds)
** under a deadline of connect_ms (-1: none). May call on_ready or on_fail
** before returning. */
void conn_start(conn *t, const char *host, int port, const char *uds,
                int64_t connect_ms);
/* Reports the setup's phases to fn (with the owner's ud); before
** conn_start. */
void conn_set_tracer(conn *t, conn_tracer fn);
/* conn_tls.c: the TLS session of a TLS step (NULL for another step, or
** before its start). */
const chc_tls *conn_tls_of(const conn_step *st);
/* Hands the conn to another owner (a takeover). */
void conn_set_owner(conn *t, const conn_owner *own, void *ud);

/* The bytes, through the top step: see conn_step_type.recv/send. */
ssize_t conn_recv(conn *t, char *p, size_t n);
ssize_t conn_send(conn *t, const struct iovec *iov, int k);
/* The socket's own bytes, under every step: only for asking whether the
** peer of an idle connection said anything (which ends it). */
ssize_t conn_recv_raw(conn *t, char *p, size_t n);
int conn_is_plain(const conn *t); /* the chain is the socket alone */
/* A sentence for errno err from conn_recv/conn_send (EPROTO: the
** failing step's own words). */
const char *conn_strerror(const conn *t, int err);
size_t conn_pending(const conn *t);
int conn_eof_clean(const conn *t);
const char *conn_alpn(const conn *t); /* NULL: none agreed */

/* For a step whose setup goes on outside an edge (a lookup it started):
** reports its progress r (1 done, 0 waiting, -1 failed) as start/on_io
** would have. */
void conn_step_resume(conn *t, int r);

/* For steps: records a failure and returns -1. */
int conn_step_fail(conn *t, int code, int final, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Closes the socket (after every step's goodbye, top first; none in a
** forked child: chc_loop_inherited), cancels resolving and the deadline.
** No callback is called afterwards. */
void conn_close(conn *t);
/* Frees (closing first if needed). Never from inside one of t's own
** callbacks. */
void conn_free(conn *t);

/* conn_tls.c: the TLS step (client, ALPN and sessions from cf) to host,
** offering the session cached under cache_key. NULL on out of memory. */
conn_step *conn_tls_step_new(chc_tls_conf *cf, const char *host,
                             const char *cache_key);
/* The same, offering ALPN "http/1.1" only (chc_tls_new_h1). */
conn_step *conn_tls_step_h1_new(chc_tls_conf *cf, const char *host,
                                const char *cache_key);

/* conn_proxy.c: the proxy handshake step to host:port through px (an
** HTTP CONNECT tunnel, or SOCKS5 as px->kind says). px is only read
** during setup (the pool outlives that). NULL on out of memory. */
struct chc_proxy;
conn_step *conn_proxy_step_new(const struct chc_proxy *px, const char *host,
                               int port);

#endif
