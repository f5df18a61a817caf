/*
** conn.c: the transport of one connection (see conn.h): the socket step
** (resolve, non-blocking connect over every address in turn), the chain
** of setup steps, the connect deadline, and the edges.
**
** The socket is registered once, edge-triggered, for both directions; the
** owner keeps readable/writable flags and reads or writes until EAGAIN,
** so nothing calls epoll_ctl per request.
*/
#include "conn.h"
#include "slab.h"
#include "trace.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void chain_run(conn *t, int r);

/* A setup phase began or ended (setup only: never on the byte path). */
static void trace(conn *t, int phase, int what, const conn_step *st) {
  if (what == CHC_TR_STARTED) t->trphase = phase;
  if (t->tracer) t->tracer(t, t->ud, phase, what, st);
}

/* Every step but the socket is TLS (it knows ALPN) or a proxy's. */
static int step_phase(const conn *t, int i) {
  if (i == 0) return CHC_TR_CONNECT;
  return t->steps[i]->type->alpn ? CHC_TR_TLS : CHC_TR_PROXY;
}

/* {===================================================================
** The socket step: the bottom of every chain
** ==================================================================== */

static ssize_t sock_recv(conn_step *st, char *p, size_t n) {
  return read(st->t->io.fd, p, n);
}

/* writev that never raises SIGPIPE: a peer that has gone away gives EPIPE
** (a library must not install a process-wide signal disposition) */
static ssize_t sock_send(conn_step *st, const struct iovec *iov, int k) {
  struct msghdr m;
  memset(&m, 0, sizeof m);
  m.msg_iov = (struct iovec *)iov;
  m.msg_iovlen = (size_t)k;
  return sendmsg(st->t->io.fd, &m, MSG_NOSIGNAL);
}

static ssize_t sock_peek(conn_step *st, char *p, size_t n) {
  return recv(st->t->io.fd, p, n, MSG_PEEK | MSG_DONTWAIT);
}

static void on_conn_io(chc_loop *lp, chc_io *io, unsigned ev);

static int watch(conn *t, int fd) {
  chc_io_init(&t->io, fd, on_conn_io);
  if (chc_io_set(t->lp, &t->io,
                 CHC_EV_READ | CHC_EV_WRITE | CHC_EV_EDGE | CHC_EV_RDHUP) < 0)
    return conn_step_fail(t, CHC_ECONNECT, 1, "cannot watch the socket for %s",
                          t->peer);
  return 0;
}

/* Connects to the current address, else the next ones: 1 connected, 0 in
** progress, -1 failed. */
static int try_connect(conn *t) {
  for (; t->ai_cur; t->ai_cur = t->ai_cur->ai_next) {
    struct addrinfo *a = t->ai_cur;
    int one = 1;
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    a->ai_protocol);
    if (fd < 0) continue;
    if (a->ai_family == AF_INET || a->ai_family == AF_INET6)
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
      return watch(t, fd) < 0 ? -1 : 1;
    if (errno == EINPROGRESS) return watch(t, fd) < 0 ? -1 : 0;
    close(fd);
    if (!a->ai_next)
      return conn_step_fail(t, CHC_ECONNECT, 0, "cannot connect to %s: %s",
                            t->peer, strerror(errno));
  }
  return conn_step_fail(t, CHC_ECONNECT, 0, "no usable address to connect to");
}

static void on_resolved(void *ud, int status, struct addrinfo *res,
                        const char *msg) {
  conn *t = ud;
  t->res = NULL;
  if (status != 0) {
    chain_run(t, conn_step_fail(t, CHC_ECONNECT, 0, "%s", msg));
    return;
  }
  t->ai = t->ai_cur = res;
  trace(t, CHC_TR_RESOLVE, CHC_TR_COMPLETE, &t->sock);
  trace(t, CHC_TR_CONNECT, CHC_TR_STARTED, &t->sock);
  chain_run(t, try_connect(t));
}

static int connect_uds(conn *t) {
  struct sockaddr_un sa;
  int fd;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (strlen(t->uds) >= sizeof sa.sun_path)
    return conn_step_fail(t, CHC_ECONNECT, 1, "unix socket path too long: %s",
                          t->uds);
  strcpy(sa.sun_path, t->uds);
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return conn_step_fail(t, CHC_ECONNECT, 1, "socket: %s", strerror(errno));
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 ||
      errno == EINPROGRESS || errno == EAGAIN) {
    int now = errno != EINPROGRESS && errno != EAGAIN;
    if (watch(t, fd) < 0) return -1;
    return now;
  }
  close(fd);
  return conn_step_fail(t, CHC_ECONNECT, 0,
                        "cannot connect to unix socket %s: %s", t->uds,
                        strerror(errno));
}

static int sock_start(conn_step *st) {
  conn *t = st->t;
  if (t->uds) {
    trace(t, CHC_TR_CONNECT, CHC_TR_STARTED, st);
    return connect_uds(t);
  }
  trace(t, CHC_TR_RESOLVE, CHC_TR_STARTED, st);
  /* An IP literal needs no lookup: the connect starts now, as for a unix
  ** socket. (The resolver's own delivery is deferred, and queued from
  ** outside a loop step it costs an eventfd write and read per
  ** connection.) */
  if (chc_resolve_literal(t->host, t->port, &t->ai) == 1) {
    t->ai_cur = t->ai;
    trace(t, CHC_TR_RESOLVE, CHC_TR_COMPLETE, st);
    trace(t, CHC_TR_CONNECT, CHC_TR_STARTED, st);
    return try_connect(t);
  }
  t->res = chc_resolve_start(t->lp, t->host, t->port, on_resolved, t);
  if (t->res == NULL)
    return conn_step_fail(t, CHC_ECONNECT, 1, "out of memory resolving");
  return 0;
}

/* An edge while connecting: connected, or the next address. */
static int sock_on_io(conn_step *st, unsigned ev) {
  conn *t = st->t;
  int err = 0;
  socklen_t len = sizeof err;
  if (t->io.fd < 0 || !(ev & (CHC_EV_WRITE | CHC_EV_ERROR))) return 0;
  if (getsockopt(t->io.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
  if (err == 0) {
    if (ev & CHC_EV_READ) t->readable = 1;
    return 1;
  }
  if (t->ai_cur && t->ai_cur->ai_next) { /* next address */
    chc_io_stop(t->lp, &t->io);
    close(t->io.fd);
    t->io.fd = -1;
    t->ai_cur = t->ai_cur->ai_next;
    return try_connect(t);
  }
  return conn_step_fail(t, CHC_ECONNECT, 0, "cannot connect to %s: %s",
                        t->peer, strerror(err));
}

static const conn_step_type sock_step = {
    "connecting to", sock_start, sock_on_io, sock_recv, sock_send, sock_peek,
    NULL, NULL, NULL, NULL, NULL};

/* }=================================================================== */

/* {===================================================================
** The chain
** ==================================================================== */

int conn_step_fail(conn *t, int code, int final, const char *fmt, ...) {
  va_list ap;
  t->ecode = code;
  t->efinal = final;
  va_start(ap, fmt);
  vsnprintf(t->emsg, sizeof t->emsg, fmt, ap);
  va_end(ap);
  return -1;
}

/* The step being set up answered r: go on up the chain, wait, or fail. */
static void chain_run(conn *t, int r) {
  while (t->state == CONN_SETUP) {
    if (r < 0) {
      trace(t, t->trphase, CHC_TR_FAILED, t->steps[t->cur]);
      if (t->own) t->own->on_fail(t, t->ud, t->ecode, t->emsg, t->efinal);
      return;
    }
    if (r == 0) return;
    trace(t, step_phase(t, t->cur), CHC_TR_COMPLETE, t->steps[t->cur]);
    if (t->ai) { /* the socket is connected: the addresses are done */
      chc_resolve_free_result(t->ai);
      t->ai = t->ai_cur = NULL;
    }
    if (t->cur == 0) { /* and the names: an idle connection keeps nothing */
      free(t->host); /* in the heap but its slab object */
      free(t->uds);
      t->host = t->uds = NULL;
    }
    if (++t->cur == t->nsteps) {
      t->state = CONN_READY;
      chc_timer_stop(t->lp, &t->ctimer);
      if (t->own) t->own->on_ready(t, t->ud);
      return;
    }
    trace(t, step_phase(t, t->cur), CHC_TR_STARTED, t->steps[t->cur]);
    r = t->steps[t->cur]->type->start(t->steps[t->cur]);
  }
}

void conn_step_resume(conn *t, int r) { chain_run(t, r); }

static void on_connect_timeout(chc_loop *lp, chc_timer *tm) {
  conn *t = chc_container_of(tm, conn, ctimer);
  char b[32];
  CHC_UNUSED(lp);
  chain_run(t, conn_step_fail(t, CHC_ECONNECT_TIMEOUT, 0,
                              "%s %s timed out after %s%s",
                              t->steps[t->cur]->type->doing, t->peer,
                              chc_secs(t->connect_ms, b, sizeof b),
                              t->cur > 0 ? " (connect timeout)" : ""));
}

static void on_conn_io(chc_loop *lp, chc_io *io, unsigned ev) {
  conn *t = chc_container_of(io, conn, io);
  CHC_UNUSED(lp);
  if (ev & CHC_EV_RDHUP) t->peer_fin = 1; /* for conn_recv */
  if (t->state == CONN_SETUP) {
    conn_step *st = t->steps[t->cur];
    chain_run(t, st->type->on_io(st, ev));
    return;
  }
  if (ev & CHC_EV_ERROR) ev |= CHC_EV_READ | CHC_EV_WRITE;
  if ((ev & CHC_EV_WRITE) && t->read_wants_write) { /* a TLS read waited */
    t->read_wants_write = 0;
    ev |= CHC_EV_READ;
  }
  if ((ev & CHC_EV_READ) && t->write_wants_read) { /* a TLS write waited */
    t->write_wants_read = 0;
    ev |= CHC_EV_WRITE;
  }
  if (t->own) {
    t->own->on_io(t, t->ud, ev);
    return;
  }
  if (ev & CHC_EV_READ) t->readable = 1; /* kept for the next owner */
  if (ev & CHC_EV_WRITE) t->writable = 1;
}

conn *conn_new(chc_loop *lp, const char *peer, const conn_owner *own,
               void *ud) {
  conn *t = chc_mem_alloc(lp, sizeof *t); /* lives as long as it: a slab */
  if (t == NULL) return NULL;
  t->lp = lp;
  t->io.fd = -1;
  t->own = own;
  t->ud = ud;
  t->sock.type = &sock_step;
  t->sock.t = t;
  t->steps[0] = t->top = &t->sock;
  t->nsteps = 1;
  chc_timer_init(&t->ctimer, on_connect_timeout);
  snprintf(t->peer, sizeof t->peer, "%s", peer);
  return t;
}

int conn_push(conn *t, conn_step *st) {
  if (t->nsteps == CONN_MAX_STEPS) return -1;
  st->below = t->top;
  st->t = t;
  t->steps[t->nsteps++] = t->top = st;
  return 0;
}

void conn_start(conn *t, const char *host, int port, const char *uds,
                int64_t connect_ms) {
  t->port = port;
  t->host = strdup(host);
  t->uds = uds ? strdup(uds) : NULL;
  if (t->host == NULL || (uds && t->uds == NULL)) {
    chain_run(t, conn_step_fail(t, CHC_ECONNECT, 1, "out of memory"));
    return;
  }
  t->connect_ms = connect_ms;
  if (connect_ms >= 0) chc_timer_start(t->lp, &t->ctimer, (uint64_t)connect_ms);
  chain_run(t, t->sock.type->start(&t->sock));
}

void conn_set_tracer(conn *t, conn_tracer fn) { t->tracer = fn; }

void conn_set_owner(conn *t, const conn_owner *own, void *ud) {
  t->own = own;
  t->ud = ud;
}

/* }=================================================================== */

/* {===================================================================
** Bytes and questions
** ==================================================================== */

/*
** A plain read that did not fill the buffer emptied the socket: whatever
** comes next (bytes, the FIN) makes a new edge, so `readable` is cleared
** here and the owner does not spend a read() per response meeting EAGAIN
** (what nginx does too). Not when the FIN was already queued at the edge
** (EPOLLRDHUP): then no edge will come, and the next read is the 0 that
** tells a keep-alive connection is gone. Over TLS a short read says
** nothing about the socket; the steps read until EAGAIN.
*/
ssize_t conn_recv(conn *t, char *p, size_t n) {
  if (t->top == &t->sock) {
    ssize_t r = read(t->io.fd, p, n);
    if (r > 0 && (size_t)r < n && !t->peer_fin) t->readable = 0;
    return r;
  }
  return t->top->type->recv(t->top, p, n);
}

ssize_t conn_send(conn *t, const struct iovec *iov, int k) {
  if (t->top == &t->sock) return sock_send(&t->sock, iov, k);
  return t->top->type->send(t->top, iov, k);
}

ssize_t conn_recv_raw(conn *t, char *p, size_t n) {
  return read(t->io.fd, p, n);
}

int conn_is_plain(const conn *t) { return t->top == &t->sock; }

const char *conn_strerror(const conn *t, int err) {
  const conn_step *st;
  if (err == EPROTO)
    for (st = t->top; st; st = st->below)
      if (st->type->errmsg) return st->type->errmsg(st);
  return strerror(err);
}

static long query(const conn *t, int what, long dflt) {
  const conn_step *st;
  for (st = t->top; st; st = st->below) {
    long r = st->type->query ? st->type->query(st, what) : -1;
    if (r >= 0) return r;
  }
  return dflt;
}

size_t conn_pending(const conn *t) {
  return t->top == &t->sock ? 0 : (size_t)query(t, CONN_Q_PENDING, 0);
}

int conn_eof_clean(const conn *t) {
  return (int)query(t, CONN_Q_EOF_CLEAN, 1);
}

const char *conn_alpn(const conn *t) {
  const conn_step *st;
  for (st = t->top; st; st = st->below)
    if (st->type->alpn) return st->type->alpn(st);
  return NULL;
}

/* }=================================================================== */

void conn_close(conn *t) {
  int i;
  if (t->state == CONN_CLOSED) return;
  t->state = CONN_CLOSED;
  if (t->res) {
    chc_resolve_cancel(t->res);
    t->res = NULL;
  }
  if (t->ai) {
    chc_resolve_free_result(t->ai);
    t->ai = t->ai_cur = NULL;
  }
  if (t->io.fd >= 0) {
    chc_io_stop(t->lp, &t->io);
    /* goodbyes, top first; a forked child's close must not end the
    ** parent's TLS session */
    for (i = t->nsteps - 1; i > 0 && !chc_loop_inherited(t->lp); i--)
      if (t->steps[i]->type->close) t->steps[i]->type->close(t->steps[i]);
    close(t->io.fd);
    t->io.fd = -1;
  }
  chc_timer_stop(t->lp, &t->ctimer);
}

void conn_free(conn *t) {
  int i;
  if (t == NULL) return;
  conn_close(t);
  for (i = t->nsteps - 1; i > 0; i--)
    if (t->steps[i]->type->free) t->steps[i]->type->free(t->steps[i]);
  free(t->host);
  free(t->uds);
  chc_mem_free(t);
}
