/*
** pool.c: the pool's policy. Origins, idle lists and the LRU, waiters
** (FIFO, pool timeout), max_connections / max_keepalive / expiry,
** eviction, the stale-connection retry decisions, and reaping. It asks
** for a connection to be made (conn.h), is told when one is ready,
** idle or gone, and hands streams to the protocol serving it (h1_ops,
** h2_ops); it never reads or writes bytes. See pool_int.h for who owns
** what.
*/
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool_int.h"
#include "slab.h"

#define DRAIN_WAIT_MS 1000 /* how long a released body may take to drain */

static void pool_dispatch(chc_pool *p);

/* {===================================================================
** Small helpers
** ==================================================================== */

static uint32_t hash_str(const char *k) {
  uint32_t h = 2166136261u;
  for (; *k; k++) h = (h ^ (uint8_t)*k) * 16777619u;
  return h;
}

void pool_timer(pconn *c, int kind, int64_t ms) {
  if (ms < 0) {
    chc_timer_stop(c->pool->lp, &c->timer);
    c->tkind = T_NONE;
    return;
  }
  c->tkind = kind;
  chc_timer_start(c->pool->lp, &c->timer, (uint64_t)ms);
}

/* A read buffer from the pool's cache (b stays empty if there is none). */
void pool_rbuf_get(chc_pool *p, chc_buf *b) {
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

/* An HTTP/1.1 state (from the cache, or new); NULL out of memory. */
h1conn *pool_h1_get(chc_pool *p) {
  return p->nh1s > 0 ? p->h1s[--p->nh1s] : calloc(1, sizeof(h1conn));
}

/* Gives c's HTTP/1.1 state back (its buffers keep their memory). */
void pool_h1_put(chc_pool *p, pconn *c) {
  if (c->h1 == NULL) return;
  if (p->nh1s < RBUF_CACHE && !p->closed)
    p->h1s[p->nh1s++] = c->h1;
  else
    h1conn_free(c->h1);
  c->h1 = NULL;
}

/* }=================================================================== */

/* {===================================================================
** Origins
** ==================================================================== */

static int grow_table(chc_pool *p) {
  size_t i, ns = p->tabsize ? p->tabsize * 2 : 16;
  origin **nt = calloc(ns, sizeof *nt);
  if (nt == NULL) return -1;
  for (i = 0; i < p->tabsize; i++) {
    origin *o, *next;
    for (o = p->tab[i]; o; o = next) {
      next = o->hnext;
      o->hnext = nt[o->hash & (ns - 1)];
      nt[o->hash & (ns - 1)] = o;
    }
  }
  free(p->tab);
  p->tab = nt;
  p->tabsize = ns;
  return 0;
}

static origin *origin_new(const char *key, uint32_t h, int https,
                          const char *host, int port) {
  size_t klen = strlen(key);
  origin *o = calloc(1, sizeof *o + klen + 1);
  char hb[300];
  int ipv6 = strchr(host, ':') != NULL;
  if (o == NULL) return NULL;
  memcpy(o->key, key, klen + 1);
  o->hash = h;
  o->https = https;
  o->port = port;
  o->host = strdup(host);
  if (port == (https ? 443 : 80))
    snprintf(hb, sizeof hb, ipv6 ? "[%s]" : "%s", host);
  else
    snprintf(hb, sizeof hb, ipv6 ? "[%s]:%d" : "%s:%d", host, port);
  o->hosthdr = strdup(hb);
  if (o->host == NULL || o->hosthdr == NULL) {
    free(o->host);
    free(o->hosthdr);
    free(o);
    return NULL;
  }
  chc_list_init(&o->idle);
  chc_list_init(&o->waiters);
  return o;
}

origin *pool_origin(chc_pool *p, int https, const char *host, int port) {
  char key[512];
  origin *o, *last = p->last;
  uint32_t h;
  /* most requests go where the previous one went: the key depends only
  ** on these (the TLS settings are the pool's) */
  if (last && last->https == https && last->port == port &&
      strcmp(last->host, host) == 0)
    return last;
  /* a TLS connection is only ever reused for the same name sent and
  ** checked, under the same TLS settings */
  if (https)
    snprintf(key, sizeof key, "s|%s|%d|%s|%u", host, port,
             chc_tls_conf_sni(p->tls, host), chc_tls_conf_id(p->tls));
  else
    snprintf(key, sizeof key, "h|%s|%d", host, port);
  if (p->proxy) /* never shared with direct connections or other proxies */
    snprintf(key + strlen(key), sizeof key - strlen(key), "|%s",
             p->proxy->key);
  h = hash_str(key);
  if (p->tab) {
    for (o = p->tab[h & (p->tabsize - 1)]; o; o = o->hnext)
      if (o->hash == h && strcmp(o->key, key) == 0) return p->last = o;
  }
  if (p->norigins >= p->tabsize && grow_table(p) < 0) return NULL;
  o = origin_new(key, h, https, host, port);
  if (o == NULL) return NULL;
  /* an http:// origin behind an HTTP proxy is forwarded (absolute form),
  ** unless it is spoken HTTP/2 with prior knowledge: that needs a tunnel */
  o->forward = p->proxy && !https && p->o.http1 &&
               (p->proxy->kind == CHC_PROXY_HTTP ||
                p->proxy->kind == CHC_PROXY_HTTPS);
  o->hnext = p->tab[h & (p->tabsize - 1)];
  p->tab[h & (p->tabsize - 1)] = o;
  p->norigins++;
  return p->last = o;
}

/* An origin nothing points to any more goes: a pool that has talked to
** many hosts over time holds only those it is using. */
void pool_origin_unref(chc_pool *p, origin *o) {
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
** Connections: open, close, reuse
** ==================================================================== */

static void pool_reap(chc_loop *lp, chc_defer *d) {
  chc_pool *p = chc_container_of(d, chc_pool, reap);
  CHC_UNUSED(lp);
  while (!chc_list_empty(&p->closing)) {
    pconn *c = chc_container_of(p->closing.next, pconn, gnode);
    chc_list_remove(&c->gnode);
    rbuf_put(p, &c->rbuf);
    chc_buf_free(&c->wbuf);
    pool_h1_put(p, c);
    h2conn_free(c);
    conn_free(c->t);
    pool_origin_unref(p, c->org);
    chc_mem_free(c);
    chc_mem_note(p->lp, 1);
  }
}

void pool_conn_unidle(pconn *c) {
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

void pool_conn_activate(pconn *c) {
  pool_conn_unidle(c);
  c->state = C_ACTIVE;
  pool_timer(c, T_NONE, -1);
}

/*
** Closes the connection: its protocol lets go of the streams (failing
** them with the error), then the transport closes, the slot is free and a
** waiter may have it. The memory is freed later (pool_reap).
*/
void pool_conn_close(pconn *c, int code, const char *fmt, ...) {
  chc_pool *p = c->pool;
  char msg[CHC_ERRMSG_MAX];
  va_list ap;
  int probe = c->probe;
  if (c->state == C_CLOSED) return;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (c->probe) { /* its origin's waiters must not wait for it now */
    c->probe = 0;
    c->org->h2_pending = 0;
  }
  c->ops->teardown(c, code, msg);
  pool_conn_unidle(c);
  chc_list_remove(&c->anode);
  if (c->t) conn_close(c->t);
  chc_timer_stop(p->lp, &c->timer);
  c->state = C_CLOSED;
  p->nconns--;
  chc_list_insert_tail(&p->closing, &c->gnode);
  chc_defer_queue(p->lp, &p->reap);
  pool_dispatch(p);
  /* the first connection to an h2-capable origin failed: the requests
  ** that waited for it try their own now, rather than wait out the pool
  ** timeout for a connection that is not coming (a dead HTTP/2
  ** connection's waiters: h2conn.c's teardown) */
  if (probe && !p->closed) pool_origin_rewait(c->org);
}

/* c serves s now (the protocol prepares the exchange). */
void pool_bind(pconn *c, chc_stream *s) {
  c->s = s;
  s->c = c;
  s->state = S_ACTIVE;
  s->attempts++;
  s->reused = c->reused;
}

static int replayable(const chc_stream *s) {
  return s->idempotent && s->body_kind != CHC_BODY_STREAM;
}

/* A failure on c could be a keep-alive connection the server had closed
** while it sat idle: reused, no response byte yet, a replayable request. */
int pool_stale_candidate(pconn *c, int got_bytes) {
  return c->s && c->reused && !got_bytes && replayable(c->s);
}

/*
** A reused keep-alive connection died before any byte of the response:
** the server most likely closed it while it sat idle. For a request that
** can be replayed, try again on another connection instead of failing.
** Returns 1 when the stream was moved on.
*/
int pool_retry_stale(pconn *c, int got_bytes) {
  chc_stream *s = c->s;
  if (!pool_stale_candidate(c, got_bytes) ||
      s->attempts > c->pool->o.max_keepalive + 1)
    return 0;
  h1_detach(s);
  s->state = S_WAIT;
  s->req_done = 0;
  pool_conn_close(c, CHC_OK, "stale");
  pool_stream_start(s);
  return 1;
}

/*
** Setup failed (conn.h's on_fail). With `retries` left, the stream tries
** again on a new connection (another slot holder may be ahead of it in
** the queue); otherwise it fails with the message.
*/
static void on_conn_fail(conn *t, void *ud, int code, const char *msg,
                         int final) {
  pconn *c = ud;
  chc_stream *s = c->s;
  CHC_UNUSED(t);
  if (final) {
    pool_conn_close(c, code, "%s", msg);
    return;
  }
  /* a certificate that failed verification will fail again */
  if (s && s->retries_left > 0 && !s->released && code != CHC_ETLS) {
    s->retries_left--;
    h1_detach(s);
    s->state = S_WAIT;
    pool_conn_close(c, CHC_OK, "retry");
    pool_stream_backoff(s, s->pool->o.retries - s->retries_left);
    return;
  }
  if (s && s->attempts > 1)
    pool_conn_close(c, code, "%s (%d attempts)", msg, s->attempts);
  else
    pool_conn_close(c, code, "%s", msg);
}

/* Keeps c idle (evicting the least recently used idle connection when
** max_keepalive is reached). */
void pool_conn_idle(pconn *c) {
  chc_pool *p = c->pool;
  origin *o = c->org;
  if (p->o.max_keepalive <= 0) {
    pool_conn_close(c, CHC_OK, "max_keepalive = 0");
    return;
  }
  if (p->nidle >= p->o.max_keepalive) {
    pconn *old = chc_container_of(p->idle.prev, pconn, gnode);
    pool_conn_close(old, CHC_OK, "evicted");
  }
  c->state = C_IDLE;
  c->reused = 1;
  c->idle_since = chc_loop_now(p->lp);
  chc_list_insert_head(&o->idle, &c->onode);
  chc_list_insert_head(&p->idle, &c->gnode);
  p->nidle++;
  pool_timer(c, T_IDLE, p->o.keepalive_expiry);
  /* the read buffer is not needed while idle (memory per idle conn): a
  ** few are kept by the pool for the next busy connection */
  if (c->rbuf.len == 0) rbuf_put(p, &c->rbuf);
  pool_h1_put(p, c); /* and the parser: idle connections stay small */
  /* the write buffer may have grown to a producer's largest chunk */
  if (c->wbuf.len == 0) chc_buf_free(&c->wbuf);
}

/* Puts a finished connection back: to a waiter of the same origin, else
** idle. */
void pool_conn_release(pconn *c) {
  chc_pool *p = c->pool;
  origin *o = c->org;
  if (c->own_h1) { /* HTTP/1.1 for one exchange only (its origin's other
                   ** requests may have to stay HTTP/2) */
    pool_conn_close(c, CHC_OK, "made for one request");
    return;
  }
  if (!chc_list_empty(&o->waiters)) {
    chc_stream *s = chc_container_of(o->waiters.next, chc_stream, owait);
    pool_stream_unwait(s);
    c->reused = 1;
    c->ops->start(c, s);
    return;
  }
  if (!chc_list_empty(&p->waiters)) {
    /* others wait for a slot (for another origin): give ours up */
    pool_conn_close(c, CHC_OK, "released");
    return;
  }
  pool_conn_idle(c);
}

/* The caller released a stream mid-body: c may read the rest away to be
** reused (1), unless a request waits for a slot (0). */
int pool_drain(pconn *c) {
  chc_stream *s = c->s;
  if (!chc_list_empty(&c->pool->waiters)) return 0;
  /* a rest that does not come quickly is not worth the slot */
  if (s->to.read < 0 || s->to.read > DRAIN_WAIT_MS) s->to.read = DRAIN_WAIT_MS;
  c->draining = 1;
  c->org->ndraining++;
  chc_list_insert_tail(&c->pool->draining, &c->gnode);
  return 1;
}

/* The first connection to an h2-capable origin turned out HTTP/1.1: the
** requests that waited for it need their own. */
static void probe_was_h1(pconn *c) {
  c->probe = 0;
  c->org->h2_pending = 0;
  pool_origin_rewait(c->org);
}

/* The requests waiting for o's HTTP/2 connection (not for a pool slot)
** ask again: that connection is not coming, or is gone. */
void pool_origin_rewait(origin *o) {
  chc_list moved;
  chc_list *n, *next;
  chc_list_init(&moved);
  for (n = o->waiters.next; n != &o->waiters; n = next) {
    chc_stream *w = chc_container_of(n, chc_stream, owait);
    next = n->next;
    if (chc_list_linked(&w->gwait)) continue; /* queued for a slot */
    pool_stream_unwait(w);
    chc_list_insert_tail(&moved, &w->owait);
  }
  while (!chc_list_empty(&moved)) {
    chc_stream *w = chc_container_of(moved.next, chc_stream, owait);
    chc_list_remove(&w->owait);
    pool_stream_start(w);
  }
}

/* HTTP/2 was agreed on c: the origin's new streams go there. */
void pool_h2_ready(pconn *c) {
  if (c->probe) {
    c->probe = 0;
    c->org->h2_pending = 0;
  }
  c->org->h2conn = c;
}

/* The chain is set up (conn.h's on_ready): pick the protocol. */
static void on_conn_ready(conn *t, void *ud) {
  pconn *c = ud;
  const char *alpn = conn_alpn(t);
  int h2 = c->own_h1 ? 0
           : c->org->https ? (alpn != NULL && strcmp(alpn, "h2") == 0)
                           : (!c->pool->o.http1 && c->pool->o.http2);
  if (!h2 && !c->pool->o.http1 && !c->own_h1) {
    pool_conn_close(c, CHC_EUNSUPPORTED, "%s did not agree to HTTP/2 (ALPN) "
                    "and the pool has http1 = false", t->peer);
    return;
  }
  if (!h2 && c->probe) probe_was_h1(c);
  c->state = C_ACTIVE;
  t->writable = 1;
  pool_timer(c, T_NONE, -1);
  if (h2)
    h2_start(c);
  else
    h1_begin(c);
}

static void on_conn_io(conn *t, void *ud, unsigned ev) {
  pconn *c = ud;
  CHC_UNUSED(t);
  c->ops->on_io(c, ev);
}

static const conn_owner pool_owner = {on_conn_ready, on_conn_fail,
                                      on_conn_io};

static void on_conn_timer(chc_loop *lp, chc_timer *t) {
  pconn *c = chc_container_of(t, pconn, timer);
  chc_stream *s = c->s;
  char b[32];
  int kind = c->tkind;
  CHC_UNUSED(lp);
  c->tkind = T_NONE;
  switch (kind) {
    case T_IDLE:
      pool_conn_close(c, CHC_OK, "keep-alive expired");
      break;
    case T_WRITE:
      if (c->h1 && h1_write_timed_out(c)) break; /* the response stands */
      pool_conn_close(c, CHC_EWRITE_TIMEOUT,
                      "sending the request to %s timed out after %s (the "
                      "server stopped reading)",
                      c->t->peer, chc_secs(s ? s->to.write : 0, b, sizeof b));
      break;
    case T_READ:
      pool_conn_close(c, CHC_EREAD_TIMEOUT,
                      "no data from %s for %s while %s", c->t->peer,
                      chc_secs(s ? s->to.read : 0, b, sizeof b),
                      s && s->has_head ? "reading the response body"
                                       : "waiting for the response");
      break;
    default:
      break;
  }
}

/* The setup's phases, recorded on the stream the connection is made for
** (conn.h's conn_tracer; only set when that stream is traced). */
static void on_conn_trace(conn *t, void *ud, int phase, int what,
                          const conn_step *st) {
  pconn *c = ud;
  chc_trace_rec *r;
  if (c->s == NULL || c->s->tr == NULL) return;
  r = stream_trace_add(c->s, phase, what);
  if (r == NULL) return;
  if (what == CHC_TR_FAILED) {
    r->ecode = t->ecode;
    snprintf(r->emsg, sizeof r->emsg, "%s", t->emsg);
  } else if (what == CHC_TR_COMPLETE && phase == CHC_TR_CONNECT) {
    struct sockaddr_storage sa;
    socklen_t n = sizeof sa;
    if (getpeername(t->io.fd, (struct sockaddr *)&sa, &n) == 0) {
      if (sa.ss_family == AF_INET) {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&sa)->sin_addr, r->addr,
                  sizeof r->addr);
        r->port = ntohs(((struct sockaddr_in *)&sa)->sin_port);
      } else if (sa.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&sa)->sin6_addr,
                  r->addr, sizeof r->addr);
        r->port = ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
      } else {
        snprintf(r->addr, sizeof r->addr, "%s", t->peer);
      }
    }
  } else if (what == CHC_TR_COMPLETE && phase == CHC_TR_TLS) {
    const chc_tls *tls = conn_tls_of(st);
    if (tls) {
      const char *a = chc_tls_alpn(tls);
      snprintf(r->alpn, sizeof r->alpn, "%s", a ? a : "");
      snprintf(r->tls_version, sizeof r->tls_version, "%s",
               chc_tls_version(tls));
      snprintf(r->cipher, sizeof r->cipher, "%s", chc_tls_cipher(tls));
    }
  } else if (phase == CHC_TR_PROXY || phase == CHC_TR_TLS) {
    snprintf(r->addr, sizeof r->addr, "%s", t->peer);
  }
}

/* Pushes a step onto t (which takes it), or -1 (t does not). */
static int push(conn *t, conn_step *st) {
  if (st == NULL) return -1;
  if (conn_push(t, st) == 0) return 0;
  st->type->free(st);
  return -1;
}

/* The proxy's steps, above the socket (which goes to the proxy): TLS to
** an https:// proxy, then the tunnel (CONNECT or SOCKS5) unless the
** origin is forwarded. 0, or -1 out of memory. */
static int proxy_steps(chc_pool *p, origin *o, conn *t) {
  chc_proxy *px = p->proxy;
  if (px->kind == CHC_PROXY_HTTPS &&
      push(t, conn_tls_step_new(px->tls, px->host, px->key)) < 0)
    return -1;
  if (!o->forward && push(t, conn_proxy_step_new(px, o->host, o->port)) < 0)
    return -1;
  return 0;
}

/* Opens a new connection for s (a slot is free): the socket step, the
** proxy's steps, and TLS above them for https. */
static void conn_open(chc_pool *p, chc_stream *s) {
  pconn *c = chc_mem_alloc(p->lp, sizeof *c); /* long-lived: a slab */
  origin *o = s->org;
  char peer[80];
  if (p->proxy)
    snprintf(peer, sizeof peer, "%s", p->proxy->name);
  else if (p->uds)
    snprintf(peer, sizeof peer, "%s", p->uds);
  else
    snprintf(peer, sizeof peer, strchr(o->host, ':') ? "[%s]:%d" : "%s:%d",
             o->host, o->port);
  if (c) c->t = conn_new(p->lp, peer, &pool_owner, c);
  if (c && c->t &&
      ((p->proxy && proxy_steps(p, o, c->t) < 0) ||
       (o->https &&
        push(c->t, s->own_h1 ? conn_tls_step_h1_new(p->tls, o->host, o->key)
                             : conn_tls_step_new(p->tls, o->host, o->key)) <
            0))) {
    conn_free(c->t);
    c->t = NULL;
  }
  if (c == NULL || c->t == NULL) {
    if (c) conn_free(c->t);
    chc_mem_free(c);
    stream_fail(s, CHC_ECONNECT, "out of memory");
    return;
  }
  c->pool = p;
  c->org = o;
  o->refs++;
  c->ops = &h1_ops;
  c->own_h1 = s->own_h1 ? 1 : 0;
  chc_list_init(&c->onode);
  chc_list_init(&c->gnode);
  if (s->h2_capable) { /* its origin's next requests wait for it */
    c->probe = 1;
    o->h2_pending = 1;
  }
  chc_list_insert_tail(&p->conns, &c->anode);
  chc_timer_init(&c->timer, on_conn_timer);
  c->state = C_SETUP;
  p->nconns++;
  pool_bind(c, s);
  if (s->tr) conn_set_tracer(c->t, on_conn_trace);
  if (p->proxy)
    conn_start(c->t, p->proxy->host, p->proxy->port, NULL, s->to.connect);
  else
    conn_start(c->t, o->host, o->port, p->uds, s->to.connect);
}

/*
** Takeover: c leaves the pool (its slot is free, the pool forgets it) and
** its transport goes to the caller, with the bytes read past the response
** head in *rest (the caller owns both: conn_set_owner, conn_free).
*/
conn *pool_conn_detach(pconn *c, chc_buf *rest) {
  conn *t = c->t;
  *rest = c->rbuf;
  memset(&c->rbuf, 0, sizeof c->rbuf);
  c->t = NULL;
  conn_set_owner(t, NULL, NULL);
  if (conn_pending(t) > 0) t->readable = 1; /* decrypted, not yet read */
  pool_conn_close(c, CHC_OK, "taken over");
  return t;
}

/* }=================================================================== */

/* {===================================================================
** Giving streams connections
** ==================================================================== */

/* Waits for a slot (in_pool: a connection slot, else only a stream slot
** on the origin's HTTP/2 connection). */
static void stream_wait(chc_stream *s, int in_pool) {
  chc_pool *p = s->pool;
  s->state = S_WAIT;
  if (in_pool) chc_list_insert_tail(&p->waiters, &s->gwait);
  chc_list_insert_tail(&s->org->waiters, &s->owait);
  p->nwaiting++;
  if (s->to.pool >= 0 && !chc_timer_active(&s->ptimer))
    chc_timer_start(p->lp, &s->ptimer, (uint64_t)s->to.pool);
}

/* Gives s a connection now, or queues it. */
void pool_stream_start(chc_stream *s) {
  chc_pool *p = s->pool;
  origin *o = s->org;
  if (s->h2_capable && o->h2conn && o->h2conn->state == C_IDLE &&
      chc_loop_now(p->lp) - o->h2conn->idle_since >=
          (uint64_t)p->o.keepalive_expiry)
    pool_conn_close(o->h2conn, CHC_OK, "keep-alive expired");
  if (s->h2_capable && o->h2conn)
    h2_ping_check(o->h2conn); /* is it still there? */
  if (s->h2_capable && (o->h2conn || o->h2_pending)) {
    pconn *c = o->h2conn;
    if (c && !c->h2->pinging && chc_h2_can_open(c->h2->engine)) {
      c->ops->start(c, s);
      return;
    }
    /* our policy: wait for a stream slot on the origin's HTTP/2
    ** connection (or for the connection being made), not a second one */
    stream_wait(s, 0);
    return;
  }
  while (!s->own_h1 && !chc_list_empty(&o->idle)) {
    pconn *c = chc_container_of(o->idle.next, pconn, onode);
    /* a plain script may not have stepped the loop for a long time: the
    ** expiry timer has not run, but the server may have given up */
    if (chc_loop_now(p->lp) - c->idle_since >=
        (uint64_t)p->o.keepalive_expiry) {
      pool_conn_close(c, CHC_OK, "keep-alive expired");
      continue;
    }
    pool_conn_activate(c);
    c->ops->start(c, s);
    return;
  }
  if (p->nconns >= p->o.max_connections && p->nidle > 0) {
    /* make room: drop the least recently used idle conn (other origin) */
    pconn *old = chc_container_of(p->idle.prev, pconn, gnode);
    pool_conn_close(old, CHC_OK, "evicted");
  } else if (p->nconns >= p->o.max_connections && o->ndraining == 0 &&
             !chc_list_empty(&p->draining)) {
    /* a request elsewhere beats saving a reconnect: give up a drain (a
    ** request to the same origin waits for the drained connection) */
    pconn *old = chc_container_of(p->draining.next, pconn, gnode);
    pool_conn_close(old, CHC_OK, "drain abandoned for a waiting request");
  }
  if (p->nconns < p->o.max_connections && chc_list_empty(&p->waiters)) {
    conn_open(p, s);
    return;
  }
  stream_wait(s, 1);
}

void pool_stream_hold(chc_stream *s) { stream_wait(s, 0); }

void pool_stream_own_h1(chc_stream *s) {
  s->h2_capable = 0;
  s->own_h1 = 1;
  pool_stream_start(s);
}

/* A slot may be free: let the first waiter open a connection. */
static void pool_dispatch(chc_pool *p) {
  while (!p->closed && !chc_list_empty(&p->waiters) &&
         p->nconns < p->o.max_connections) {
    chc_stream *s = chc_container_of(p->waiters.next, chc_stream, gwait);
    pconn *h2c = s->org->h2conn;
    pool_stream_unwait(s);
    if (s->h2_capable && h2c && chc_h2_can_open(h2c->h2->engine))
      h2c->ops->start(h2c, s);
    else
      conn_open(p, s);
  }
}

/* }=================================================================== */

/* {===================================================================
** The pool object
** ==================================================================== */

void chc_pool_opts_default(chc_pool_opts *o) {
  memset(o, 0, sizeof *o);
  o->max_connections = 100;
  o->max_keepalive = 20;
  o->keepalive_expiry = 5000;
  o->h2_ping_after = 10000;
  o->http1 = 1;
  o->to.connect = o->to.read = o->to.write = o->to.pool = 30000;
  o->to.total = -1;
  o->max_header_size = 65536;
}

chc_pool *chc_pool_new(chc_loop *lp, const chc_pool_opts *o) {
  chc_pool *p = calloc(1, sizeof *p);
  if (p == NULL) {
    chc_tls_conf_free(o->tls);
    chc_proxy_free(o->proxy);
    return NULL;
  }
  p->lp = lp;
  p->o = *o;
  p->tls = o->tls;
  p->o.tls = NULL;
  p->proxy = o->proxy;
  p->o.proxy = NULL;
  if (o->max_connections <= 0) p->o.max_connections = 1;
  if (o->uds) {
    p->uds = strdup(o->uds);
    if (p->uds == NULL) {
      chc_tls_conf_free(p->tls);
      chc_proxy_free(p->proxy);
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
  chc_list_init(&p->backoff);
  p->jitter = (uint32_t)(chc_loop_now(lp) ^ (uintptr_t)p) | 1;
  chc_defer_init(&p->reap, pool_reap);
  p->refs = 1;
  return p;
}

const chc_timeouts *chc_pool_timeouts(const chc_pool *p) { return &p->o.to; }

void pool_unref(chc_pool *p) {
  size_t i;
  if (--p->refs > 0) return;
  while (p->free_streams) {
    chc_stream *s = p->free_streams;
    p->free_streams = (chc_stream *)s->ud;
    stream_destroy(s);
  }
  while (p->nrbufs > 0) free(p->rbufs[--p->nrbufs]);
  while (p->nh1s > 0) h1conn_free(p->h1s[--p->nh1s]);
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
  chc_proxy_free(p->proxy);
  free(p);
}

void chc_pool_free(chc_pool *p) {
  while (!chc_list_empty(&p->backoff) || !chc_list_empty(&p->waiters)) {
    chc_list *l = chc_list_empty(&p->backoff) ? &p->waiters : &p->backoff;
    chc_stream *s = chc_container_of(l->next, chc_stream, gwait);
    pool_stream_unwait(s);
    s->state = S_DONE;
    stream_fail(s, CHC_ECLOSED, "the pool was closed");
  }
  p->closed = 1;
  while (!chc_list_empty(&p->conns)) {
    pconn *c = chc_container_of(p->conns.next, pconn, anode);
    pool_conn_close(c, CHC_ECLOSED, "the pool was closed");
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

/* }=================================================================== */
