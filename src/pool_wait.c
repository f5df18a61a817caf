/*
** pool_wait.c: a stream's waits and deadlines in the pool: leaving the
** waiter lists, the pool timeout (with a message that names what it
** waited for), the total deadline, and the backoff before a retried
** connect. pool.c decides when a stream waits; this file ends the wait.
*/
#include <stdint.h>
#include <stdio.h>

#include "pool_int.h"

void pool_stream_unwait(chc_stream *s) {
  if (chc_list_linked(&s->gwait)) chc_list_remove(&s->gwait);
  if (chc_list_linked(&s->owait)) {
    chc_list_remove(&s->owait);
    s->pool->nwaiting--;
  }
  chc_timer_stop(s->pool->lp, &s->ptimer);
  chc_timer_stop(s->pool->lp, &s->btimer);
}

static void on_pool_timeout(chc_loop *lp, chc_timer *t) {
  chc_stream *s = chc_container_of(t, chc_stream, ptimer);
  char b[32];
  pconn *h2c = s->org->h2conn;
  /* waiting on the origin only: for a stream slot on its HTTP/2
  ** connection (or for that connection being made), not for a pool slot */
  int h2wait = !chc_list_linked(&s->gwait);
  CHC_UNUSED(lp);
  pool_stream_unwait(s);
  s->state = S_DONE;
  chc_secs(s->to.pool, b, sizeof b);
  if (h2wait && h2c && h2c->h2 && h2c->h2->engine && s->h2->protocol &&
      !chc_h2_settings_received(h2c->h2->engine)) {
    stream_fail(s, CHC_EPOOL_TIMEOUT,
                "%s sent no HTTP/2 SETTINGS within %s (an extended CONNECT "
                "waits for them: RFC 8441 3)", s->org->hosthdr, b);
    /* a server that has not sent its SETTINGS in all that time is not
    ** one to keep a connection to (h2conn.c kept it for the CONNECT) */
    if (h2c->state == C_ACTIVE && h2c->h2->nactive == 0 &&
        chc_list_empty(&s->org->waiters))
      pool_conn_close(h2c, CHC_OK, "no HTTP/2 SETTINGS from the server");
  } else if (h2wait && h2c && h2c->h2 && h2c->h2->engine)
    stream_fail(s, CHC_EPOOL_TIMEOUT,
                "no HTTP/2 stream to %s became free within %s (the server "
                "allows %u concurrent streams)",
                s->org->hosthdr, b,
                (unsigned)chc_h2_max_streams(h2c->h2->engine));
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

/* The total deadline: the stream fails with the phase it interrupted;
** its protocol stops the exchange (HTTP/1.1: the connection goes). */
static void on_total_timeout(chc_loop *lp, chc_timer *t) {
  chc_stream *s = chc_container_of(t, chc_stream, ttimer);
  pconn *c = s->c;
  char b[32];
  int code;
  const char *what;
  CHC_UNUSED(lp);
  chc_secs(s->to.total, b, sizeof b);
  if (s->state == S_WAIT) {
    pool_stream_unwait(s);
    s->state = S_DONE;
    code = CHC_EPOOL_TIMEOUT;
    what = "waiting for a connection";
  } else if (c && c->state == C_SETUP) {
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
  stream_ops(s)->cancel(s, code, "total timeout");
}

/* The backoff is over: the stream asks for a connection again. */
static void on_backoff(chc_loop *lp, chc_timer *t) {
  chc_stream *s = chc_container_of(t, chc_stream, btimer);
  CHC_UNUSED(lp);
  chc_list_remove(&s->gwait);
  pool_stream_start(s);
}

void pool_stream_timers_init(chc_stream *s) {
  chc_timer_init(&s->ptimer, on_pool_timeout);
  chc_timer_init(&s->ttimer, on_total_timeout);
  chc_timer_init(&s->btimer, on_backoff);
}

/*
** Retry k (1, 2, ...) waits RETRY_BASE_MS * 2^(k-1), capped at
** RETRY_CAP_MS, times a random factor in [0.5, 1) ("equal jitter"): a
** server that refused many clients at once does not get them all back at
** the same instant, and a refused connect is not retried in a busy loop.
** The stream sits on the pool's backoff list meanwhile; its pool and
** total deadlines keep running.
*/
#define RETRY_BASE_MS 50
#define RETRY_CAP_MS 2000
void pool_stream_backoff(chc_stream *s, int k) {
  chc_pool *p = s->pool;
  uint64_t ms = RETRY_BASE_MS;
  uint32_t x = p->jitter;
  while (--k > 0 && ms < RETRY_CAP_MS) ms *= 2;
  if (ms > RETRY_CAP_MS) ms = RETRY_CAP_MS;
  x ^= x << 13, x ^= x >> 17, x ^= x << 5;
  p->jitter = x;
  ms = ms / 2 + (ms / 2) * (x % 1024) / 1024;
  chc_list_insert_tail(&p->backoff, &s->gwait);
  chc_timer_start(p->lp, &s->btimer, ms);
}
