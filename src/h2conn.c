/*
** h2conn.c: HTTP/2 connections (h2_ops): the glue between the engine
** (h2.c) and a pooled connection.
**
** One engine per connection, many streams. The connection reads until
** EAGAIN whatever the readers do (flow control is the backpressure), and
** flushes the engine's frames once per loop iteration (a deferred
** callback, `pump`), after any call that may have queued frames. Engine
** callbacks only record and wake; what they record (streams to retry,
** freed slots, GOAWAY) is acted on by h2_settle() once the engine call
** returned. Timeouts are per stream (rtimer).
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool_int.h"

static void h2_dirty(pconn *c);
static void h2_settle(pconn *c);
static void h2_on_io(pconn *c, unsigned ev);

static const char *stream_peer(const chc_stream *s) { return s->org->hosthdr; }

static chc_stream *of_node(chc_list *n) {
  return chc_container_of(n, h2_stream, cnode)->s;
}

static void h2_stream_finished(chc_stream *s) {
  h2_stream *x = s->h2;
  if (!x->done) {
    x->done = 1;
    if (s->c) s->c->h2->nactive--;
  }
  chc_timer_stop(s->pool->lp, &x->rtimer);
}

/* {===================================================================
** Engine callbacks: they only record and wake
** ==================================================================== */

static void h2_cb_head(chc_h2_stream *st, void *ud) {
  chc_stream *s = ud;
  s->status = chc_h2_stream_status(st);
  s->major = 2;
  s->minor = 0;
  chc_buf_reset(&s->reason);
  chc_buf_append(&s->reason, "", 1);
  chc_hlist_move(&s->fields, chc_h2_stream_headers(st));
  s->has_head = 1;
  if (s->h2->protocol && s->status >= 200 && s->status <= 299) {
    /* an extended CONNECT opened a tunnel: from now on its owner's own
    ** timers apply (a WebSocket's ping and close), not the request's */
    s->to.read = s->to.write = s->to.total = -1;
    chc_timer_stop(s->pool->lp, &s->ttimer);
  }
  STREAM_TRACE(s, stream_trace_head);
  /* a write timeout goes on: the body still waits for the server */
  if (!s->h2->rt_write) chc_timer_stop(s->pool->lp, &s->h2->rtimer);
  stream_notify(s);
}

static void h2_cb_data(chc_h2_stream *st, void *ud, size_t n) {
  chc_stream *s = ud;
  CHC_UNUSED(st);
  CHC_UNUSED(n);
  if (!s->h2->rt_write) chc_timer_stop(s->pool->lp, &s->h2->rtimer);
  stream_notify(s);
}

static void h2_cb_end(chc_h2_stream *st, void *ud) {
  chc_stream *s = ud;
  chc_hlist *t = chc_h2_stream_trailers(st);
  if (t && t->n > 0) chc_hlist_move(&s->trailers, t);
  s->resp_done = 1;
  chc_timer_stop(s->pool->lp, &s->ttimer);
  h2_stream_finished(s);
  stream_notify(s);
}

static void h2_cb_error(chc_h2_stream *st, void *ud) {
  chc_stream *s = ud;
  const chc_error *e = chc_h2_stream_error(st);
  pconn *c = s->c;
  /* a producer's bytes went into the stream that failed: they cannot
  ** be sent again, so such a request is not retried once it started */
  int replay = s->h2->body_kind != CHC_BODY_STREAM ||
               (s->sent == 0 && !s->body_ended);
  if (chc_h2_stream_retryable(st) && replay && !s->released && c &&
      s->attempts <= c->pool->o.max_keepalive + 2) {
    /* the server certainly did not process it: another connection */
    h2_stream_finished(s);
    chc_list_remove(&s->h2->cnode);
    chc_list_insert_tail(&c->h2->retryq, &s->h2->cnode);
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
  h2_stream *x = s->h2;
  chc_timer_stop(s->pool->lp, &x->rtimer);
  x->rt_write = s->to.write >= 0;
  if (x->rt_write)
    chc_timer_start(s->pool->lp, &x->rtimer, (uint64_t)s->to.write);
}

static void h2_cb_writable(chc_h2_stream *st, void *ud) {
  chc_stream *s = ud;
  CHC_UNUSED(st);
  if (s->h2->body_kind == CHC_BODY_BYTES || s->body_ended) {
    /* the rest of the body went on: wait afresh (no producer to wake) */
    if (!s->req_done) h2_write_wait(s);
    return;
  }
  if (s->h2->rt_write) { /* the server took bytes: its window moved */
    s->h2->rt_write = 0;
    chc_timer_stop(s->pool->lp, &s->h2->rtimer);
  }
  stream_notify(s);
}

static void h2_cb_sent(chc_h2_stream *st, void *ud) {
  chc_stream *s = ud;
  CHC_UNUSED(st);
  s->req_done = 1;
  STREAM_TRACE(s, stream_trace_sent);
  s->h2->rt_write = 0;
  chc_timer_stop(s->pool->lp, &s->h2->rtimer);
  if (!s->has_head && s->to.read >= 0)
    chc_timer_start(s->pool->lp, &s->h2->rtimer, (uint64_t)s->to.read);
}

static void h2_cb_slots(chc_h2 *h2, void *cud) {
  CHC_UNUSED(h2);
  ((pconn *)cud)->h2->slots = 1;
}

static void h2_cb_goaway(chc_h2 *h2, void *cud, int32_t last, uint32_t code) {
  pconn *c = cud;
  CHC_UNUSED(h2);
  CHC_UNUSED(last);
  CHC_UNUSED(code);
  c->h2->goaway = 1;
  if (c->org->h2conn == c) c->org->h2conn = NULL; /* new streams elsewhere */
}

/* The server answered the liveness PING: the connection takes streams
** again (h2_settle lets the origin's waiters in). */
static void h2_cb_ping_ack(chc_h2 *h2, void *cud) {
  h2conn *h = ((pconn *)cud)->h2;
  CHC_UNUSED(h2);
  if (!h->pinging) return;
  h->pinging = 0;
  h->suspect = 0;
  h->slots = 1;
  chc_timer_stop(h->c->pool->lp, &h->ptimer);
}

static const chc_h2_callbacks h2_callbacks = {
    h2_cb_head,     h2_cb_data,  h2_cb_end,    h2_cb_error, h2_cb_writable,
    h2_cb_sent,     h2_cb_slots, h2_cb_goaway, h2_cb_ping_ack};

/* }=================================================================== */

static void on_stream_rtimer(chc_loop *lp, chc_timer *t) {
  h2_stream *x = chc_container_of(t, h2_stream, rtimer);
  chc_stream *s = x->s;
  char b[32];
  CHC_UNUSED(lp);
  if (x->st == NULL) return;
  chc_h2_stream_cancel(x->st);
  h2_stream_finished(s);
  if (s->c) s->c->h2->suspect = 1; /* check it before the next stream */
  if (x->rt_write)
    stream_fail(s, CHC_EWRITE_TIMEOUT, "sending the request body to %s "
                "timed out after %s (the server's HTTP/2 flow-control window "
                "stayed closed: it stopped taking the body)",
                stream_peer(s), chc_secs(s->to.write, b, sizeof b));
  else
    stream_fail(s, CHC_EREAD_TIMEOUT, "no data from %s for %s while %s",
                stream_peer(s), chc_secs(s->to.read, b, sizeof b),
                s->has_head ? "reading the response body"
                            : "waiting for the response");
  if (s->c) {
    h2_dirty(s->c);
    h2_settle(s->c);
  }
}

/* An extended CONNECT (RFC 8441) waits for the server's SETTINGS ("A
** client MUST NOT send a :protocol pseudo-header field unless it has
** received SETTINGS_ENABLE_CONNECT_PROTOCOL"). */
static int h2_held(const pconn *c, const chc_stream *s) {
  return s->h2->protocol && !chc_h2_settings_received(c->h2->engine);
}

/* h2_ops.start: submits s on c (which can take a stream now). An
** extended CONNECT before the server's SETTINGS waits on the origin for
** them; one the server did not enable goes to HTTP/1.1. */
static void h2_submit(pconn *c, chc_stream *s) {
  chc_error e = {CHC_OK, ""};
  h2_stream *x = s->h2;
  chc_h2_request rq;
  if (x->protocol && h2_held(c, s)) {
    pool_stream_hold(s);
    return;
  }
  if (x->protocol && !chc_h2_connect_protocol(c->h2->engine)) {
    pool_stream_own_h1(s);
    return;
  }
  rq.method = x->method;
  rq.scheme = s->org->https ? "https" : "http";
  rq.authority = s->org->hosthdr;
  rq.path = x->target;
  rq.headers = &x->headers;
  rq.body_kind = x->body_kind;
  rq.body = x->body;
  rq.body_len = x->body_len;
  rq.protocol = x->protocol;
  x->st = chc_h2_submit(c->h2->engine, &rq, s, &e);
  s->attempts++;
  if (x->st == NULL) {
    s->state = S_DONE;
    stream_fail(s, e.code ? e.code : CHC_ELOCAL_PROTO, "%s", e.msg);
    return;
  }
  if (c->state == C_IDLE) pool_conn_activate(c);
  s->c = c;
  STREAM_TRACE(s, stream_trace_request);
  s->state = S_ACTIVE;
  s->reused = c->reused || c->h2->nactive > 0; /* sharing counts */
  x->done = 0;
  s->req_done = 0;
  chc_list_insert_tail(&c->h2->streams, &x->cnode);
  c->h2->nactive++;
  x->rt_write = 0;
  if (x->body_kind == CHC_BODY_BYTES && x->body_len > 0)
    h2_write_wait(s);
  else if ((x->body_kind != CHC_BODY_STREAM || x->protocol) &&
           s->to.read >= 0) /* (a tunnel's answer comes before its end) */
    chc_timer_start(c->pool->lp, &x->rtimer, (uint64_t)s->to.read);
  h2_dirty(c);
  if (x->body_kind == CHC_BODY_STREAM) stream_notify(s); /* producer: go */
}

static void on_h2_pump(chc_loop *lp, chc_defer *d);

/* {===================================================================
** Liveness: a PING before reusing a connection idle for long
** ==================================================================== */

/* What the ACK may take: the connect timeout (a new connection would
** have had that long), or this when the pool has none. */
#define PING_WAIT_MS 10000

static int64_t ping_wait(const pconn *c) {
  return c->pool->o.to.connect >= 0 ? c->pool->o.to.connect : PING_WAIT_MS;
}

/* No ACK in time: the server (or the path to it) is gone without a word.
** Nothing was sent on the connection for the waiters, so they go to a new
** one (h2_teardown); streams still on it (after a stream's timeout) fail
** with ReadTimeout. */
static void on_ping_timeout(chc_loop *lp, chc_timer *t) {
  h2conn *h = chc_container_of(t, h2conn, ptimer);
  pconn *c = h->c;
  char b[32];
  CHC_UNUSED(lp);
  pool_conn_close(c, CHC_EREAD_TIMEOUT,
                  "no PING acknowledgement from %s within %s", c->t->peer,
                  chc_secs(ping_wait(c), b, sizeof b));
}

/*
** An idle connection is the one least likely to be known dead: a server
** or a middlebox may have dropped it silently, and a stream put on it
** would only find out at the read timeout. Past h2_ping_after, the next
** stream waits (as for a stream slot) until the server answers a PING.
** So does the next stream after one timed out waiting for the server
** (suspect): otherwise every request after it would go to the same
** silent connection and time out in turn.
*/
void h2_ping_check(pconn *c) {
  h2conn *h = c->h2;
  int64_t after = c->pool->o.h2_ping_after;
  if (h->pinging || after < 0) return;
  if (!h->suspect &&
      (c->state != C_IDLE ||
       chc_loop_now(c->pool->lp) - c->idle_since < (uint64_t)after))
    return;
  if (chc_h2_ping(h->engine) < 0) {
    pool_conn_close(c, CHC_OK, "unusable HTTP/2 connection");
    return;
  }
  if (c->state == C_IDLE)
    pool_conn_activate(c); /* off the idle lists: it is being checked */
  h->pinging = 1;
  chc_timer_start(c->pool->lp, &h->ptimer, (uint64_t)ping_wait(c));
  h2_dirty(c);
}

/* }=================================================================== */

void h2_start(pconn *c) {
  chc_error e = {CHC_OK, ""};
  chc_stream *s = c->s;
  h2conn *h = calloc(1, sizeof *h);
  pool_h1_put(c->pool, c);
  if (h == NULL) {
    pool_conn_close(c, CHC_ECONNECT, "out of memory");
    return;
  }
  h->c = c;
  chc_list_init(&h->streams);
  chc_list_init(&h->retryq);
  chc_defer_init(&h->pump, on_h2_pump);
  chc_timer_init(&h->ptimer, on_ping_timeout);
  c->h2 = h;
  h->engine = chc_h2_new(NULL, &h2_callbacks, c, &e);
  if (h->engine == NULL) {
    pool_conn_close(c, e.code ? e.code : CHC_ECONNECT, "%s", e.msg);
    return;
  }
  c->ops = &h2_ops;
  chc_buf_reset(&c->wbuf);
  h2_dirty(c); /* our preface and SETTINGS, whatever is submitted */
  pool_h2_ready(c);
  if (s) {
    c->s = NULL;
    s->c = NULL;
    s->attempts--; /* pool_bind counted it; h2_submit counts again */
    h2_submit(c, s);
  }
  h->slots = 1;
  h2_settle(c);
  if (c->state != C_CLOSED && c->t->readable) h2_on_io(c, CHC_EV_READ);
}

void h2conn_free(pconn *c) {
  if (c->h2 == NULL) return;
  if (c->h2->engine) chc_h2_free(c->h2->engine);
  free(c->h2);
  c->h2 = NULL;
}

/* Moves the streams the engine marked retryable to another connection
** (pool_stream_start: the origin's HTTP/2 connection if it can take
** them, a new one, or the queue). */
static void h2_retry_streams(pconn *c) {
  while (!chc_list_empty(&c->h2->retryq)) {
    chc_stream *s = of_node(c->h2->retryq.next);
    chc_list_remove(&s->h2->cnode);
    chc_h2_stream_release(s->h2->st);
    s->h2->st = NULL;
    s->c = NULL;
    s->state = S_WAIT;
    s->req_done = 0;
    pool_stream_start(s);
  }
}

/*
** Acts on what the engine's callbacks recorded: streams to retry on
** another connection, free stream slots for the origin's waiters, and
** the end of the connection (GOAWAY done, or nothing left to do).
*/
static void h2_settle(pconn *c) {
  origin *o = c->org;
  h2conn *h = c->h2;
  h2_retry_streams(c);
  if (c->state == C_CLOSED) return;
  if (h->pinging) { /* nothing new goes on it, nor does it go idle, yet */
    if (chc_h2_want_write(h->engine)) h2_dirty(c);
    return;
  }
  if (h->slots && o->h2conn == c) {
    h->slots = 0;
    while (!chc_list_empty(&o->waiters) && chc_h2_can_open(h->engine)) {
      chc_stream *s = chc_container_of(o->waiters.next, chc_stream, owait);
      if (h2_held(c, s)) break; /* on_slots comes with the SETTINGS */
      pool_stream_unwait(s);
      h2_submit(c, s);
    }
  }
  /* (a new connection whose only business is an extended CONNECT held
  ** for the SETTINGS has no stream yet: it is not idle) */
  if (h->nactive == 0 && c->state == C_ACTIVE &&
      !(o->h2conn == c && !chc_h2_settings_received(h->engine) &&
        !chc_list_empty(&o->waiters))) {
    if (h->goaway || !chc_h2_want_read(h->engine) || o->h2conn != c)
      pool_conn_close(c, CHC_OK, "HTTP/2 connection finished");
    else
      pool_conn_idle(c);
    return;
  }
  if (chc_h2_want_write(h->engine)) h2_dirty(c);
}

static void h2_dirty(pconn *c) {
  if (c->state != C_CLOSED && c->h2 && c->h2->engine)
    chc_defer_queue(c->pool->lp, &c->h2->pump);
}

/* Writes the engine's frames until it has none or the socket is full. */
static void h2_pump(pconn *c) {
  chc_h2 *engine = c->h2->engine;
  while (c->state != C_CLOSED) {
    struct iovec iov;
    ssize_t n;
    if (c->wbuf.len < WBUF_LOW && chc_h2_want_write(engine)) {
      if (chc_h2_flush(engine, &c->wbuf, WBUF_HIGH) < 0) {
        const chc_error *e = chc_h2_error(engine);
        pool_conn_close(c, e ? e->code : CHC_EWRITE, "%s",
                        e ? e->msg : "HTTP/2 failure");
        return;
      }
      h2_settle(c);
      if (c->state == C_CLOSED) return;
    }
    if (c->wbuf.len == 0) break;
    if (!c->t->writable) break;
    iov.iov_base = chc_buf_head(&c->wbuf);
    iov.iov_len = c->wbuf.len;
    n = conn_send(c->t, &iov, 1);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        c->t->writable = 0;
        break;
      }
      pool_conn_close(c, CHC_EWRITE, "sending to %s failed: %s", c->t->peer,
                      conn_strerror(c->t, errno));
      return;
    }
    chc_buf_consume(&c->wbuf, (size_t)n);
  }
  if (c->state == C_CLOSED) return;
  if (c->wbuf.len > 0 && !c->t->writable) {
    if (c->tkind != T_WRITE) pool_timer(c, T_WRITE, c->pool->o.to.write);
  } else if (c->tkind == T_WRITE) {
    pool_timer(c, T_NONE, -1);
  }
}

static void on_h2_pump(chc_loop *lp, chc_defer *d) {
  CHC_UNUSED(lp);
  h2_pump(chc_container_of(d, h2conn, pump)->c);
}

/* The engine refused the peer's bytes: every stream has heard; try to
** tell the server (GOAWAY), then close. */
static void feed_failed(pconn *c) {
  const chc_error *e = chc_h2_error(c->h2->engine);
  char m[CHC_ERRMSG_MAX];
  snprintf(m, sizeof m, "%s", e ? e->msg : "HTTP/2 protocol error");
  h2_settle(c);
  if (c->state != C_CLOSED) {
    h2_pump(c);
    if (c->state != C_CLOSED)
      pool_conn_close(c, CHC_EREMOTE_PROTO, "%s (from %s)", m, c->t->peer);
  }
}

/* Reads and feeds until EAGAIN. */
static void h2_read(pconn *c) {
  while (c->state != C_CLOSED && c->t->readable) {
    ssize_t n;
    if (c->rbuf.cap == 0) pool_rbuf_get(c->pool, &c->rbuf);
    if (c->rbuf.cap < RBUF_SIZE && chc_buf_reserve(&c->rbuf, RBUF_SIZE) < 0) {
      pool_conn_close(c, CHC_EREAD, "out of memory");
      return;
    }
    chc_buf_reset(&c->rbuf);
    n = conn_recv(c->t, c->rbuf.data, c->rbuf.cap);
    if (n > 0) {
      if (chc_h2_feed(c->h2->engine, (const uint8_t *)c->rbuf.data,
                      (size_t)n) < 0) {
        feed_failed(c);
        return;
      }
      h2_settle(c);
      continue;
    }
    if (n == 0) {
      c->t->readable = 0;
      pool_conn_close(c, CHC_EREMOTE_PROTO, "%s closed the HTTP/2 connection",
                      c->t->peer);
      return;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      c->t->readable = 0;
      break;
    }
    pool_conn_close(c, CHC_EREAD, "reading from %s: %s", c->t->peer,
                    conn_strerror(c->t, errno));
    return;
  }
  if (c->state != C_CLOSED && chc_h2_want_write(c->h2->engine)) h2_dirty(c);
}

static void h2_on_io(pconn *c, unsigned ev) {
  if (ev & CHC_EV_WRITE) {
    c->t->writable = 1;
    if (c->wbuf.len > 0 || chc_h2_want_write(c->h2->engine)) h2_pump(c);
    if (c->state == C_CLOSED) return;
  }
  if (ev & CHC_EV_READ) {
    c->t->readable = 1;
    h2_read(c);
  }
}

/*
** The connection is closing: the engine fails its live streams (the
** ones the server never processed are moved to another connection), and
** the streams let go of the connection. The engine itself is freed at
** reap time.
*/
static void h2_teardown(pconn *c, int code, const char *msg) {
  h2conn *h = c->h2;
  int rewait = (c->org->h2conn == c || c->org->h2conn == NULL) &&
               c->state != C_IDLE;
  if (c->org->h2conn == c) c->org->h2conn = NULL;
  chc_defer_cancel(c->pool->lp, &h->pump);
  chc_timer_stop(c->pool->lp, &h->ptimer);
  h->pinging = 0;
  /* requests waiting for a stream slot here (or for the PING's ACK; or
  ** here after a GOAWAY, with no other connection) would wait for nothing
  ** now: they ask again (a new connection, or the one being made). An idle
  ** connection has none, and is still on the idle lists a new request
  ** could take it from. */
  if (rewait && !c->org->h2_pending && !c->pool->closed)
    pool_origin_rewait(c->org);
  if (h->engine == NULL) return;
  if (chc_h2_error(h->engine) == NULL)
    chc_h2_abort(h->engine, code != CHC_OK ? code : CHC_ECLOSED, "%s", msg);
  h2_retry_streams(c);
  while (!chc_list_empty(&h->streams)) {
    chc_stream *s = of_node(h->streams.next);
    chc_list_remove(&s->h2->cnode);
    h2_stream_finished(s);
    s->c = NULL;
    if (s->state == S_ACTIVE) s->state = S_DONE;
  }
}

/* {===================================================================
** The stream API over HTTP/2
** ==================================================================== */

static int h2_peek(chc_stream *s, const char **p, size_t *n) {
  h2_stream *x = s->h2;
  int r = chc_h2_stream_peek(x->st, p, n);
  /* the read timeout runs while the reader waits for the server */
  if (r == 0 && s->err.code == CHC_OK && !s->resp_done && s->req_done &&
      s->to.read >= 0 && !chc_timer_active(&x->rtimer)) {
    x->rt_write = 0;
    chc_timer_start(s->pool->lp, &x->rtimer, (uint64_t)s->to.read);
  }
  if (r < 0 && s->err.code != CHC_OK) return 0;
  return r;
}

/* Reopens the window: WINDOW_UPDATE at the next flush. */
static void h2_consume(chc_stream *s, size_t n) {
  chc_h2_stream_consume(s->h2->st, n);
  if (s->c) h2_dirty(s->c);
}

static int h2_writable(chc_stream *s) {
  h2_stream *x = s->h2;
  int w;
  if (s->err.code != CHC_OK || s->released) return -1;
  w = chc_h2_stream_writable(x->st);
  /* the producer waits for the server's window: that is a write wait */
  if (w == 0 && s->to.write >= 0 && !chc_timer_active(&x->rtimer)) {
    x->rt_write = 1;
    chc_timer_start(s->pool->lp, &x->rtimer, (uint64_t)s->to.write);
  }
  return w;
}

static int h2_write(chc_stream *s, const char *p, size_t n) {
  if (chc_h2_stream_write(s->h2->st, p, n) < 0) return -1;
  h2_dirty(s->c);
  return 0;
}

static int h2_write_end(chc_stream *s) {
  if (chc_h2_stream_write_end(s->h2->st) < 0) return -1;
  h2_write_wait(s); /* what is queued waits for the server's window */
  h2_dirty(s->c);
  return 0;
}

/* Only this stream goes (RST_STREAM), not the connection. */
static void h2_cancel(chc_stream *s, int code, const char *msg) {
  pconn *c = s->c;
  CHC_UNUSED(code);
  CHC_UNUSED(msg);
  chc_h2_stream_cancel(s->h2->st);
  h2_stream_finished(s);
  if (c) {
    h2_dirty(c);
    h2_settle(c);
  }
}

/* Resets the stream if it is not complete. */
static void h2_release(chc_stream *s) {
  pconn *c = s->c;
  chc_h2_stream_release(s->h2->st);
  s->h2->st = NULL;
  if (c) {
    chc_list_remove(&s->h2->cnode);
    h2_stream_finished(s);
    s->c = NULL;
    h2_dirty(c);
    h2_settle(c);
  }
  stream_free(s);
}

static size_t h2_buffered(const chc_stream *s) {
  return chc_h2_stream_buffered(s->h2->st);
}

/* }=================================================================== */

int h2_stream_prepare(chc_stream *s, const char *method, const char *target,
                      const chc_hlist *headers, int body_kind,
                      const char *body, size_t body_len,
                      const char *protocol) {
  h2_stream *x = s->h2; /* stream.c's memory, right after the stream */
  size_t i;
  x->s = s;
  chc_timer_init(&x->rtimer, on_stream_rtimer);
  chc_list_init(&x->cnode);
  x->method = strdup(method);
  x->target = strdup(target);
  x->body_kind = body_kind;
  x->body = body;
  x->body_len = body_kind == CHC_BODY_BYTES ? body_len : 0;
  x->protocol = protocol ? strdup(protocol) : NULL;
  if (x->method == NULL || x->target == NULL || (protocol && !x->protocol))
    return -1;
  for (i = 0; headers && i < headers->n; i++)
    if (chc_hlist_add(&x->headers, chc_hlist_name(headers, i),
                      headers->f[i].name_len, chc_hlist_value(headers, i),
                      headers->f[i].value_len) < 0)
      return -1;
  return 0;
}

void h2_stream_reset(chc_stream *s) {
  h2_stream *x = s->h2;
  chc_timer_stop(s->pool->lp, &x->rtimer);
  free(x->method);
  free(x->target);
  free(x->protocol);
  x->method = x->target = x->protocol = NULL;
  x->st = NULL;
  x->done = 0;
  x->rt_write = 0;
  chc_hlist_reset(&x->headers);
}

void h2_stream_destroy(chc_stream *s) {
  chc_hlist_free(&s->h2->headers);
  free(s->h2->method);
  free(s->h2->target);
  free(s->h2->protocol);
}

const proto_ops h2_ops = {h2_submit,    h2_on_io,    h2_teardown,
                          h2_peek,      h2_consume,  h2_writable,
                          h2_write,     h2_write_end, h2_cancel,
                          h2_release,   h2_buffered};
