/*
** pool.c: connections, the pool that shares them, and request streams.
**
** Who owns what:
**  - the pool owns its connections and origins;
**  - the caller owns a stream until chc_stream_release();
**  - a connection borrows the stream it serves (c->s, s->c) for one
**    exchange; whichever side goes first detaches the other.
** Connections are never freed inside their own callbacks: conn_close()
** unlinks them and puts them on the pool's closing list, which a deferred
** callback frees at the end of the loop iteration (G6).
**
** The HTTP/1.1 engine (h1.c) is sans-I/O: this file reads into c->rbuf,
** feeds the engine, and writes what the engine serialised. Sockets are
** edge-triggered, so the interest set never changes per request: we keep
** readable/writable flags and read until EAGAIN, or until the reader holds
** a body region (backpressure: then we simply stop reading).
**
** https: after TCP connect the TLS handshake runs on the same edges
** (C_HANDSHAKE, under the connect timeout), then the connection proceeds
** as a plain one; conn_recv/conn_send are the only places that move bytes
** through the socket, plain or through c->tls (tls.c).
*/
#include "pool.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "h1.h"
#include "h2.h"
#include "resolver.h"
#include "tls.h"

#define RBUF_SIZE (64 * 1024)
#define WBUF_HIGH (256 * 1024) /* a producer waits above this */
#define WBUF_LOW (64 * 1024)   /* and is woken below this */
#define DRAIN_MAX (64 * 1024)  /* body bytes worth reading away to reuse */
#define RBUF_CACHE 8           /* idle conns' read buffers kept for reuse */
#define DRAIN_WAIT_MS 1000     /* and how long to wait for them */

typedef struct origin {
  struct origin *hnext;
  chc_list idle;    /* idle conns, most recently used first */
  chc_list waiters; /* streams waiting for a connection to this origin */
  int https, port;
  int refs;       /* connections and streams that point to it: freed at 0
                  ** (TLS sessions are kept by the TLS configuration) */
  int ndraining;  /* conns of this origin reading away a released body */
  struct conn *h2conn; /* the HTTP/2 connection new streams go to */
  int h2_pending; /* a connection that may turn out HTTP/2 is being made:
                  ** requests wait for it instead of opening more */
  char *host;     /* bare host */
  char *hosthdr;  /* Host header value */
  uint32_t hash;
  char key[];
} origin;

enum { C_RESOLVING, C_CONNECTING, C_HANDSHAKE, C_ACTIVE, C_IDLE, C_CLOSED };
enum { P_H1, P_H2 };
enum { T_NONE, T_CONNECT, T_READ, T_WRITE, T_IDLE };

typedef struct conn {
  chc_pool *pool;
  origin *org;
  chc_io io;
  chc_timer timer;
  int tkind;
  int state;
  chc_list onode; /* origin idle list */
  chc_list gnode; /* pool idle LRU, or closing list */
  chc_list anode; /* pool list of all open conns */
  chc_resolve *res;
  struct addrinfo *ai, *ai_cur;
  chc_buf rbuf, wbuf;
  const char *wbody; /* borrowed request body bytes, after wbuf */
  size_t wbody_len;
  chc_h1_resp *h1; /* HTTP/1.1 parser: only while serving an exchange */
  struct chc_stream *s;
  unsigned readable : 1, writable : 1, reused : 1, got_bytes : 1,
      write_failed : 1, draining : 1,
      resp_pending : 1; /* response complete, request body still going */
  uint64_t idle_since; /* loop time it went idle */
  /* HTTP/2: the engine, the streams it carries, and a deferred flush */
  int proto;            /* P_H1 or P_H2 */
  unsigned h2_probe : 1, /* the origin waits for this one (h2_pending) */
      h2_slots : 1,      /* the engine said streams may have freed up */
      h2_goaway : 1;
  chc_h2 *h2;
  chc_list streams;     /* chc_stream.cnode of every stream on it */
  int nactive;          /* of those, not yet ended or failed */
  chc_list retryq;      /* streams to move to another connection */
  chc_defer pump;       /* flush the engine's frames to the socket */
  int write_errno;
  char peer[80]; /* "host:port" for messages */
  chc_tls *tls;  /* https: the TLS session over io.fd */
  /* a TLS read waits for the socket to be writable, or a write for it to
  ** be readable: the next edge of that direction goes to the other side */
  unsigned tls_rw : 1, tls_wr : 1;
} conn;

enum { S_WAIT, S_ACTIVE, S_DONE };

struct chc_stream {
  chc_pool *pool;
  conn *c;
  origin *org;
  chc_stream_notify notify;
  void *ud;
  chc_list gwait, owait; /* pool and origin waiter lists */
  chc_buf head;          /* serialised request head, kept for a retry */
  int body_kind;
  const char *body;
  size_t body_len;
  chc_timeouts to;
  chc_timer ptimer, ttimer; /* pool wait, total deadline */
  int state;
  int no_body, idempotent;
  int upgrade; /* the request has an Upgrade field: a 101 may come */
  int retries_left, attempts;
  /* request progress */
  int chunked;        /* producer body sent with chunked framing */
  long long declared; /* producer body length from the caller's
                      ** Content-Length, -1 if none */
  unsigned long long sent; /* producer body bytes accepted so far */
  int body_ended;  /* producer called write_end */
  int req_done;    /* everything written */
  /* response */
  int has_head, resp_done;
  int status, major, minor;
  chc_buf reason;
  chc_hlist fields, trailers;
  const char *bp; /* body region ready for the reader */
  size_t bn;
  chc_buf tail; /* body bytes kept when the conn moved on */
  chc_error err;
  int released;
  /* HTTP/2: the engine's stream, and what is needed to submit it (the
  ** h1 head above is serialised for a connection that turns out h1) */
  chc_h2_stream *h2s;
  chc_list cnode;    /* conn.streams, or conn.retryq */
  int h2_done;       /* ended or failed: no longer counted in nactive */
  int h2_capable;    /* the origin may be served over HTTP/2 */
  chc_timer rtimer;  /* HTTP/2: read timeout while the reader waits, or
                     ** write timeout while the producer waits */
  int rt_write;      /* rtimer is the write timeout */
  char *rq_method, *rq_target;
  chc_hlist rq_headers;
  int rq_body_kind;
  const char *rq_body;
  size_t rq_body_len;
  int draining;   /* released mid-body: the conn reads the rest away */
  size_t drained; /* bytes discarded so far */
};

struct chc_pool {
  chc_loop *lp;
  chc_pool_opts o;
  char *uds;
  origin **tab;
  size_t tabsize, norigins;
  int nconns, nidle, nwaiting;
  chc_list idle;    /* global LRU of idle conns (most recent first) */
  chc_list waiters; /* FIFO of streams waiting for a slot */
  chc_list conns;   /* every open conn */
  chc_list closing; /* closed conns awaiting free */
  chc_tls_conf *tls; /* https: certificates, ALPN, sessions (owned) */
  chc_list draining; /* conns reading away a released body (FIFO) */
  chc_defer reap;
  int refs; /* 1 for the owner + 1 per unreleased stream */
  chc_stream *free_streams; /* released streams kept for reuse (their
                            ** buffers keep their memory) */
  int nfree;
  origin *last; /* the origin of the previous request */
  char *rbufs[RBUF_CACHE]; /* read buffers of connections gone idle */
  chc_h1_resp *h1s[RBUF_CACHE]; /* and their HTTP/1.1 parsers */
  int nh1s;
  int nrbufs;
  int closed;
};

static void conn_close(conn *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void stream_fail(chc_stream *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void conn_read(conn *c);
static void conn_flush(conn *c);
static void stream_start(chc_stream *s);
static void pool_dispatch(chc_pool *p);
static void stream_free(chc_stream *s);
static void h2_start(conn *c);
static void h2_submit(conn *c, chc_stream *s);
static void h2_on_io(conn *c, unsigned ev);
static void h2_teardown(conn *c, int code, const char *msg);
static void h2_dirty(conn *c);
static void h2_settle(conn *c);
static void conn_make_idle(conn *c);
static void h2_stream_finished(chc_stream *s);
static void on_h2_pump(chc_loop *lp, chc_defer *d);

/* {===================================================================
** Small helpers
** ==================================================================== */

static uint32_t hash_str(const char *k) {
  uint32_t h = 2166136261u;
  for (; *k; k++) h = (h ^ (uint8_t)*k) * 16777619u;
  return h;
}

static void notify(chc_stream *s) {
  if (s->notify && !s->released) s->notify(s, s->ud);
}

static void timer_arm(conn *c, int kind, int64_t ms) {
  if (ms < 0) {
    chc_timer_stop(c->pool->lp, &c->timer);
    c->tkind = T_NONE;
    return;
  }
  c->tkind = kind;
  chc_timer_start(c->pool->lp, &c->timer, (uint64_t)ms);
}

static size_t wpending(const conn *c) { return c->wbuf.len + c->wbody_len; }

static const char *secs(int64_t ms, char *buf, size_t n) {
  snprintf(buf, n, "%g s", (double)ms / 1000.0);
  return buf;
}

/* }=================================================================== */

/* A read buffer from the pool's cache (b stays empty if there is none). */
static void rbuf_get(chc_pool *p, chc_buf *b) {
  if (p->nrbufs > 0 && b->cap == 0) {
    b->data = p->rbufs[--p->nrbufs];
    b->cap = RBUF_SIZE;
    b->off = b->len = 0;
  }
}

/* Gives a connection's read buffer back to the cache (or frees it). */
static void rbuf_put(chc_pool *p, chc_buf *b) {
  if (b->cap == RBUF_SIZE && p->nrbufs < RBUF_CACHE && !p->closed) {
    p->rbufs[p->nrbufs++] = b->data;
    b->data = NULL;
    b->cap = b->off = b->len = 0;
    return;
  }
  chc_buf_free(b);
}

/* An HTTP/1.1 parser for c (from the cache, or new). 0 or -1. */
static int h1_get(chc_pool *p, struct conn *c) {
  if (c->h1) return 0;
  c->h1 = p->nh1s > 0 ? p->h1s[--p->nh1s] : calloc(1, sizeof *c->h1);
  return c->h1 ? 0 : -1;
}

/* Gives c's parser back (its buffers keep their memory for the next). */
static void h1_put(chc_pool *p, struct conn *c) {
  if (c->h1 == NULL) return;
  if (p->nh1s < RBUF_CACHE && !p->closed) {
    p->h1s[p->nh1s++] = c->h1;
  } else {
    chc_h1_resp_free(c->h1);
    free(c->h1);
  }
  c->h1 = NULL;
}

/* {===================================================================
** Origins
** ==================================================================== */

static origin *origin_get(chc_pool *p, int https, const char *host, int port) {
  char key[512];
  origin *last = p->last;
  /* most requests go where the previous one went: the key depends only
  ** on these (the TLS settings are the pool's) */
  if (last && last->https == https && last->port == port &&
      strcmp(last->host, host) == 0)
    return last;
  uint32_t h;
  size_t i, klen;
  origin *o;
  int ipv6 = strchr(host, ':') != NULL;
  int defport = https ? 443 : 80;
  /* a TLS connection is only ever reused for the same name sent and
  ** checked, under the same TLS settings */
  if (https)
    snprintf(key, sizeof key, "s|%s|%d|%s|%u", host, port,
             chc_tls_conf_sni(p->tls, host), chc_tls_conf_id(p->tls));
  else
    snprintf(key, sizeof key, "h|%s|%d", host, port);
  h = hash_str(key);
  if (p->tab) {
    for (o = p->tab[h & (p->tabsize - 1)]; o; o = o->hnext)
      if (o->hash == h && strcmp(o->key, key) == 0) return p->last = o;
  }
  if (p->norigins >= p->tabsize) { /* grow the table */
    size_t ns = p->tabsize ? p->tabsize * 2 : 16;
    origin **nt = calloc(ns, sizeof *nt);
    if (nt == NULL) return NULL;
    for (i = 0; i < p->tabsize; i++) {
      origin *next;
      for (o = p->tab[i]; o; o = next) {
        next = o->hnext;
        o->hnext = nt[o->hash & (ns - 1)];
        nt[o->hash & (ns - 1)] = o;
      }
    }
    free(p->tab);
    p->tab = nt;
    p->tabsize = ns;
  }
  klen = strlen(key);
  o = calloc(1, sizeof *o + klen + 1);
  if (o == NULL) return NULL;
  memcpy(o->key, key, klen + 1);
  o->hash = h;
  o->https = https;
  o->port = port;
  o->host = strdup(host);
  {
    char hb[300];
    if (port == defport)
      snprintf(hb, sizeof hb, ipv6 ? "[%s]" : "%s", host);
    else
      snprintf(hb, sizeof hb, ipv6 ? "[%s]:%d" : "%s:%d", host, port);
    o->hosthdr = strdup(hb);
  }
  if (o->host == NULL || o->hosthdr == NULL) {
    free(o->host);
    free(o->hosthdr);
    free(o);
    return NULL;
  }
  chc_list_init(&o->idle);
  chc_list_init(&o->waiters);
  o->hnext = p->tab[h & (p->tabsize - 1)];
  p->tab[h & (p->tabsize - 1)] = o;
  p->norigins++;
  return p->last = o;
}

/* An origin nothing points to any more goes: a pool that has talked to
** many hosts over time holds only those it is using. */
static void origin_unref(chc_pool *p, origin *o) {
  origin **pp;
  if (--o->refs > 0) return;
  for (pp = &p->tab[o->hash & (p->tabsize - 1)]; *pp != o; pp = &(*pp)->hnext)
    ;
  *pp = o->hnext;
  if (p->last == o) p->last = NULL;
  p->norigins--;
  free(o->host);
  free(o->hosthdr);
  free(o);
}

/* }=================================================================== */

/* {===================================================================
** Streams
** ==================================================================== */

static void stream_fail(chc_stream *s, int code, const char *fmt, ...) {
  va_list ap;
  if (s->err.code != CHC_OK || s->resp_done) return;
  s->err.code = code;
  va_start(ap, fmt);
  vsnprintf(s->err.msg, sizeof s->err.msg, fmt, ap);
  va_end(ap);
  chc_timer_stop(s->pool->lp, &s->ptimer);
  chc_timer_stop(s->pool->lp, &s->ttimer);
  notify(s);
}

/* The stream stops using its connection. A body region that lives in the
** connection's read buffer is copied out first: the buffer is about to be
** reused or freed. */
static void stream_detach(chc_stream *s) {
  conn *c = s->c;
  if (c == NULL) return;
  if (s->bn > 0 && s->bp != s->tail.data) {
    chc_buf_reset(&s->tail);
    if (chc_buf_append(&s->tail, s->bp, s->bn) == 0) {
      s->bp = s->tail.data;
    } else {
      s->bn = 0;
      stream_fail(s, CHC_EREAD, "out of memory keeping the response body");
    }
  }
  c->s = NULL;
  c->wbody = NULL;
  c->wbody_len = 0;
  s->c = NULL;
  if (s->state == S_ACTIVE) s->state = S_DONE;
}

static void stream_unwait(chc_stream *s) {
  if (chc_list_linked(&s->gwait)) chc_list_remove(&s->gwait);
  if (chc_list_linked(&s->owait)) {
    chc_list_remove(&s->owait);
    s->pool->nwaiting--;
  }
  chc_timer_stop(s->pool->lp, &s->ptimer);
}

static void on_pool_timeout(chc_loop *lp, chc_timer *t) {
  chc_stream *s = chc_container_of(t, chc_stream, ptimer);
  char b[32];
  conn *h2c = s->org->h2conn;
  /* waiting on the origin only: for a stream slot on its HTTP/2
  ** connection (or for that connection being made), not for a pool slot */
  int h2wait = !chc_list_linked(&s->gwait);
  CHC_UNUSED(lp);
  stream_unwait(s);
  s->state = S_DONE;
  secs(s->to.pool, b, sizeof b);
  if (h2wait && h2c && h2c->h2)
    stream_fail(s, CHC_EPOOL_TIMEOUT,
                "no HTTP/2 stream to %s became free within %s (the server "
                "allows %u concurrent streams)",
                s->org->hosthdr, b, (unsigned)chc_h2_max_streams(h2c->h2));
  else if (h2wait)
    stream_fail(s, CHC_EPOOL_TIMEOUT,
                "the connection to %s that may speak HTTP/2 was not ready "
                "within %s", s->org->hosthdr, b);
  else
    stream_fail(s, CHC_EPOOL_TIMEOUT,
                "no connection to %s became free within %s (max_connections "
                "= %d)",
                s->org->hosthdr, b, s->pool->o.max_connections);
}

static void on_total_timeout(chc_loop *lp, chc_timer *t) {
  chc_stream *s = chc_container_of(t, chc_stream, ttimer);
  conn *c = s->c;
  char b[32];
  int code;
  const char *what;
  CHC_UNUSED(lp);
  secs(s->to.total, b, sizeof b);
  if (s->h2s) { /* HTTP/2: only this stream goes */
    stream_fail(s, s->req_done ? CHC_EREAD_TIMEOUT : CHC_EWRITE_TIMEOUT,
                "total timeout of %s exceeded while %s", b,
                !s->req_done ? "sending the request"
                : s->has_head ? "reading the response body"
                              : "waiting for the response");
    chc_h2_stream_cancel(s->h2s);
    h2_stream_finished(s);
    if (c) {
      h2_dirty(c);
      h2_settle(c);
    }
    return;
  }
  if (s->state == S_WAIT) {
    stream_unwait(s);
    s->state = S_DONE;
    code = CHC_EPOOL_TIMEOUT;
    what = "waiting for a connection";
  } else if (c && (c->state == C_RESOLVING || c->state == C_CONNECTING ||
                    c->state == C_HANDSHAKE)) {
    code = CHC_ECONNECT_TIMEOUT;
    what = "connecting";
  } else if (!s->req_done) {
    code = CHC_EWRITE_TIMEOUT;
    what = "sending the request";
  } else {
    code = CHC_EREAD_TIMEOUT;
    what = s->has_head ? "reading the response body" : "waiting for the response";
  }
  stream_fail(s, code, "total timeout of %s exceeded while %s", b, what);
  if (c) conn_close(c, code, "total timeout");
}

/* }=================================================================== */

/* {===================================================================
** Connections
** ==================================================================== */

static void pool_reap(chc_loop *lp, chc_defer *d) {
  chc_pool *p = chc_container_of(d, chc_pool, reap);
  CHC_UNUSED(lp);
  while (!chc_list_empty(&p->closing)) {
    conn *c = chc_container_of(p->closing.next, conn, gnode);
    chc_list_remove(&c->gnode);
    rbuf_put(p, &c->rbuf);
    chc_buf_free(&c->wbuf);
    h1_put(p, c);
    chc_tls_free(c->tls);
    if (c->h2) chc_h2_free(c->h2);
    origin_unref(p, c->org);
    free(c);
  }
}

static void conn_unidle(conn *c) {
  if (c->state == C_IDLE) {
    chc_list_remove(&c->onode);
    chc_list_remove(&c->gnode);
    c->pool->nidle--;
  } else if (c->draining) {
    chc_list_remove(&c->gnode);
    c->draining = 0;
    c->org->ndraining--;
  }
}

/*
** Closes the connection: the fd, the timer, the resolver; fails the stream
** it was serving (if any, with the given error), frees the slot and lets
** a waiter have it. The memory is freed later (pool_reap).
*/
static void conn_close(conn *c, int code, const char *fmt, ...) {
  chc_pool *p = c->pool;
  chc_stream *s = c->s;
  char msg[CHC_ERRMSG_MAX];
  va_list ap;
  if (c->state == C_CLOSED) return;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (c->h2_probe) { /* its origin's waiters must not wait for it now */
    c->h2_probe = 0;
    c->org->h2_pending = 0;
  }
  if (c->proto == P_H2) h2_teardown(c, code, msg);
  if (s) {
    if (code != CHC_OK && !s->resp_done && s->err.code == CHC_OK) {
      s->err.code = code;
      memcpy(s->err.msg, msg, sizeof s->err.msg);
      chc_timer_stop(p->lp, &s->ttimer);
    }
    stream_detach(s);
    notify(s);
    if (s->released) stream_free(s); /* it was draining */
  }
  conn_unidle(c);
  chc_list_remove(&c->anode);
  if (c->res) {
    chc_resolve_cancel(c->res);
    c->res = NULL;
  }
  if (c->ai) {
    chc_resolve_free_result(c->ai);
    c->ai = c->ai_cur = NULL;
  }
  if (c->io.fd >= 0) {
    chc_io_stop(p->lp, &c->io);
    /* a forked child's close must not end the parent's TLS session */
    if (c->tls && !chc_loop_inherited(p->lp)) chc_tls_close_notify(c->tls);
    close(c->io.fd);
    c->io.fd = -1;
  }
  chc_timer_stop(p->lp, &c->timer);
  c->state = C_CLOSED;
  p->nconns--;
  chc_list_insert_tail(&p->closing, &c->gnode);
  chc_defer_queue(p->lp, &p->reap);
  pool_dispatch(p);
}

/* c serves s now. Returns -1 (out of memory) with s attached: the caller
** closes c, which fails s. */
static int conn_attach(conn *c, chc_stream *s) {
  c->s = s;
  s->c = c;
  s->state = S_ACTIVE;
  s->attempts++;
  c->got_bytes = 0;
  c->write_failed = 0;
  c->resp_pending = 0;
  if (h1_get(c->pool, c) < 0) return -1;
  chc_h1_resp_init(c->h1, c->pool->o.max_header_size, s->no_body);
  chc_buf_reset(&c->wbuf);
  chc_buf_append(&c->wbuf, s->head.data, s->head.len);
  if (s->body_kind == CHC_BODY_BYTES) {
    c->wbody = s->body;
    c->wbody_len = s->body_len;
  }
  return 0;
}

static int replayable(const chc_stream *s) {
  return s->idempotent && s->body_kind != CHC_BODY_STREAM;
}

/*
** A reused keep-alive connection died before any byte of the response:
** the server most likely closed it while it sat idle. For a request that
** can be replayed, try again on another connection instead of failing.
** Returns 1 when the stream was moved on.
*/
static int conn_retry_stale(conn *c) {
  chc_stream *s = c->s;
  if (s == NULL || !c->reused || c->got_bytes || !replayable(s) ||
      s->attempts > c->pool->o.max_keepalive + 1)
    return 0;
  stream_detach(s);
  s->state = S_WAIT;
  s->req_done = 0;
  conn_close(c, CHC_OK, "stale");
  stream_start(s);
  return 1;
}

/* EPROTO from conn_recv/conn_send is a TLS failure: its own words. */
static const char *conn_strerror(const conn *c, int err) {
  if (c->tls && err == EPROTO) return chc_tls_errmsg(c->tls);
  return strerror(err);
}

static void conn_io_error(conn *c, int code, const char *what, int err) {
  if (conn_retry_stale(c)) return;
  conn_close(c, code, "%s %s: %s", what, c->peer, conn_strerror(c, err));
}

/*
** Connecting failed. With `retries` left, the stream tries again on a new
** connection (another slot holder may be ahead of it in the queue);
** otherwise it fails with the message.
*/
static void conn_connect_failed(conn *c, int code, const char *msg) {
  chc_stream *s = c->s;
  /* a certificate that failed verification will fail again */
  if (s && s->retries_left > 0 && !s->released && code != CHC_ETLS) {
    s->retries_left--;
    stream_detach(s);
    s->state = S_WAIT;
    conn_close(c, CHC_OK, "retry");
    stream_start(s);
    return;
  }
  if (s && s->attempts > 1)
    conn_close(c, code, "%s (%d attempts)", msg, s->attempts);
  else
    conn_close(c, code, "%s", msg);
}

/* Puts a finished connection back: to a waiter of the same origin, else
** idle (evicting the least recently used idle connection when full). */
static void conn_release(conn *c) {
  chc_pool *p = c->pool;
  origin *o = c->org;
  if (!chc_list_empty(&o->waiters)) {
    chc_stream *s = chc_container_of(o->waiters.next, chc_stream, owait);
    stream_unwait(s);
    c->reused = 1;
    if (conn_attach(c, s) < 0) {
      conn_close(c, CHC_EREAD, "out of memory");
      return;
    }
    conn_flush(c);
    if (c->state != C_CLOSED && c->s == s) conn_read(c);
    return;
  }
  if (!chc_list_empty(&p->waiters)) {
    /* others wait for a slot (for another origin): give ours up */
    conn_close(c, CHC_OK, "released");
    return;
  }
  conn_make_idle(c);
}

/* Keeps c idle (evicting the least recently used idle connection when
** max_keepalive is reached). */
static void conn_make_idle(conn *c) {
  chc_pool *p = c->pool;
  origin *o = c->org;
  if (p->o.max_keepalive <= 0) {
    conn_close(c, CHC_OK, "max_keepalive = 0");
    return;
  }
  if (p->nidle >= p->o.max_keepalive) {
    conn *old = chc_container_of(p->idle.prev, conn, gnode);
    conn_close(old, CHC_OK, "evicted");
  }
  c->state = C_IDLE;
  c->reused = 1;
  c->idle_since = chc_loop_now(p->lp);
  chc_list_insert_head(&o->idle, &c->onode);
  chc_list_insert_head(&p->idle, &c->gnode);
  p->nidle++;
  timer_arm(c, T_IDLE, p->o.keepalive_expiry);
  /* the read buffer is not needed while idle (memory per idle conn): a
  ** few are kept by the pool for the next busy connection */
  if (c->rbuf.len == 0) rbuf_put(p, &c->rbuf);
  h1_put(p, c); /* and the parser: idle connections stay small */
  /* the write buffer may have grown to a producer's largest chunk */
  if (c->wbuf.len == 0) chc_buf_free(&c->wbuf);
}

/* The exchange on c is complete (response done). */
static void conn_exchange_done(conn *c) {
  chc_stream *s = c->s;
  int reusable = c->h1->keep_alive && s->req_done && !c->write_failed &&
                 c->rbuf.len == 0 &&
                 (c->tls == NULL || chc_tls_pending(c->tls) == 0);
  stream_detach(s);
  chc_timer_stop(c->pool->lp, &s->ttimer);
  notify(s);
  if (s->released) stream_free(s); /* drained */
  conn_unidle(c);                    /* off the draining list */
  if (reusable) {
    timer_arm(c, T_NONE, -1);
    conn_release(c);
  } else {
    conn_close(c, CHC_OK, "not reusable");
  }
}

/* Feeds the read buffer to the engine and publishes what it found. */
static void conn_process(conn *c) {
  chc_stream *s = c->s;
  ssize_t used;
  if (c->rbuf.len == 0 || s == NULL) return;
  used = chc_h1_resp_feed(c->h1, chc_buf_head(&c->rbuf), c->rbuf.len);
  if (used < 0) {
    conn_close(c, CHC_EREMOTE_PROTO, "%s (from %s)", c->h1->err.msg, c->peer);
    return;
  }
  chc_buf_consume(&c->rbuf, (size_t)used);
  if ((c->h1->events & CHC_H1_HEAD) && c->h1->status == 101 && !s->upgrade) {
    conn_close(c, CHC_EREMOTE_PROTO, "101 Switching Protocols from %s, but "
               "the request did not ask for an Upgrade", c->peer);
    return;
  }
  if (c->h1->events & CHC_H1_HEAD) {
    s->status = c->h1->status;
    s->major = c->h1->major;
    s->minor = c->h1->minor;
    chc_buf_reset(&s->reason);
    chc_buf_append(&s->reason, chc_buf_head(&c->h1->reason),
                   c->h1->reason.len + 1);
    chc_hlist_reset(&s->fields);
    chc_hlist_swap(&s->fields, &c->h1->fields);
    s->has_head = 1;
  }
  if ((c->h1->events & CHC_H1_BODY) && c->h1->body_len > 0) {
    if (s->draining) { /* nobody wants these bytes: drop them */
      s->drained += c->h1->body_len;
      if (s->drained > DRAIN_MAX && !(c->h1->events & CHC_H1_DONE)) {
        conn_close(c, CHC_OK, "too much body left to drain");
        return;
      }
    } else {
      s->bp = c->h1->body;
      s->bn = c->h1->body_len;
    }
  }
  if (c->h1->events & CHC_H1_DONE) {
    if (c->h1->trailers.n > 0) {
      chc_hlist_reset(&s->trailers);
      chc_hlist_swap(&s->trailers, &c->h1->trailers);
    }
    if (!s->req_done && s->status < 300 && c->h1->keep_alive &&
        !c->write_failed && !s->draining) {
      /* RFC 9112 9.5: a server may answer before it has read the whole
      ** request. A success on a connection it keeps means it still takes
      ** the body, so keep sending it; the reader sees the end once the
      ** body is out (or the server stopped taking it: conn_early_done).
      ** A 3xx/4xx/5xx, or a response that closes the connection, stops
      ** the upload at once: the exchange ends, the producer is not
      ** called again, the connection is not reused. */
      c->resp_pending = 1;
      notify(s);
      return;
    }
    s->resp_done = 1;
    conn_exchange_done(c);
    return;
  }
  if (c->h1->events) notify(s);
}

/*
** The transport: the socket, plain or through TLS. Both return a count, or
** -1 with errno: EAGAIN to wait for the next edge (for TLS possibly in the
** other direction: tls_rw/tls_wr), EPROTO for a TLS failure.
*/
static ssize_t conn_recv(conn *c, char *p, size_t n) {
  ssize_t r;
  if (c->tls == NULL) return read(c->io.fd, p, n);
  r = chc_tls_read(c->tls, p, n);
  if (r >= 0) return r;
  if (r == CHC_TLS_WANT_WRITE) {
    c->tls_rw = 1;
    c->writable = 0;
  }
  if (r == CHC_TLS_WANT_READ || r == CHC_TLS_WANT_WRITE)
    errno = EAGAIN;
  else
    errno = chc_tls_errno(c->tls) ? chc_tls_errno(c->tls) : EPROTO;
  return -1;
}

/* writev that never raises SIGPIPE: a peer that has gone away gives EPIPE
** (a library must not install a process-wide signal disposition) */
static ssize_t sock_writev(int fd, const struct iovec *iov, int k) {
  struct msghdr m;
  memset(&m, 0, sizeof m);
  m.msg_iov = (struct iovec *)iov;
  m.msg_iovlen = (size_t)k;
  return sendmsg(fd, &m, MSG_NOSIGNAL);
}

/* TLS has no writev: records are written one after the other, and a
** record left half-sent is finished first on the next call (chc_tls_write
** wants the same bytes again: nothing before them has been consumed). */
static ssize_t conn_send(conn *c, const struct iovec *iov, int k) {
  ssize_t done = 0, r = 0;
  int i;
  if (c->tls == NULL) return sock_writev(c->io.fd, iov, k);
  for (i = 0; i < k; i++) {
    size_t off = 0;
    while (off < iov[i].iov_len) {
      r = chc_tls_write(c->tls, (const char *)iov[i].iov_base + off,
                        iov[i].iov_len - off);
      if (r <= 0) break;
      off += (size_t)r;
      done += r;
    }
    if (r < 0) break;
  }
  if (done > 0 || r >= 0) return done;
  if (r == CHC_TLS_WANT_READ) c->tls_wr = 1;
  if (r == CHC_TLS_WANT_READ || r == CHC_TLS_WANT_WRITE)
    errno = EAGAIN;
  else
    errno = chc_tls_errno(c->tls) ? chc_tls_errno(c->tls) : EPROTO;
  return -1;
}

/*
** Reads while the socket has data and nobody holds a body region. The
** read timeout runs only while we are waiting for the server.
*/
static void conn_read(conn *c) {
  for (;;) {
    chc_stream *s = c->s;
    ssize_t n;
    if (c->state == C_CLOSED) return;
    if (c->state == C_IDLE) { /* an idle conn has nothing to say */
      char tmp[64];
      n = read(c->io.fd, tmp, sizeof tmp);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        c->readable = 0;
        return;
      }
      conn_close(c, CHC_OK, "closed while idle");
      return;
    }
    if (s == NULL) return;
    if (s->bn > 0) { /* backpressure: the reader holds a region */
      /* not waiting for the server now: no read timeout (it restarts at
      ** the next EAGAIN once the region is consumed) */
      if (c->tkind == T_READ) timer_arm(c, T_NONE, -1);
      return;
    }
    if (c->resp_pending) return;        /* nothing more is due */
    if (c->rbuf.len > 0) { /* leftover unparsed bytes */
      conn_process(c);
      continue;
    }
    if (!c->readable) {
      if (s->req_done) timer_arm(c, T_READ, s->to.read);
      return;
    }
    if (c->rbuf.cap == 0) rbuf_get(c->pool, &c->rbuf);
    if (c->rbuf.cap == 0 || chc_buf_avail(&c->rbuf) < RBUF_SIZE / 4) {
      chc_buf_reset(&c->rbuf);
      if (chc_buf_reserve(&c->rbuf, RBUF_SIZE) < 0) {
        conn_close(c, CHC_EREAD, "out of memory");
        return;
      }
    }
    n = conn_recv(c, chc_buf_tail(&c->rbuf), chc_buf_avail(&c->rbuf));
    if (n > 0) {
      c->got_bytes = 1;
      chc_buf_commit(&c->rbuf, (size_t)n);
      conn_process(c);
      continue;
    }
    if (n == 0) {
      int r;
      c->readable = 0;
      if (!c->got_bytes && conn_retry_stale(c)) return;
      r = chc_h1_resp_eof(c->h1);
      if (r < 0) {
        if (c->write_failed && !c->got_bytes)
          conn_close(c, CHC_EWRITE, "sending to %s failed: %s", c->peer,
                     strerror(c->write_errno));
        else
          conn_close(c, CHC_EREMOTE_PROTO, "%s (from %s)", c->h1->err.msg,
                     c->peer);
        return;
      }
      if (r == 1 && c->tls && !chc_tls_eof_clean(c->tls)) {
        /* a read-until-close body ends with close_notify over TLS:
        ** without it the end may have been cut off by an attacker */
        conn_close(c, CHC_EREMOTE_PROTO, "connection closed without TLS "
                   "close_notify: the response body may be truncated (from "
                   "%s)", c->peer);
        return;
      }
      if (r == 1) {
        if (c->h1->trailers.n > 0)
          chc_hlist_move(&s->trailers, &c->h1->trailers);
        s->resp_done = 1;
        c->h1->keep_alive = 0;
        conn_exchange_done(c);
      }
      return;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      c->readable = 0;
      if (s->req_done || c->write_failed) timer_arm(c, T_READ, s->to.read);
      return;
    }
    conn_io_error(c, CHC_EREAD, "reading from", errno);
    return;
  }
}

/* Sending the rest of the body failed after the complete response came
** (the server stopped reading, or closed): the response stands, the
** upload ends there, the connection is not reused. */
static void conn_early_done(conn *c, int err) {
  c->write_failed = 1;
  c->write_errno = err;
  c->resp_pending = 0;
  c->wbody_len = 0;
  chc_buf_reset(&c->wbuf);
  timer_arm(c, T_NONE, -1);
  c->s->resp_done = 1;
  conn_exchange_done(c);
}

/*
** Sending failed. The server may have answered and closed (e.g. 413):
** stop writing and let the read side decide. After a complete response
** only the rest of the body is lost (conn_early_done).
*/
static void conn_write_failed(conn *c, int err) {
  chc_stream *s = c->s;
  if (c->resp_pending) {
    conn_early_done(c, err);
    return;
  }
  c->write_failed = 1;
  c->write_errno = err;
  c->wbody_len = 0;
  chc_buf_reset(&c->wbuf);
  if (!c->reused || c->got_bytes || !s || !replayable(s)) {
    c->readable = 1;
    conn_read(c);
    return;
  }
  conn_io_error(c, CHC_EWRITE, "sending to", err);
}

/* The whole request has been written. */
static void conn_req_written(conn *c) {
  chc_stream *s = c->s;
  s->req_done = 1;
  if (c->resp_pending) { /* the response was complete already */
    c->resp_pending = 0;
    timer_arm(c, T_NONE, -1);
    s->resp_done = 1;
    conn_exchange_done(c);
    return;
  }
  timer_arm(c, T_READ, s->to.read);
}

/* Writes pending bytes: wbuf, then the borrowed body. */
static void conn_flush(conn *c) {
  chc_stream *s = c->s;
  while (wpending(c) > 0 && c->writable && !c->write_failed) {
    struct iovec iov[2];
    int k = 0;
    ssize_t n;
    if (c->wbuf.len) {
      iov[k].iov_base = chc_buf_head(&c->wbuf);
      iov[k++].iov_len = c->wbuf.len;
    }
    if (c->wbody_len) {
      iov[k].iov_base = (void *)c->wbody;
      iov[k++].iov_len = c->wbody_len;
    }
    n = conn_send(c, iov, k);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        c->writable = 0;
        break;
      }
      conn_write_failed(c, errno);
      return;
    }
    if ((size_t)n <= c->wbuf.len) {
      chc_buf_consume(&c->wbuf, (size_t)n);
    } else {
      n -= (ssize_t)c->wbuf.len;
      chc_buf_reset(&c->wbuf);
      c->wbody += n;
      c->wbody_len -= (size_t)n;
    }
  }
  if (s == NULL || c->state == C_CLOSED) return;
  if (wpending(c) > 0) {
    if (!c->writable) timer_arm(c, T_WRITE, s->to.write);
    return;
  }
  if (!s->req_done) {
    if (s->body_kind != CHC_BODY_STREAM || s->body_ended)
      conn_req_written(c);
    else {
      timer_arm(c, T_NONE, -1); /* waiting for the producer */
      notify(s);
    }
  }
}

static void conn_tls_start(conn *c);

static void conn_connected(conn *c) {
  if (c->ai) {
    chc_resolve_free_result(c->ai);
    c->ai = c->ai_cur = NULL;
  }
  if (c->org->https && c->tls == NULL) {
    conn_tls_start(c);
    return;
  }
  if (c->org->https ? (chc_tls_alpn(c->tls) != NULL &&
                       strcmp(chc_tls_alpn(c->tls), "h2") == 0)
                    : (!c->pool->o.http1 && c->pool->o.http2)) {
    h2_start(c);
    return;
  }
  if (!c->pool->o.http1) {
    conn_close(c, CHC_EUNSUPPORTED, "%s did not agree to HTTP/2 (ALPN) and "
               "the pool has http1 = false", c->peer);
    return;
  }
  if (c->h2_probe) { /* HTTP/1.1 after all: the waiters need their own */
    origin *o = c->org;
    chc_list moved;
    chc_list *n, *next;
    c->h2_probe = 0;
    o->h2_pending = 0;
    chc_list_init(&moved);
    for (n = o->waiters.next; n != &o->waiters; n = next) {
      chc_stream *w = chc_container_of(n, chc_stream, owait);
      next = n->next;
      if (chc_list_linked(&w->gwait)) continue; /* queued for a slot */
      stream_unwait(w);
      chc_list_insert_tail(&moved, &w->owait);
    }
    while (!chc_list_empty(&moved)) {
      chc_stream *w = chc_container_of(moved.next, chc_stream, owait);
      chc_list_remove(&w->owait);
      stream_start(w);
    }
  }
  c->state = C_ACTIVE;
  c->writable = 1;
  timer_arm(c, T_NONE, -1);
  conn_flush(c);
  if (c->state != C_CLOSED && c->s) conn_read(c);
}

/* One step of the TLS handshake; on success the connection proceeds as a
** plain one. Failures count as failed connects (`retries`). */
static void conn_tls_step(conn *c) {
  chc_error e = {CHC_OK, ""};
  int r = chc_tls_handshake(c->tls, &e);
  if (r == CHC_TLS_WANT_READ || r == CHC_TLS_WANT_WRITE) return;
  if (r < 0) {
    char m[2 * CHC_ERRMSG_MAX]; /* cut to CHC_ERRMSG_MAX by the stream */
    snprintf(m, sizeof m, "TLS handshake with %s failed: %s", c->peer,
             e.msg);
    conn_connect_failed(c, CHC_ETLS, m);
    return;
  }
  c->readable = 1; /* records may have come right behind the handshake */
  conn_connected(c);
}

/* TCP is up on an https origin. The connect timer keeps running: it
** covers the handshake too. */
static void conn_tls_start(conn *c) {
  chc_error e = {CHC_OK, ""};
  c->tls = chc_tls_new(c->pool->tls, c->io.fd, c->org->host, c->org->key, &e);
  if (c->tls == NULL) {
    conn_close(c, CHC_ETLS, "TLS with %s: %s", c->peer, e.msg);
    return;
  }
  c->state = C_HANDSHAKE;
  conn_tls_step(c);
}

static void conn_try_connect(conn *c);

static void on_conn_io(chc_loop *lp, chc_io *io, unsigned ev) {
  conn *c = chc_container_of(io, conn, io);
  CHC_UNUSED(lp);
  if (c->state == C_CONNECTING) {
    int err = 0;
    socklen_t len = sizeof err;
    if (!(ev & (CHC_EV_WRITE | CHC_EV_ERROR))) return;
    if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    if (err == 0) {
      if (ev & CHC_EV_READ) c->readable = 1;
      conn_connected(c);
      return;
    }
    if (c->ai_cur && c->ai_cur->ai_next) { /* next address */
      chc_io_stop(lp, &c->io);
      close(c->io.fd);
      c->io.fd = -1;
      c->ai_cur = c->ai_cur->ai_next;
      conn_try_connect(c);
      return;
    }
    {
      char m[CHC_ERRMSG_MAX];
      snprintf(m, sizeof m, "cannot connect to %s: %s", c->peer,
               strerror(err));
      conn_connect_failed(c, CHC_ECONNECT, m);
    }
    return;
  }
  if (c->state == C_HANDSHAKE) {
    conn_tls_step(c);
    return;
  }
  if (c->proto == P_H2) {
    if (ev & CHC_EV_ERROR) ev |= CHC_EV_READ | CHC_EV_WRITE;
    if ((ev & CHC_EV_WRITE) && c->tls_rw) {
      c->tls_rw = 0;
      ev |= CHC_EV_READ;
    }
    if ((ev & CHC_EV_READ) && c->tls_wr) {
      c->tls_wr = 0;
      ev |= CHC_EV_WRITE;
    }
    h2_on_io(c, ev);
    return;
  }
  if (ev & CHC_EV_ERROR) ev |= CHC_EV_READ | CHC_EV_WRITE;
  if ((ev & CHC_EV_WRITE) && c->tls_rw) { /* a TLS read waited for it */
    c->tls_rw = 0;
    ev |= CHC_EV_READ;
  }
  if ((ev & CHC_EV_READ) && c->tls_wr) { /* a TLS write waited for it */
    c->tls_wr = 0;
    ev |= CHC_EV_WRITE;
  }
  if (ev & CHC_EV_WRITE) {
    c->writable = 1;
    if (c->s && wpending(c) > 0) {
      conn_flush(c);
      if (c->state == C_CLOSED) return;
    }
  }
  if (ev & CHC_EV_READ) {
    c->readable = 1;
    conn_read(c);
  }
}

static void on_conn_timer(chc_loop *lp, chc_timer *t) {
  conn *c = chc_container_of(t, conn, timer);
  chc_stream *s = c->s;
  char b[32];
  int kind = c->tkind;
  CHC_UNUSED(lp);
  c->tkind = T_NONE;
  switch (kind) {
    case T_IDLE:
      conn_close(c, CHC_OK, "keep-alive expired");
      break;
    case T_CONNECT: {
      char m[CHC_ERRMSG_MAX];
      snprintf(m, sizeof m,
               c->state == C_HANDSHAKE
                   ? "TLS handshake with %s timed out after %s (connect "
                     "timeout)"
                   : "connecting to %s timed out after %s",
               c->peer, secs(s ? s->to.connect : 0, b, sizeof b));
      conn_connect_failed(c, CHC_ECONNECT_TIMEOUT, m);
      break;
    }
    case T_WRITE:
      if (c->resp_pending) { /* the response stands without the rest */
        conn_early_done(c, ETIMEDOUT);
        break;
      }
      conn_close(c, CHC_EWRITE_TIMEOUT,
                 "sending the request to %s timed out after %s (the server "
                 "stopped reading)",
                 c->peer, secs(s ? s->to.write : 0, b, sizeof b));
      break;
    case T_READ:
      conn_close(c, CHC_EREAD_TIMEOUT,
                 "no data from %s for %s while %s", c->peer,
                 secs(s ? s->to.read : 0, b, sizeof b),
                 s && s->has_head ? "reading the response body"
                                  : "waiting for the response");
      break;
    default:
      break;
  }
}

static int set_sock_opts(int fd, int family) {
  int one = 1;
  if (family == AF_INET || family == AF_INET6)
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return 0;
}

static void conn_start_socket(conn *c, int fd) {
  chc_io_init(&c->io, fd, on_conn_io);
  if (chc_io_set(c->pool->lp, &c->io,
                 CHC_EV_READ | CHC_EV_WRITE | CHC_EV_EDGE) < 0) {
    conn_close(c, CHC_ECONNECT, "cannot watch the socket for %s", c->peer);
  }
}

static void conn_try_connect(conn *c) {
  for (; c->ai_cur; c->ai_cur = c->ai_cur->ai_next) {
    struct addrinfo *a = c->ai_cur;
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    a->ai_protocol);
    if (fd < 0) continue;
    set_sock_opts(fd, a->ai_family);
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      c->state = C_CONNECTING;
      conn_start_socket(c, fd);
      if (c->state != C_CLOSED) conn_connected(c);
      return;
    }
    if (errno == EINPROGRESS) {
      c->state = C_CONNECTING;
      conn_start_socket(c, fd);
      return;
    }
    close(fd);
    if (!a->ai_next) {
      char m[CHC_ERRMSG_MAX];
      snprintf(m, sizeof m, "cannot connect to %s: %s", c->peer,
               strerror(errno));
      conn_connect_failed(c, CHC_ECONNECT, m);
      return;
    }
  }
  conn_connect_failed(c, CHC_ECONNECT, "no usable address to connect to");
}

static void on_resolved(void *ud, int status, struct addrinfo *res,
                        const char *msg) {
  conn *c = ud;
  c->res = NULL;
  if (status != 0) {
    conn_connect_failed(c, CHC_ECONNECT, msg);
    return;
  }
  c->ai = c->ai_cur = res;
  conn_try_connect(c);
}

static void conn_connect_uds(conn *c, const char *path) {
  struct sockaddr_un sa;
  int fd;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof sa.sun_path) {
    conn_close(c, CHC_ECONNECT, "unix socket path too long: %s", path);
    return;
  }
  strcpy(sa.sun_path, path);
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    conn_close(c, CHC_ECONNECT, "socket: %s", strerror(errno));
    return;
  }
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 ||
      errno == EINPROGRESS || errno == EAGAIN) {
    int now = errno != EINPROGRESS && errno != EAGAIN;
    c->state = C_CONNECTING;
    conn_start_socket(c, fd);
    if (c->state != C_CLOSED && now) conn_connected(c);
    return;
  }
  close(fd);
  {
    char m[CHC_ERRMSG_MAX];
    snprintf(m, sizeof m, "cannot connect to unix socket %s: %s", path,
             strerror(errno));
    conn_connect_failed(c, CHC_ECONNECT, m);
  }
}

/* Opens a new connection for s (a slot is free). */
static void conn_open(chc_pool *p, chc_stream *s) {
  conn *c = calloc(1, sizeof *c);
  origin *o = s->org;
  if (c == NULL) {
    stream_fail(s, CHC_ECONNECT, "out of memory");
    return;
  }
  c->pool = p;
  c->org = o;
  o->refs++;
  c->io.fd = -1;
  chc_list_init(&c->onode);
  chc_list_init(&c->gnode);
  chc_list_init(&c->streams);
  chc_list_init(&c->retryq);
  chc_defer_init(&c->pump, on_h2_pump);
  if (s->h2_capable) { /* its origin's next requests wait for it */
    c->h2_probe = 1;
    o->h2_pending = 1;
  }
  chc_list_insert_tail(&p->conns, &c->anode);
  chc_timer_init(&c->timer, on_conn_timer);
  c->state = C_RESOLVING;
  p->nconns++;
  if (p->uds)
    snprintf(c->peer, sizeof c->peer, "%s", p->uds);
  else
    snprintf(c->peer, sizeof c->peer,
             strchr(o->host, ':') ? "[%s]:%d" : "%s:%d", o->host, o->port);
  if (conn_attach(c, s) < 0) {
    conn_close(c, CHC_ECONNECT, "out of memory");
    return;
  }
  timer_arm(c, T_CONNECT, s->to.connect);
  if (p->uds) {
    conn_connect_uds(c, p->uds);
    return;
  }
  c->res = chc_resolve_start(p->lp, o->host, o->port, on_resolved, c);
  if (c->res == NULL) conn_close(c, CHC_ECONNECT, "out of memory resolving");
}

/* }=================================================================== */


/* {===================================================================
** HTTP/2 connections
**
** One engine (h2.c) per connection, many streams. The connection reads
** until EAGAIN whatever the readers do (flow control is the
** backpressure), and flushes the engine's frames once per loop
** iteration (a deferred callback, `pump`), after any call that may have
** queued frames. Engine callbacks only record and wake; what they
** record (streams to retry, freed slots, GOAWAY) is acted on by
** h2_settle() once the engine call returned.
** ==================================================================== */

static const char *stream_peer(const chc_stream *s) { return s->org->hosthdr; }

static void h2_stream_finished(chc_stream *s) {
  if (!s->h2_done) {
    s->h2_done = 1;
    if (s->c) s->c->nactive--;
  }
  chc_timer_stop(s->pool->lp, &s->rtimer);
}

static void h2_cb_head(chc_h2_stream *st, void *ud) {
  chc_stream *s = ud;
  s->status = chc_h2_stream_status(st);
  s->major = 2;
  s->minor = 0;
  chc_buf_reset(&s->reason);
  chc_buf_append(&s->reason, "", 1);
  chc_hlist_move(&s->fields, chc_h2_stream_headers(st));
  s->has_head = 1;
  /* a write timeout goes on: the body still waits for the server */
  if (!s->rt_write) chc_timer_stop(s->pool->lp, &s->rtimer);
  notify(s);
}

static void h2_cb_data(chc_h2_stream *st, void *ud, size_t n) {
  chc_stream *s = ud;
  CHC_UNUSED(st);
  CHC_UNUSED(n);
  if (!s->rt_write) chc_timer_stop(s->pool->lp, &s->rtimer);
  notify(s);
}

static void h2_cb_end(chc_h2_stream *st, void *ud) {
  chc_stream *s = ud;
  chc_hlist *t = chc_h2_stream_trailers(st);
  if (t && t->n > 0) chc_hlist_move(&s->trailers, t);
  s->resp_done = 1;
  chc_timer_stop(s->pool->lp, &s->ttimer);
  h2_stream_finished(s);
  notify(s);
}

static void h2_cb_error(chc_h2_stream *st, void *ud) {
  chc_stream *s = ud;
  const chc_error *e = chc_h2_stream_error(st);
  conn *c = s->c;
  /* a producer's bytes went into the stream that failed: they cannot
  ** be sent again, so such a request is not retried once it started */
  int replay = s->rq_body_kind != CHC_BODY_STREAM ||
               (s->sent == 0 && !s->body_ended);
  if (chc_h2_stream_retryable(st) && replay && !s->released && c &&
      s->attempts <= c->pool->o.max_keepalive + 2) {
    /* the server certainly did not process it: another connection */
    h2_stream_finished(s);
    chc_list_remove(&s->cnode);
    chc_list_insert_tail(&c->retryq, &s->cnode);
    return;
  }
  h2_stream_finished(s);
  stream_fail(s, e ? e->code : CHC_EREMOTE_PROTO, "%s (%s)%s",
              e ? e->msg : "stream failed", stream_peer(s),
              chc_h2_stream_retryable(st) && !replay
                  ? "; not retried: the body function's output cannot be "
                    "sent again"
                  : "");
}

/* A string body waits for the server's window under the write timeout,
** from submission until its last byte went out (h2_cb_sent). */
static void h2_write_wait(chc_stream *s) {
  chc_timer_stop(s->pool->lp, &s->rtimer);
  s->rt_write = s->to.write >= 0;
  if (s->rt_write)
    chc_timer_start(s->pool->lp, &s->rtimer, (uint64_t)s->to.write);
}

static void h2_cb_writable(chc_h2_stream *st, void *ud) {
  chc_stream *s = ud;
  CHC_UNUSED(st);
  if (s->rq_body_kind == CHC_BODY_BYTES || s->body_ended) {
    /* the rest of the body went on: wait afresh (no producer to wake) */
    if (!s->req_done) h2_write_wait(s);
    return;
  }
  if (s->rt_write) { /* the server took bytes: its window moved */
    s->rt_write = 0;
    chc_timer_stop(s->pool->lp, &s->rtimer);
  }
  notify(s);
}

static void h2_cb_sent(chc_h2_stream *st, void *ud) {
  chc_stream *s = ud;
  CHC_UNUSED(st);
  s->req_done = 1;
  s->rt_write = 0;
  chc_timer_stop(s->pool->lp, &s->rtimer);
  if (!s->has_head && s->to.read >= 0)
    chc_timer_start(s->pool->lp, &s->rtimer, (uint64_t)s->to.read);
}

static void h2_cb_slots(chc_h2 *h2, void *cud) {
  CHC_UNUSED(h2);
  ((conn *)cud)->h2_slots = 1;
}

static void h2_cb_goaway(chc_h2 *h2, void *cud, int32_t last, uint32_t code) {
  conn *c = cud;
  CHC_UNUSED(h2);
  CHC_UNUSED(last);
  CHC_UNUSED(code);
  c->h2_goaway = 1;
  if (c->org->h2conn == c) c->org->h2conn = NULL; /* new streams elsewhere */
}

static const chc_h2_callbacks h2_callbacks = {
    h2_cb_head,     h2_cb_data,  h2_cb_end,    h2_cb_error, h2_cb_writable,
    h2_cb_sent,     h2_cb_slots, h2_cb_goaway, NULL};

static void on_stream_rtimer(chc_loop *lp, chc_timer *t) {
  chc_stream *s = chc_container_of(t, chc_stream, rtimer);
  char b[32];
  CHC_UNUSED(lp);
  if (s->h2s == NULL) return;
  chc_h2_stream_cancel(s->h2s);
  h2_stream_finished(s);
  if (s->rt_write)
    stream_fail(s, CHC_EWRITE_TIMEOUT, "sending the request body to %s "
                "timed out after %s (the server's HTTP/2 flow-control window "
                "stayed closed: it stopped taking the body)",
                stream_peer(s), secs(s->to.write, b, sizeof b));
  else
    stream_fail(s, CHC_EREAD_TIMEOUT, "no data from %s for %s while %s",
                stream_peer(s), secs(s->to.read, b, sizeof b),
                s->has_head ? "reading the response body"
                            : "waiting for the response");
  if (s->c) {
    h2_dirty(s->c);
    h2_settle(s->c);
  }
}

/* The connection speaks HTTP/2 from now on: start the engine, move the
** stream that opened it over, and let the origin's waiters in. */
static void h2_start(conn *c) {
  chc_error e = {CHC_OK, ""};
  chc_stream *s = c->s;
  origin *o = c->org;
  c->proto = P_H2;
  c->state = C_ACTIVE;
  h1_put(c->pool, c);
  c->writable = 1;
  timer_arm(c, T_NONE, -1);
  c->h2 = chc_h2_new(NULL, &h2_callbacks, c, &e);
  if (c->h2 == NULL) {
    conn_close(c, e.code ? e.code : CHC_ECONNECT, "%s", e.msg);
    return;
  }
  chc_buf_reset(&c->wbuf);
  c->wbody = NULL;
  c->wbody_len = 0;
  if (c->h2_probe) {
    c->h2_probe = 0;
    o->h2_pending = 0;
  }
  o->h2conn = c;
  if (s) {
    c->s = NULL;
    s->c = NULL;
    s->attempts--; /* conn_attach counted it; h2_submit counts again */
    h2_submit(c, s);
  }
  c->h2_slots = 1;
  h2_settle(c);
  if (c->state != C_CLOSED && c->readable) h2_on_io(c, CHC_EV_READ);
}

/* Submits s on c (which can take a stream now). */
static void h2_submit(conn *c, chc_stream *s) {
  chc_error e = {CHC_OK, ""};
  chc_h2_request rq;
  rq.method = s->rq_method;
  rq.scheme = s->org->https ? "https" : "http";
  rq.authority = s->org->hosthdr;
  rq.path = s->rq_target;
  rq.headers = &s->rq_headers;
  rq.body_kind = s->rq_body_kind;
  rq.body = s->rq_body;
  rq.body_len = s->rq_body_len;
  s->h2s = chc_h2_submit(c->h2, &rq, s, &e);
  s->attempts++;
  if (s->h2s == NULL) {
    s->state = S_DONE;
    stream_fail(s, e.code ? e.code : CHC_ELOCAL_PROTO, "%s", e.msg);
    return;
  }
  if (c->state == C_IDLE) {
    conn_unidle(c);
    c->state = C_ACTIVE;
    timer_arm(c, T_NONE, -1);
  }
  s->c = c;
  s->state = S_ACTIVE;
  s->h2_done = 0;
  s->req_done = 0;
  chc_list_insert_tail(&c->streams, &s->cnode);
  c->nactive++;
  s->rt_write = 0;
  if (s->rq_body_kind == CHC_BODY_BYTES && s->rq_body_len > 0)
    h2_write_wait(s);
  else if (s->rq_body_kind != CHC_BODY_STREAM && s->to.read >= 0)
    chc_timer_start(c->pool->lp, &s->rtimer, (uint64_t)s->to.read);
  h2_dirty(c);
  if (s->rq_body_kind == CHC_BODY_STREAM) notify(s); /* producer: go */
}

/* Moves the streams the engine marked retryable to another connection
** (stream_start: the origin's HTTP/2 connection if it can take them, a
** new one, or the queue). */
static void h2_retry_streams(conn *c) {
  while (!chc_list_empty(&c->retryq)) {
    chc_stream *s = chc_container_of(c->retryq.next, chc_stream, cnode);
    chc_list_remove(&s->cnode);
    chc_h2_stream_release(s->h2s);
    s->h2s = NULL;
    s->c = NULL;
    s->state = S_WAIT;
    s->req_done = 0;
    stream_start(s);
  }
}

/*
** Acts on what the engine's callbacks recorded: streams to retry on
** another connection, free stream slots for the origin's waiters, and
** the end of the connection (GOAWAY done, or nothing left to do).
*/
static void h2_settle(conn *c) {
  origin *o = c->org;
  h2_retry_streams(c);
  if (c->state == C_CLOSED) return;
  if (c->h2_slots && o->h2conn == c) {
    c->h2_slots = 0;
    while (!chc_list_empty(&o->waiters) && chc_h2_can_open(c->h2)) {
      chc_stream *s = chc_container_of(o->waiters.next, chc_stream, owait);
      stream_unwait(s);
      h2_submit(c, s);
    }
  }
  if (c->nactive == 0 && c->state == C_ACTIVE) {
    if (c->h2_goaway || !chc_h2_want_read(c->h2) || o->h2conn != c)
      conn_close(c, CHC_OK, "HTTP/2 connection finished");
    else
      conn_make_idle(c);
    return;
  }
  if (chc_h2_want_write(c->h2)) h2_dirty(c);
}

static void h2_dirty(conn *c) {
  if (c->state != C_CLOSED && c->h2) chc_defer_queue(c->pool->lp, &c->pump);
}

/* Writes the engine's frames until it has none or the socket is full. */
static void h2_pump(conn *c) {
  while (c->state != C_CLOSED) {
    struct iovec iov;
    ssize_t n;
    if (c->wbuf.len < WBUF_LOW && chc_h2_want_write(c->h2)) {
      if (chc_h2_flush(c->h2, &c->wbuf, WBUF_HIGH) < 0) {
        const chc_error *e = chc_h2_error(c->h2);
        conn_close(c, e ? e->code : CHC_EWRITE, "%s",
                   e ? e->msg : "HTTP/2 failure");
        return;
      }
      h2_settle(c);
      if (c->state == C_CLOSED) return;
    }
    if (c->wbuf.len == 0) break;
    if (!c->writable) break;
    iov.iov_base = chc_buf_head(&c->wbuf);
    iov.iov_len = c->wbuf.len;
    n = conn_send(c, &iov, 1);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        c->writable = 0;
        break;
      }
      conn_close(c, CHC_EWRITE, "sending to %s failed: %s", c->peer,
                 conn_strerror(c, errno));
      return;
    }
    chc_buf_consume(&c->wbuf, (size_t)n);
  }
  if (c->state == C_CLOSED) return;
  if (c->wbuf.len > 0 && !c->writable) {
    if (c->tkind != T_WRITE) timer_arm(c, T_WRITE, c->pool->o.to.write);
  } else if (c->tkind == T_WRITE) {
    timer_arm(c, T_NONE, -1);
  }
}

static void on_h2_pump(chc_loop *lp, chc_defer *d) {
  CHC_UNUSED(lp);
  h2_pump(chc_container_of(d, conn, pump));
}

/* Reads and feeds until EAGAIN. */
static void h2_read(conn *c) {
  while (c->state != C_CLOSED && c->readable) {
    ssize_t n;
    if (c->rbuf.cap == 0) rbuf_get(c->pool, &c->rbuf);
    if (c->rbuf.cap < RBUF_SIZE && chc_buf_reserve(&c->rbuf, RBUF_SIZE) < 0) {
      conn_close(c, CHC_EREAD, "out of memory");
      return;
    }
    chc_buf_reset(&c->rbuf);
    n = conn_recv(c, c->rbuf.data, c->rbuf.cap);
    if (n > 0) {
      if (chc_h2_feed(c->h2, (const uint8_t *)c->rbuf.data, (size_t)n) < 0) {
        const chc_error *e = chc_h2_error(c->h2);
        char m[CHC_ERRMSG_MAX];
        snprintf(m, sizeof m, "%s", e ? e->msg : "HTTP/2 protocol error");
        /* every stream has heard; try to tell the server (GOAWAY) */
        h2_settle(c);
        if (c->state != C_CLOSED) {
          h2_pump(c);
          if (c->state != C_CLOSED)
            conn_close(c, CHC_EREMOTE_PROTO, "%s (from %s)", m, c->peer);
        }
        return;
      }
      h2_settle(c);
      continue;
    }
    if (n == 0) {
      c->readable = 0;
      conn_close(c, CHC_EREMOTE_PROTO, "%s closed the HTTP/2 connection",
                 c->peer);
      return;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      c->readable = 0;
      break;
    }
    conn_close(c, CHC_EREAD, "reading from %s: %s", c->peer,
               conn_strerror(c, errno));
    return;
  }
  if (c->state != C_CLOSED && chc_h2_want_write(c->h2)) h2_dirty(c);
}

static void h2_on_io(conn *c, unsigned ev) {
  if (ev & CHC_EV_WRITE) {
    c->writable = 1;
    if (c->wbuf.len > 0 || chc_h2_want_write(c->h2)) h2_pump(c);
    if (c->state == C_CLOSED) return;
  }
  if (ev & CHC_EV_READ) {
    c->readable = 1;
    h2_read(c);
  }
}

/*
** The connection is closing: the engine fails its live streams (the
** ones the server never processed are moved to another connection), and
** the streams let go of the connection. The engine itself is freed at
** reap time.
*/
static void h2_teardown(conn *c, int code, const char *msg) {
  if (c->org->h2conn == c) c->org->h2conn = NULL;
  chc_defer_cancel(c->pool->lp, &c->pump);
  if (c->h2 == NULL) return;
  if (chc_h2_error(c->h2) == NULL)
    chc_h2_abort(c->h2, code != CHC_OK ? code : CHC_ECLOSED, "%s", msg);
  h2_retry_streams(c);
  while (!chc_list_empty(&c->streams)) {
    chc_stream *s = chc_container_of(c->streams.next, chc_stream, cnode);
    chc_list_remove(&s->cnode);
    h2_stream_finished(s);
    s->c = NULL;
    if (s->state == S_ACTIVE) s->state = S_DONE;
  }
}

/* }=================================================================== */

/* {===================================================================
** Pool
** ==================================================================== */

/* Gives s a connection now, or queues it. */
static void stream_start(chc_stream *s) {
  chc_pool *p = s->pool;
  origin *o = s->org;
  if (s->h2_capable && o->h2conn && o->h2conn->state == C_IDLE &&
      chc_loop_now(p->lp) - o->h2conn->idle_since >=
          (uint64_t)p->o.keepalive_expiry)
    conn_close(o->h2conn, CHC_OK, "keep-alive expired");
  if (s->h2_capable && (o->h2conn || o->h2_pending)) {
    conn *c = o->h2conn;
    if (c && chc_h2_can_open(c->h2)) {
      h2_submit(c, s);
      return;
    }
    /* our policy: wait for a stream slot on the origin's HTTP/2
    ** connection (or for the connection being made), not a second one */
    s->state = S_WAIT;
    chc_list_insert_tail(&o->waiters, &s->owait);
    p->nwaiting++;
    if (s->to.pool >= 0 && !chc_timer_active(&s->ptimer))
      chc_timer_start(p->lp, &s->ptimer, (uint64_t)s->to.pool);
    return;
  }
  while (!chc_list_empty(&o->idle)) {
    conn *c = chc_container_of(o->idle.next, conn, onode);
    /* a plain script may not have stepped the loop for a long time: the
    ** expiry timer has not run, but the server may have given up */
    if (chc_loop_now(p->lp) - c->idle_since >=
        (uint64_t)p->o.keepalive_expiry) {
      conn_close(c, CHC_OK, "keep-alive expired");
      continue;
    }
    conn_unidle(c);
    c->state = C_ACTIVE;
    timer_arm(c, T_NONE, -1);
    if (conn_attach(c, s) < 0) {
      conn_close(c, CHC_EREAD, "out of memory");
      return;
    }
    conn_flush(c);
    if (c->state != C_CLOSED && c->s == s) conn_read(c);
    return;
  }
  if (p->nconns >= p->o.max_connections && p->nidle > 0) {
    /* make room: drop the least recently used idle conn (other origin) */
    conn *old = chc_container_of(p->idle.prev, conn, gnode);
    conn_close(old, CHC_OK, "evicted");
  } else if (p->nconns >= p->o.max_connections && o->ndraining == 0 &&
             !chc_list_empty(&p->draining)) {
    /* a request elsewhere beats saving a reconnect: give up a drain (a
    ** request to the same origin waits for the drained connection) */
    conn *old = chc_container_of(p->draining.next, conn, gnode);
    conn_close(old, CHC_OK, "drain abandoned for a waiting request");
  }
  if (p->nconns < p->o.max_connections && chc_list_empty(&p->waiters)) {
    conn_open(p, s);
    return;
  }
  s->state = S_WAIT;
  chc_list_insert_tail(&p->waiters, &s->gwait);
  chc_list_insert_tail(&o->waiters, &s->owait);
  p->nwaiting++;
  if (s->to.pool >= 0 && !chc_timer_active(&s->ptimer))
    chc_timer_start(p->lp, &s->ptimer, (uint64_t)s->to.pool);
}

/* A slot may be free: let the first waiter open a connection. */
static void pool_dispatch(chc_pool *p) {
  while (!p->closed && !chc_list_empty(&p->waiters) && p->nconns < p->o.max_connections) {
    chc_stream *s = chc_container_of(p->waiters.next, chc_stream, gwait);
    conn *h2c = s->org->h2conn;
    stream_unwait(s);
    if (s->h2_capable && h2c && chc_h2_can_open(h2c->h2))
      h2_submit(h2c, s);
    else
      conn_open(p, s);
  }
}

void chc_pool_opts_default(chc_pool_opts *o) {
  memset(o, 0, sizeof *o);
  o->max_connections = 100;
  o->max_keepalive = 20;
  o->keepalive_expiry = 5000;
  o->http1 = 1;
  o->to.connect = o->to.read = o->to.write = o->to.pool = 30000;
  o->to.total = -1;
  o->max_header_size = 65536;
}

chc_pool *chc_pool_new(chc_loop *lp, const chc_pool_opts *o) {
  chc_pool *p = calloc(1, sizeof *p);
  if (p == NULL) {
    chc_tls_conf_free(o->tls);
    return NULL;
  }
  p->lp = lp;
  p->o = *o;
  p->tls = o->tls;
  p->o.tls = NULL;
  if (o->max_connections <= 0) p->o.max_connections = 1;
  if (o->uds) {
    p->uds = strdup(o->uds);
    if (p->uds == NULL) {
      chc_tls_conf_free(p->tls);
      free(p);
      return NULL;
    }
  }
  p->o.uds = p->uds;
  chc_list_init(&p->idle);
  chc_list_init(&p->waiters);
  chc_list_init(&p->conns);
  chc_list_init(&p->closing);
  chc_list_init(&p->draining);
  chc_defer_init(&p->reap, pool_reap);
  p->refs = 1;
  return p;
}

const chc_timeouts *chc_pool_timeouts(const chc_pool *p) { return &p->o.to; }

static void stream_destroy(chc_stream *s);
static chc_stream *stream_alloc(chc_pool *p);

static void pool_unref(chc_pool *p) {
  size_t i;
  if (--p->refs > 0) return;
  while (p->free_streams) {
    chc_stream *s = p->free_streams;
    p->free_streams = (chc_stream *)s->ud;
    stream_destroy(s);
  }
  while (p->nrbufs > 0) free(p->rbufs[--p->nrbufs]);
  while (p->nh1s > 0) {
    chc_h1_resp *h = p->h1s[--p->nh1s];
    chc_h1_resp_free(h);
    free(h);
  }
  for (i = 0; i < p->tabsize; i++) {
    origin *o, *next;
    for (o = p->tab[i]; o; o = next) {
      next = o->hnext;
      free(o->host);
      free(o->hosthdr);
      free(o);
    }
  }
  free(p->tab);
  free(p->uds);
  chc_tls_conf_free(p->tls);
  free(p);
}

void chc_pool_free(chc_pool *p) {
  while (!chc_list_empty(&p->waiters)) {
    chc_stream *s = chc_container_of(p->waiters.next, chc_stream, gwait);
    stream_unwait(s);
    s->state = S_DONE;
    stream_fail(s, CHC_ECLOSED, "the pool was closed");
  }
  p->closed = 1;
  while (!chc_list_empty(&p->conns)) {
    conn *c = chc_container_of(p->conns.next, conn, anode);
    conn_close(c, CHC_ECLOSED, "the pool was closed");
  }
  chc_defer_cancel(p->lp, &p->reap);
  pool_reap(p->lp, &p->reap);
  pool_unref(p);
}

void chc_pool_stats_get(const chc_pool *p, chc_pool_stats *st) {
  st->connections = p->nconns;
  st->idle = p->nidle;
  st->active = p->nconns - p->nidle;
  st->waiting = p->nwaiting;
  st->origins = (int)p->norigins;
}

static int method_is(const char *m, const char *x) { return strcmp(m, x) == 0; }

static int copy_hlist(chc_hlist *dst, const chc_hlist *src) {
  size_t i;
  for (i = 0; i < src->n; i++)
    if (chc_hlist_add(dst, chc_hlist_name(src, i), src->f[i].name_len,
                      chc_hlist_value(src, i), src->f[i].value_len) < 0)
      return -1;
  return 0;
}

/*
** The caller may frame the body itself with Content-Length or
** Transfer-Encoding: chunked. The framing on the wire must then match
** what those headers announce, or the connection is desynchronised
** (RFC 9112 6.1-6.3). Anything we cannot honour is refused before
** sending.
*/
static int user_framing(const chc_request *rq, chc_stream *s, chc_error *e) {
  size_t cll = 0, tel = 0, i;
  const char *cl, *te;
  unsigned long long n = 0;
  if (rq->headers == NULL) return 0;
  cl = chc_hlist_get(rq->headers, "content-length", &cll);
  te = chc_hlist_get(rq->headers, "transfer-encoding", &tel);
  if (te) {
    if (cl) {
      chc_seterr(e, CHC_ELOCAL_PROTO, "a request cannot have both "
                 "Content-Length and Transfer-Encoding");
      return -1;
    }
    if (tel != 7 || strncasecmp(te, "chunked", 7) != 0) {
      chc_seterr(e, CHC_ELOCAL_PROTO, "unsupported request Transfer-Encoding "
                 "'%.60s' (only chunked)", te);
      return -1;
    }
    s->chunked = 1;
    return 0;
  }
  if (cl == NULL) return 0;
  for (i = 0; i < cll; i++) {
    if (cl[i] < '0' || cl[i] > '9' || n > (~0ULL - 9) / 10) {
      chc_seterr(e, CHC_ELOCAL_PROTO, "invalid request Content-Length "
                 "'%.60s'", cl);
      return -1;
    }
    n = n * 10 + (unsigned)(cl[i] - '0');
  }
  if (cll == 0 || n > (unsigned long long)LLONG_MAX) {
    chc_seterr(e, CHC_ELOCAL_PROTO, "invalid request Content-Length '%.60s'",
               cl);
    return -1;
  }
  if (rq->body_kind == CHC_BODY_STREAM) {
    s->chunked = 0; /* the producer's bytes go out as they are */
    s->declared = (long long)n;
    return 0;
  }
  if (n != (rq->body_kind == CHC_BODY_BYTES ? rq->body_len : 0)) {
    chc_seterr(e, CHC_ELOCAL_PROTO, "the request Content-Length %llu does "
               "not match the body length %zu", n,
               rq->body_kind == CHC_BODY_BYTES ? rq->body_len : (size_t)0);
    return -1;
  }
  return 0;
}

/* Transfer-Encoding: chunked given by the caller with a string body (or
** none): frame it once, after the head. */
static int chunk_bytes_body(chc_buf *out, const chc_request *rq,
                            chc_error *e) {
  if ((rq->body_kind == CHC_BODY_BYTES && rq->body_len > 0 &&
       chc_h1_write_chunk(out, rq->body, rq->body_len) < 0) ||
      chc_h1_write_last_chunk(out) < 0) {
    chc_seterr(e, CHC_ELOCAL_PROTO, "out of memory");
    return -1;
  }
  return 0;
}

chc_stream *chc_pool_request(chc_pool *p, const chc_request *rq,
                             chc_stream_notify nf, void *ud, chc_error *e) {
  chc_stream *s;
  origin *o;
  long long framing;
  const char *m = rq->method;
  if (p->closed) {
    chc_seterr(e, CHC_ECLOSED, "the pool is closed");
    return NULL;
  }
  chc_loop_update_time(p->lp);
  if (rq->https && p->tls == NULL) {
    chc_tls_opts to;
    chc_tls_opts_default(&to);
    p->tls = chc_tls_conf_new(p->lp, &to, e);
    if (p->tls == NULL) return NULL;
  }
  o = origin_get(p, rq->https, rq->host, rq->port);
  if (o == NULL) {
    chc_seterr(e, CHC_ELOCAL_PROTO, "out of memory");
    return NULL;
  }
  o->refs++; /* the stream's, or until the failures below */
  s = stream_alloc(p);
  if (s == NULL) {
    chc_seterr(e, CHC_ELOCAL_PROTO, "out of memory");
    origin_unref(p, o);
    return NULL;
  }
  if (rq->body_kind == CHC_BODY_STREAM)
    framing = CHC_H1_BODY_CHUNKED;
  else if (rq->body_kind == CHC_BODY_BYTES)
    framing = (long long)rq->body_len;
  else if (method_is(m, "POST") || method_is(m, "PUT") || method_is(m, "PATCH"))
    framing = 0;
  else
    framing = CHC_H1_BODY_NONE;
  s->chunked = rq->body_kind == CHC_BODY_STREAM;
  s->declared = -1;
  if (user_framing(rq, s, e) < 0 ||
      chc_h1_write_head(&s->head, m, rq->target, o->hosthdr, rq->headers,
                        framing, e) < 0 ||
      (s->chunked && rq->body_kind != CHC_BODY_STREAM &&
       chunk_bytes_body(&s->head, rq, e) < 0)) {
    stream_destroy(s);
    origin_unref(p, o);
    return NULL;
  }
  s->pool = p;
  p->refs++;
  s->org = o;
  s->notify = nf;
  s->ud = ud;
  chc_list_init(&s->gwait);
  chc_list_init(&s->owait);
  s->body_kind = rq->body_kind;
  s->body = rq->body;
  s->body_len = rq->body_kind == CHC_BODY_BYTES ? rq->body_len : 0;
  if (s->chunked && rq->body_kind != CHC_BODY_STREAM) {
    s->body_kind = CHC_BODY_NONE; /* framed into the head buffer */
    s->body_len = 0;
  }
  s->to = rq->to;
  s->no_body = method_is(m, "HEAD");
  s->upgrade = rq->headers && chc_hlist_get(rq->headers, "upgrade", NULL);
  s->idempotent = method_is(m, "GET") || method_is(m, "HEAD") ||
                  method_is(m, "PUT") || method_is(m, "DELETE") ||
                  method_is(m, "OPTIONS") || method_is(m, "TRACE");
  s->retries_left = p->o.retries;
  chc_list_init(&s->cnode);
  chc_timer_init(&s->rtimer, on_stream_rtimer);
  s->h2_capable = p->o.http2 && (rq->https || !p->o.http1);
  if (s->h2_capable) { /* what an HTTP/2 submission needs, kept */
    s->rq_method = strdup(m);
    s->rq_target = strdup(rq->target);
    s->rq_body_kind = rq->body_kind;
    s->rq_body = rq->body;
    s->rq_body_len = rq->body_kind == CHC_BODY_BYTES ? rq->body_len : 0;
    if (s->rq_method == NULL || s->rq_target == NULL ||
        (rq->headers && copy_hlist(&s->rq_headers, rq->headers) < 0)) {
      chc_seterr(e, CHC_ELOCAL_PROTO, "out of memory");
      stream_free(s);
      return NULL;
    }
  }
  chc_timer_init(&s->ptimer, on_pool_timeout);
  chc_timer_init(&s->ttimer, on_total_timeout);
  if (s->to.total >= 0)
    chc_timer_start(p->lp, &s->ttimer, (uint64_t)s->to.total);
  stream_start(s);
  return s;
}

/* }=================================================================== */

/* {===================================================================
** Stream API
** ==================================================================== */

int chc_stream_has_head(const chc_stream *s) { return s->has_head; }

const chc_error *chc_stream_error(const chc_stream *s) {
  return s->err.code != CHC_OK ? &s->err : NULL;
}

int chc_stream_status(const chc_stream *s) { return s->status; }

const char *chc_stream_reason(const chc_stream *s) {
  return s->reason.data ? s->reason.data : "";
}

const char *chc_stream_version(const chc_stream *s) {
  if (s->major == 2) return "HTTP/2";
  return s->minor == 0 ? "HTTP/1.0" : "HTTP/1.1";
}

const chc_hlist *chc_stream_headers(const chc_stream *s) { return &s->fields; }

void chc_stream_take_headers(chc_stream *s, chc_hlist *dst) {
  chc_hlist_swap(dst, &s->fields);
}

const chc_hlist *chc_stream_trailers(const chc_stream *s) {
  /* the reader sees the trailers once it has had the whole body */
  size_t left = s->h2s ? chc_h2_stream_buffered(s->h2s) : s->bn;
  return s->resp_done && left == 0 && s->trailers.n > 0 ? &s->trailers
                                                        : NULL;
}

int chc_stream_peek(chc_stream *s, const char **p, size_t *n) {
  if (s->h2s) {
    int r = chc_h2_stream_peek(s->h2s, p, n);
    /* the read timeout runs while the reader waits for the server */
    if (r == 0 && s->err.code == CHC_OK && !s->resp_done && s->req_done &&
        s->to.read >= 0 && !chc_timer_active(&s->rtimer)) {
      s->rt_write = 0;
      chc_timer_start(s->pool->lp, &s->rtimer, (uint64_t)s->to.read);
    }
    if (r < 0 && s->err.code != CHC_OK) return 0;
    return r;
  }
  if (s->bn > 0) {
    *p = s->bp;
    *n = s->bn;
    return 1;
  }
  if (s->resp_done && s->err.code == CHC_OK) return -1;
  return 0;
}

void chc_stream_consume(chc_stream *s, size_t n) {
  if (s->h2s) { /* reopens the window: WINDOW_UPDATE at the next flush */
    chc_h2_stream_consume(s->h2s, n);
    if (s->c) h2_dirty(s->c);
    return;
  }
  if (n > s->bn) n = s->bn;
  s->bp += n;
  s->bn -= n;
  if (s->bn == 0 && s->c) {
    s->bp = NULL;
    conn_read(s->c);
  }
}

int chc_stream_writable(chc_stream *s) {
  conn *c = s->c;
  if (s->h2s) {
    int w;
    if (s->err.code != CHC_OK || s->released) return -1;
    w = chc_h2_stream_writable(s->h2s);
    /* the producer waits for the server's window: that is a write wait */
    if (w == 0 && s->to.write >= 0 && !chc_timer_active(&s->rtimer)) {
      s->rt_write = 1;
      chc_timer_start(s->pool->lp, &s->rtimer, (uint64_t)s->to.write);
    }
    return w;
  }
  if (s->err.code != CHC_OK || s->resp_done || s->released || s->body_ended)
    return -1;
  if (c == NULL || c->state != C_ACTIVE || c->write_failed) return 0;
  return wpending(c) < WBUF_HIGH ? 1 : 0;
}

/*
** Writes one chunk of a producer body (chunk-framed, or as it is when the
** caller announced a Content-Length). When nothing is queued and the
** socket is writable the bytes go straight from the caller's memory
** (writev); only what the socket does not take is copied into the write
** buffer.
*/
int chc_stream_write(chc_stream *s, const char *p, size_t n) {
  conn *c = s->c;
  char hdr[24];
  struct iovec iov[3];
  int k = 0, i;
  size_t done = 0, total = 0;
  if (chc_stream_writable(s) < 0 || c == NULL) return -1;
  if (n == 0) return 0;
  if (s->h2s) {
    if (s->declared >= 0 && s->sent + n > (unsigned long long)s->declared) {
      char m[CHC_ERRMSG_MAX];
      snprintf(m, sizeof m, "the request body is longer than the %lld "
               "bytes its Content-Length announced", s->declared);
      chc_stream_abort(s, CHC_ELOCAL_PROTO, m);
      return -1;
    }
    s->sent += n;
    if (chc_h2_stream_write(s->h2s, p, n) < 0) return -1;
    h2_dirty(c);
    return 0;
  }
  if (!s->chunked && s->sent + n > (unsigned long long)s->declared) {
    char m[CHC_ERRMSG_MAX];
    snprintf(m, sizeof m, "the request body is longer than the %lld bytes "
             "its Content-Length announced", s->declared);
    chc_stream_abort(s, CHC_ELOCAL_PROTO, m);
    return -1;
  }
  s->sent += n;
  if (s->chunked) {
    int hl = snprintf(hdr, sizeof hdr, "%zx\r\n", n);
    iov[k].iov_base = hdr;
    iov[k++].iov_len = (size_t)hl;
  }
  iov[k].iov_base = (void *)p;
  iov[k++].iov_len = n;
  if (s->chunked) {
    iov[k].iov_base = (void *)"\r\n";
    iov[k++].iov_len = 2;
  }
  for (i = 0; i < k; i++) total += iov[i].iov_len;
  if (wpending(c) == 0 && c->writable && c->tls == NULL) {
    ssize_t w;
    do w = sock_writev(c->io.fd, iov, k);
    while (w < 0 && errno == EINTR);
    if (w < 0 && errno != EAGAIN) {
      conn_write_failed(c, errno);
      return -1;
    }
    done = w > 0 ? (size_t)w : 0;
    if (done < total) c->writable = 0;
  }
  if (done < total) { /* queue what the socket did not take */
    int r = 0;
    for (i = 0; i < k; i++) {
      size_t len = iov[i].iov_len;
      if (done >= len) {
        done -= len;
        continue;
      }
      r |= chc_buf_append(&c->wbuf, (char *)iov[i].iov_base + done,
                          len - done);
      done = 0;
    }
    if (r) {
      conn_close(c, CHC_EWRITE, "out of memory buffering the request body");
      return -1;
    }
    timer_arm(c, T_WRITE, s->to.write);
  }
  if (c->tls && c->writable) { /* whole records from the write buffer */
    conn_flush(c);
    if (s->err.code != CHC_OK) return -1;
  }
  return 0;
}

int chc_stream_write_end(chc_stream *s) {
  conn *c = s->c;
  if (chc_stream_writable(s) < 0 || c == NULL) return -1;
  if (s->h2s) {
    if (s->declared >= 0 && s->sent != (unsigned long long)s->declared) {
      char m[CHC_ERRMSG_MAX];
      snprintf(m, sizeof m, "the request body ended after %llu of the %lld "
               "bytes its Content-Length announced", s->sent, s->declared);
      chc_stream_abort(s, CHC_ELOCAL_PROTO, m);
      return -1;
    }
    s->body_ended = 1;
    if (chc_h2_stream_write_end(s->h2s) < 0) return -1;
    h2_write_wait(s); /* what is queued waits for the server's window */
    h2_dirty(c);
    return 0;
  }
  if (!s->chunked && s->sent != (unsigned long long)s->declared) {
    char m[CHC_ERRMSG_MAX];
    snprintf(m, sizeof m, "the request body ended after %llu of the %lld "
             "bytes its Content-Length announced", s->sent, s->declared);
    chc_stream_abort(s, CHC_ELOCAL_PROTO, m);
    return -1;
  }
  s->body_ended = 1;
  if (s->chunked && chc_h1_write_last_chunk(&c->wbuf) < 0) {
    conn_close(c, CHC_EWRITE, "out of memory");
    return -1;
  }
  conn_flush(c);
  return 0;
}

void chc_stream_abort(chc_stream *s, int code, const char *msg) {
  conn *c = s->c;
  if (s->state == S_WAIT) {
    stream_unwait(s);
    s->state = S_DONE;
  }
  stream_fail(s, code, "%s", msg);
  if (s->h2s) {
    chc_h2_stream_cancel(s->h2s);
    h2_stream_finished(s);
    if (c) {
      h2_dirty(c);
      h2_settle(c);
    }
    return;
  }
  if (c) conn_close(c, code, "%s", msg);
}

#define STREAM_CACHE 32     /* released streams a pool keeps for reuse */
#define STREAM_KEEP 16384   /* bytes of buffers worth keeping per stream */

static void stream_destroy(chc_stream *s) {
  chc_buf_free(&s->head);
  chc_buf_free(&s->reason);
  chc_buf_free(&s->tail);
  chc_hlist_free(&s->fields);
  chc_hlist_free(&s->trailers);
  chc_hlist_free(&s->rq_headers);
  free(s);
}

/* A new stream, zeroed but for the buffers' memory when a released one
** is reused (no allocation per request in the steady state). */
static chc_stream *stream_alloc(chc_pool *p) {
  chc_stream *s = p->free_streams;
  if (s == NULL) return calloc(1, sizeof *s);
  p->free_streams = (chc_stream *)s->ud;
  p->nfree--;
  {
    chc_buf head = s->head, reason = s->reason, tail = s->tail;
    chc_hlist fields = s->fields, trailers = s->trailers, rqh = s->rq_headers;
    memset(s, 0, sizeof *s);
    s->head = head;
    s->reason = reason;
    s->tail = tail;
    s->fields = fields;
    s->trailers = trailers;
    s->rq_headers = rqh;
  }
  return s;
}

static void stream_free(chc_stream *s) {
  chc_pool *p = s->pool;
  chc_timer_stop(p->lp, &s->rtimer);
  origin_unref(p, s->org);
  free(s->rq_method);
  free(s->rq_target);
  s->rq_method = s->rq_target = NULL;
  if (!p->closed && p->nfree < STREAM_CACHE && s->head.cap <= STREAM_KEEP &&
      s->tail.cap <= STREAM_KEEP && s->fields.store.cap <= STREAM_KEEP) {
    chc_buf_reset(&s->head);
    chc_buf_reset(&s->reason);
    chc_buf_reset(&s->tail);
    chc_hlist_reset(&s->fields);
    chc_hlist_reset(&s->trailers);
    chc_hlist_reset(&s->rq_headers);
    s->ud = p->free_streams; /* the free list's link */
    p->free_streams = s;
    p->nfree++;
    pool_unref(p);
    return;
  }
  pool_unref(p);
  stream_destroy(s);
}

/*
** Whether the rest of a response is worth reading away so the connection
** can be reused: only when the body has a known end (not read-until-close)
** and, with a Content-Length, when little of it is left.
*/
static int drain_worthwhile(const conn *c) {
  const chc_stream *s = c->s;
  if (!s->has_head || !s->req_done || c->write_failed) return 0;
  if (llhttp_message_needs_eof(&c->h1->parser)) return 0;
  if ((c->h1->parser.flags & F_CONTENT_LENGTH) &&
      c->h1->parser.content_length > DRAIN_MAX)
    return 0;
  return 1;
}

void chc_stream_release(chc_stream *s) {
  conn *c = s->c;
  s->released = 1;
  stream_unwait(s);
  chc_timer_stop(s->pool->lp, &s->ttimer);
  if (s->h2s) { /* resets the stream if it is not complete */
    chc_h2_stream_release(s->h2s);
    s->h2s = NULL;
    if (c) {
      chc_list_remove(&s->cnode);
      h2_stream_finished(s);
      s->c = NULL;
      h2_dirty(c);
      h2_settle(c);
    }
    stream_free(s);
    return;
  }
  if (c && s->err.code == CHC_OK && chc_list_empty(&s->pool->waiters) &&
      drain_worthwhile(c)) {
    /* the connection owns the stream now and frees it when done; a rest
    ** that does not come quickly is not worth the slot */
    if (s->to.read < 0 || s->to.read > DRAIN_WAIT_MS) s->to.read = DRAIN_WAIT_MS;
    s->draining = 1;
    c->draining = 1;
    c->org->ndraining++;
    chc_list_insert_tail(&s->pool->draining, &c->gnode);
    s->drained = s->bn;
    s->bn = 0;
    s->bp = NULL;
    conn_read(c);
    return;
  }
  if (c) {
    /* the exchange is not complete: the connection cannot be reused */
    stream_detach(s);
    conn_close(c, CHC_OK, "response closed before its end");
  }
  stream_free(s);
}

/* }=================================================================== */
