/*
** wsconn.c: a WebSocket client connection (see wsconn.h): the handshake
** as a pool request that takes its connection over, then the engine of
** ws.c between the transport (conn.h) and the owner.
**
** Reading is edge-triggered like everywhere else: the transport's
** `readable` flag stays set until a recv meets EAGAIN. Bytes go into
** `in`; the engine stops at a complete message and the rest waits in
** `in` until the owner releases the message, so at most one message is
** held beyond what the owner took, and nothing more is read meanwhile.
**
** Over HTTP/2 (RFC 8441) the handshake is an extended CONNECT and the
** WebSocket stays on its stream: wsconn_h2.c moves the bytes, behind the
** small interface at the end of wsconn.h; the engine, the timers and the
** owner's calls here are the same.
*/
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "conn.h"
#include "pool_int.h"
#include "ws.h"
#include "wsconn.h"

#define READ_CHUNK (64 * 1024)
#define BODY_MAX 512
#define OUT_KEEP 1024 /* an empty output buffer kept up to this (idle memory) */

struct chc_wsc {
  chc_loop *lp;
  chc_pool *pool;
  chc_stream *s; /* the handshake, until it ends */
  conn *t;       /* the transport, once taken over */
  chc_stream *h2; /* or the HTTP/2 stream it went on (wsconn_h2.c) */
  int over_h2;    /* it did (ws.version) */
  chc_ws *ws;
  chc_ws_offer offer;
  chc_ws_opts wo;
  chc_wsc_notify notify;
  void *ud;
  int state;
  int closing;       /* our close was sent: waiting for the peer's */
  int eof;
  int eof_seen;      /* read 0 while a message was held: on_eof later */
  int status;        /* a refused handshake */
  chc_buf body;      /* its body's start */
  chc_buf in;        /* bytes read and not yet consumed by the engine */
  chc_buf rest;      /* taken over: the bytes behind the 101 head */
  chc_buf protocol, extensions;
  char *protos;      /* the offer's protocols, copied: "a\0b\0" */
  const char **protov;
  chc_error err;
  chc_defer work;    /* handshake progress, out of the pool's callbacks */
  chc_defer resume;  /* reading on after a release (chc_wsc_release) */
  chc_timer ping_timer, pong_timer, close_timer;
  int64_t ping_interval, ping_timeout;
  int taken;         /* the takeover happened */
  chc_trace_rec *tr; /* traced: the handshake's records not taken yet, */
  size_t trh, trn;   /* tr[trh..trn), kept when its stream is released */
};

static int wsc_random(void *ud, unsigned char *p, size_t n) {
  CHC_UNUSED(ud);
  while (n > 0) {
    ssize_t r = getrandom(p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

static void notify(chc_wsc *w) {
  if (w->notify) w->notify(w, w->ud);
}

/* The server's name, for messages. */
static const char *peer(const chc_wsc *w) {
  const chc_stream *s = w->h2 ? w->h2 : w->s;
  if (w->t) return w->t->peer;
  return s ? s->org->hosthdr : "the server";
}

/* {===================================================================
** The end
** ==================================================================== */

static void stop_timers(chc_wsc *w) {
  chc_timer_stop(w->lp, &w->ping_timer);
  chc_timer_stop(w->lp, &w->pong_timer);
  chc_timer_stop(w->lp, &w->close_timer);
}

/* The transport goes (after the output was written, or not). */
static void finish(chc_wsc *w) {
  if (w->state == CHC_WSC_DONE) return;
  w->state = CHC_WSC_DONE;
  stop_timers(w);
  if (w->t) conn_close(w->t);
  if (w->h2) {
    chc_stream *s = w->h2;
    unsigned st = chc_ws_state(w->ws);
    w->h2 = NULL;
    wsc_h2_end(w, s, w->err.code == CHC_OK && (st & CHC_WS_CLOSE_SENT) &&
                         (st & CHC_WS_CLOSE_RECEIVED));
  }
  notify(w);
}

static void fail(chc_wsc *w, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(chc_wsc *w, int code, const char *fmt, ...) {
  va_list ap;
  if (w->state == CHC_WSC_DONE) return;
  if (w->err.code == CHC_OK) {
    char msg[CHC_ERRMSG_MAX];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    chc_seterr(&w->err, code, "%s", msg);
  }
  finish(w);
}

/* }=================================================================== */

/* {===================================================================
** Moving bytes
** ==================================================================== */

static void flush(chc_wsc *w) {
  chc_buf *out;
  size_t before;
  if (w->h2 && w->state != CHC_WSC_DONE) {
    wsc_h2_flush(w, w->h2);
    return;
  }
  if (w->t == NULL || w->state == CHC_WSC_DONE) return;
  out = chc_ws_output(w->ws);
  before = out->len;
  while (out->len > 0 && w->t->writable) {
    struct iovec iov;
    ssize_t n;
    iov.iov_base = chc_buf_head(out);
    iov.iov_len = out->len;
    n = conn_send(w->t, &iov, 1);
    if (n < 0) {
      if (errno == EAGAIN) {
        w->t->writable = 0;
      } else if (errno != EINTR) {
        fail(w, CHC_EWRITE, "WebSocket write to %s failed: %s", w->t->peer,
             conn_strerror(w->t, errno));
        return;
      }
      continue;
    }
    chc_buf_consume(out, (size_t)n);
  }
  wsc_wrote(w, before);
}

/* Both closes are done and written: the server closes TCP first (RFC
** 6455 7.1.1); the close timer bounds the wait for it. */
static int close_done(chc_wsc *w) {
  unsigned st = chc_ws_state(w->ws);
  return (st & CHC_WS_CLOSE_SENT) && (st & CHC_WS_CLOSE_RECEIVED) &&
         chc_ws_pending(w->ws) == 0;
}

static void after_feed(chc_wsc *w) {
  unsigned ev = chc_ws_events(w->ws);
  if (ev & CHC_WS_EV_PONG) chc_timer_stop(w->lp, &w->pong_timer);
  if (ev & (CHC_WS_EV_MESSAGE | CHC_WS_EV_CLOSE)) notify(w);
  if ((ev & CHC_WS_EV_CLOSE) && !w->closing) {
    /* the peer began the close: the echo is queued; wait for its EOF */
    w->closing = 1;
    chc_timer_start(w->lp, &w->close_timer, 2000);
  }
}

/* Feeds p..n to the engine and acts on what it saw. Returns what it
** took, or -1 when the WebSocket failed (a protocol violation: the
** engine's error is ours) or ended. */
ssize_t wsc_feed(chc_wsc *w, const char *p, size_t n) {
  ssize_t k = chc_ws_feed(w->ws, p, n);
  if (k < 0) {
    const chc_error *e = chc_ws_error(w->ws);
    chc_seterr(&w->err, e->code, "%s", e->msg);
    flush(w); /* our close frame, if the socket takes it now */
    finish(w);
    return -1;
  }
  after_feed(w);
  return w->state == CHC_WSC_DONE ? -1 : k;
}

/* Feeds what `in` holds. Returns -1 when the WebSocket failed. */
static int feed_in(chc_wsc *w) {
  while (w->in.len > 0 && chc_ws_want_read(w->ws)) {
    ssize_t n = wsc_feed(w, chc_buf_head(&w->in), w->in.len);
    if (n < 0) return -1;
    chc_buf_consume(&w->in, (size_t)n);
  }
  if (chc_ws_state(w->ws) & CHC_WS_CLOSE_RECEIVED) chc_buf_reset(&w->in);
  return 0;
}

/* Feeds bytes just read (from the stack: most reads are consumed whole,
** so an idle or echoing WebSocket holds no read buffer); what the engine
** leaves (it holds a message) waits in `in`. -1 when it failed. */
static int feed_read(chc_wsc *w, const char *p, size_t n) {
  while (n > 0 && chc_ws_want_read(w->ws)) {
    ssize_t k = wsc_feed(w, p, n);
    if (k < 0) return -1;
    p += k;
    n -= (size_t)k;
  }
  if (n == 0 || (chc_ws_state(w->ws) & CHC_WS_CLOSE_RECEIVED)) return 0;
  if (chc_buf_append(&w->in, p, n) < 0) {
    fail(w, CHC_EREAD, "out of memory reading a WebSocket message");
    return -1;
  }
  return 0;
}

static void on_eof(chc_wsc *w) {
  w->eof = 1;
  if (chc_ws_state(w->ws) & CHC_WS_CLOSE_RECEIVED) {
    finish(w); /* the clean end */
    return;
  }
  fail(w, CHC_EREAD,
       "the server %s closed the %s without a WebSocket close (1006)",
       peer(w), w->over_h2 ? "HTTP/2 stream" : "connection");
}

void wsc_eof(chc_wsc *w) { on_eof(w); }

void wsc_fail(chc_wsc *w, int code, const char *msg) {
  fail(w, code, "%s", msg);
}

chc_ws *wsc_engine(chc_wsc *w) { return w->ws; }

int wsc_open(const chc_wsc *w) { return w->state == CHC_WSC_OPEN; }

void wsc_wrote(chc_wsc *w, size_t before) {
  chc_buf *out = chc_ws_output(w->ws);
  /* a big message's frame is not kept once written (W9's peak memory) */
  if (out->len == 0 && out->cap > OUT_KEEP) chc_buf_free(out);
  if (out->len < before) notify(w); /* senders may go on */
}

void wsc_close_wait(chc_wsc *w) {
  if (w->state == CHC_WSC_OPEN && w->eof == 0 && close_done(w) &&
      !chc_timer_active(&w->close_timer))
    chc_timer_start(w->lp, &w->close_timer, 2000);
}

/*
** Reads while the engine takes input, and once more while it holds a
** message and nothing is buffered: that read usually meets the EAGAIN, so
** that taking the message needs no further pass (chc_wsc_release), and it
** buffers at most one chunk. An EOF met then is acted on once the message
** is taken (a message and the server's close may come in one read).
*/
static void pump(chc_wsc *w) {
  char tmp[READ_CHUNK];
  if (w->state != CHC_WSC_OPEN) return;
  if (w->h2) {
    wsc_h2_pump(w, w->h2);
    return;
  }
  flush(w);
  if (feed_in(w) < 0) return;
  while (w->state == CHC_WSC_OPEN &&
         (chc_ws_want_read(w->ws) ||
          (chc_ws_state(w->ws) & CHC_WS_CLOSE_RECEIVED) ||
          (w->in.len == 0 && !w->eof_seen))) {
    ssize_t n;
    if (w->eof_seen) {
      if (w->in.len > 0) break;
      on_eof(w);
      return;
    }
    if (!w->t->readable) break;
    n = conn_recv(w->t, tmp, sizeof tmp);
    if (n > 0) {
      if (feed_read(w, tmp, (size_t)n) < 0) return;
    } else if (n == 0) {
      w->eof_seen = 1;
      w->t->readable = 0;
    } else if (errno == EAGAIN) {
      w->t->readable = 0;
    } else if (errno != EINTR) {
      fail(w, CHC_EREAD, "WebSocket read from %s failed: %s", w->t->peer,
           conn_strerror(w->t, errno));
      return;
    }
  }
  flush(w); /* pongs and the close echo the feeding queued */
  if (w->in.len == 0) chc_buf_free(&w->in); /* leftovers only, if any */
  wsc_close_wait(w);
}

static void own_ready(conn *t, void *ud) {
  CHC_UNUSED(t);
  CHC_UNUSED(ud);
}

static void own_fail(conn *t, void *ud, int code, const char *m, int f) {
  CHC_UNUSED(t);
  CHC_UNUSED(f);
  fail(ud, code, "%s", m);
}

static void own_io(conn *t, void *ud, unsigned ev) {
  if (ev & CHC_EV_READ) t->readable = 1;
  if (ev & CHC_EV_WRITE) t->writable = 1;
  pump(ud);
}

static const conn_owner ws_owner = {own_ready, own_fail, own_io};

/* After a release (or a change of parts mode): in parts mode the inflater
** may still owe output for input it took, and no read will bring a feed
** (chc_ws_want_feed): feed it with no input first, for either transport. */
static void on_resume(chc_loop *lp, chc_defer *d) {
  chc_wsc *w = chc_container_of(d, chc_wsc, resume);
  CHC_UNUSED(lp);
  if (w->state == CHC_WSC_OPEN && chc_ws_want_feed(w->ws) &&
      wsc_feed(w, "", 0) < 0)
    return;
  pump(w);
}

/* }=================================================================== */

/* {===================================================================
** Timers
** ==================================================================== */

static void on_close_timer(chc_loop *lp, chc_timer *tm) {
  chc_wsc *w = chc_container_of(tm, chc_wsc, close_timer);
  CHC_UNUSED(lp);
  finish(w); /* no close or no EOF from the peer in time: drop it */
}

static void on_ping_timer(chc_loop *lp, chc_timer *tm) {
  chc_wsc *w = chc_container_of(tm, chc_wsc, ping_timer);
  if (w->state != CHC_WSC_OPEN || w->closing) return;
  if (!chc_timer_active(&w->pong_timer)) {
    if (chc_ws_ping(w->ws, "", 0) == 0 && w->ping_timeout >= 0)
      chc_timer_start(lp, &w->pong_timer, (uint64_t)w->ping_timeout);
    flush(w);
  }
  chc_timer_start(lp, &w->ping_timer, (uint64_t)w->ping_interval);
}

static void on_pong_timer(chc_loop *lp, chc_timer *tm) {
  chc_wsc *w = chc_container_of(tm, chc_wsc, pong_timer);
  CHC_UNUSED(lp);
  fail(w, CHC_EREAD_TIMEOUT,
       "no pong from %s within the ping timeout (%lld ms)", peer(w),
       (long long)w->ping_timeout);
}

/* }=================================================================== */

/* {===================================================================
** The handshake
** ==================================================================== */

static void copy_field(const chc_hlist *h, const char *name, chc_buf *b) {
  size_t n;
  const char *v = chc_hlist_get(h, name, &n);
  chc_buf_reset(b);
  if (v) chc_buf_append(b, v, n);
  chc_buf_append(b, "", 1);
}

/* Tracing: the handshake stream's records outlive it (the owner takes
** them once the handshake ended, chc_wsc_trace_next). The body behind a
** 101 is the WebSocket, so its receive_body.started is dropped. */
static void keep_trace(chc_wsc *w) {
  chc_trace_rec r;
  while (chc_stream_trace_next(w->s, &r)) {
    chc_trace_rec *nr;
    if (r.phase == CHC_TR_RECV_BODY) continue;
    nr = realloc(w->tr, (w->trn + 1) * sizeof *nr);
    if (nr == NULL) return;
    w->tr = nr;
    w->tr[w->trn++] = r;
  }
}

/* The 101 arrived and the transport is ours (or, over HTTP/2, a 2xx
** and the stream stays ours): check the answer, start the engine with
** the bytes that came behind the head. */
static void open_ws(chc_wsc *w) {
  chc_ws_accepted acc;
  chc_error e = {CHC_OK, ""};
  const chc_hlist *h = chc_stream_headers(w->s);
  w->offer.h2 = w->over_h2;
  if (chc_ws_check_response(&w->offer, chc_stream_status(w->s), h, &acc,
                            &e) < 0) {
    fail(w, e.code, "WebSocket handshake with %s: %s", peer(w), e.msg);
    return;
  }
  copy_field(h, "sec-websocket-protocol", &w->protocol);
  copy_field(h, "sec-websocket-extensions", &w->extensions);
  w->ws = chc_ws_new(&w->wo, acc.pmd.enabled ? &acc.pmd : NULL);
  if (w->ws == NULL) {
    fail(w, CHC_ECONNECT, "out of memory starting a WebSocket");
    return;
  }
  keep_trace(w);
  if (w->over_h2)
    w->h2 = w->s; /* the WebSocket's bytes go on it */
  else
    chc_stream_release(w->s);
  w->s = NULL;
  chc_buf_free(&w->in);
  w->in = w->rest;
  memset(&w->rest, 0, sizeof w->rest);
  w->state = CHC_WSC_OPEN;
  if (w->ping_interval > 0)
    chc_timer_start(w->lp, &w->ping_timer, (uint64_t)w->ping_interval);
  notify(w);
  pump(w);
}

/* The handshake's stream moved (deferred: out of the pool's callbacks). */
static void on_work(chc_loop *lp, chc_defer *d) {
  chc_wsc *w = chc_container_of(d, chc_wsc, work);
  chc_stream *s = w->s;
  CHC_UNUSED(lp);
  if (w->state != CHC_WSC_CONNECTING || s == NULL) return;
  if (w->taken) {
    open_ws(w);
    return;
  }
  if (chc_stream_has_head(s) && chc_stream_status(s) / 100 == 2 &&
      strcmp(chc_stream_version(s), "HTTP/2") == 0) {
    w->over_h2 = 1; /* RFC 8441 5: a 2xx opened the WebSocket */
    open_ws(w);
    return;
  }
  if (!chc_stream_has_head(s)) {
    const chc_error *e = chc_stream_error(s);
    if (e) fail(w, e->code, "%s", e->msg);
    return;
  }
  /* refused (any status but 101): keep the start of the body */
  for (;;) {
    const char *p;
    size_t n;
    int r = chc_stream_peek(s, &p, &n);
    if (r > 0) {
      size_t room = BODY_MAX - w->body.len;
      chc_buf_append(&w->body, p, n < room ? n : room);
      chc_stream_consume(s, n);
      if (w->body.len < BODY_MAX) continue;
    } else if (r == 0 && chc_stream_error(s) == NULL) {
      return; /* more to come */
    }
    break;
  }
  w->status = chc_stream_status(s);
  fail(w, CHC_EREMOTE_PROTO,
       "the server refused the WebSocket handshake: %d %s%s%.*s", w->status,
       chc_stream_reason(s), w->body.len ? ": " : "", (int)w->body.len,
       w->body.data ? w->body.data : "");
}

static void on_stream(chc_stream *s, void *ud) {
  chc_wsc *w = ud;
  CHC_UNUSED(s);
  /* over HTTP/2 the stream goes on moving after the handshake */
  chc_defer_queue(w->lp, w->h2 ? &w->resume : &w->work);
}

static void on_takeover(chc_stream *s, conn *t, chc_buf *rest, void *ud) {
  chc_wsc *w = ud;
  CHC_UNUSED(s);
  w->t = t;
  w->taken = 1;
  chc_buf_free(&w->rest);
  w->rest = *rest;
  memset(rest, 0, sizeof *rest);
  conn_set_owner(t, &ws_owner, w);
  chc_defer_queue(w->lp, &w->work);
}

/* Copies the offer's protocols (the caller's strings are borrowed). */
static int copy_protocols(chc_wsc *w, const chc_wsc_opts *o) {
  size_t i, len = 0;
  char *p;
  if (o->nprotocols == 0) return 0;
  for (i = 0; i < o->nprotocols; i++) len += strlen(o->protocols[i]) + 1;
  w->protos = malloc(len);
  w->protov = malloc(o->nprotocols * sizeof *w->protov);
  if (w->protos == NULL || w->protov == NULL) return -1;
  p = w->protos;
  for (i = 0; i < o->nprotocols; i++) {
    size_t n = strlen(o->protocols[i]) + 1;
    memcpy(p, o->protocols[i], n);
    w->protov[i] = p;
    p += n;
  }
  w->offer.protocols = w->protov;
  w->offer.nprotocols = o->nprotocols;
  return 0;
}

chc_wsc *chc_wsc_open(chc_pool *p, const chc_request *rq,
                      const chc_wsc_opts *o, chc_wsc_notify nf, void *ud,
                      chc_error *e) {
  chc_wsc *w = calloc(1, sizeof *w);
  chc_hlist h = CHC_HLIST_INIT, h2 = CHC_HLIST_INIT;
  chc_request r = *rq;
  size_t i;
  if (w == NULL) {
    chc_seterr(e, CHC_ECONNECT, "out of memory opening a WebSocket");
    return NULL;
  }
  w->lp = p->lp;
  w->pool = p; /* a reference: the TLS configuration under the taken-over
               ** transport lives as long as the pool does */
  p->refs++;
  w->notify = nf;
  w->ud = ud;
  w->ping_interval = o->ping_interval;
  w->ping_timeout = o->ping_timeout;
  w->wo.max_message = o->max_message;
  w->wo.random = wsc_random;
  w->offer.deflate = o->compress;
  w->offer.server_no_context_takeover = o->no_context_takeover;
  w->offer.client_no_context_takeover = o->no_context_takeover;
  chc_defer_init(&w->work, on_work);
  chc_defer_init(&w->resume, on_resume);
  chc_timer_init(&w->ping_timer, on_ping_timer);
  chc_timer_init(&w->pong_timer, on_pong_timer);
  chc_timer_init(&w->close_timer, on_close_timer);
  if (copy_protocols(w, o) < 0) goto oom;
  if (chc_ws_offer_key(&w->offer, wsc_random, NULL) < 0) {
    chc_seterr(e, CHC_ECONNECT, "no random bytes for the WebSocket key");
    goto fail;
  }
  if (rq->headers)
    for (i = 0; i < rq->headers->n; i++)
      if (chc_hlist_add(&h, chc_hlist_name(rq->headers, i),
                        rq->headers->f[i].name_len,
                        chc_hlist_value(rq->headers, i),
                        rq->headers->f[i].value_len) < 0 ||
          chc_hlist_add(&h2, chc_hlist_name(rq->headers, i),
                        rq->headers->f[i].name_len,
                        chc_hlist_value(rq->headers, i),
                        rq->headers->f[i].value_len) < 0)
        goto oom;
  /* both forms: the pool picks (chc_request.protocol, RFC 8441) */
  if (chc_ws_request_fields(&w->offer, &h, e) < 0) {
    if (e->code == CHC_OK) goto oom;
    goto fail;
  }
  w->offer.h2 = 1;
  if (chc_ws_request_fields(&w->offer, &h2, e) < 0) goto oom; /* as above */
  w->offer.h2 = 0;
  r.method = "GET";
  r.headers = &h;
  r.body_kind = CHC_BODY_NONE;
  r.protocol = "websocket";
  r.h2_headers = &h2;
  w->s = chc_pool_request(p, &r, on_stream, w, e);
  chc_hlist_free(&h);
  chc_hlist_free(&h2);
  if (w->s == NULL) {
    chc_wsc_free(w);
    return NULL;
  }
  stream_set_takeover(w->s, on_takeover, w);
  return w;
oom:
  chc_seterr(e, CHC_ECONNECT, "out of memory opening a WebSocket");
fail:
  chc_hlist_free(&h);
  chc_hlist_free(&h2);
  chc_wsc_free(w);
  return NULL;
}

void chc_wsc_free(chc_wsc *w) {
  if (w == NULL) return;
  chc_defer_cancel(w->lp, &w->work);
  chc_defer_cancel(w->lp, &w->resume);
  stop_timers(w);
  if (w->s) chc_stream_release(w->s);
  if (w->h2) { /* open: the stream is reset (RST_STREAM CANCEL) */
    if (w->state != CHC_WSC_DONE) flush(w); /* best effort */
    chc_stream_release(w->h2);
  }
  if (w->t) {
    if (w->ws && w->state != CHC_WSC_DONE) flush(w); /* best effort */
    conn_close(w->t);
    conn_free(w->t);
  }
  chc_ws_free(w->ws);
  chc_buf_free(&w->in);
  chc_buf_free(&w->rest);
  chc_buf_free(&w->body);
  chc_buf_free(&w->protocol);
  chc_buf_free(&w->extensions);
  free(w->protos);
  free(w->protov);
  free(w->tr);
  if (w->pool) pool_unref(w->pool);
  free(w);
}

/* }=================================================================== */

/* {===================================================================
** The owner's calls
** ==================================================================== */

int chc_wsc_state(const chc_wsc *w) { return w->state; }

int chc_wsc_trace_next(chc_wsc *w, chc_trace_rec *r) {
  if (w->s) return chc_stream_trace_next(w->s, r);
  if (w->trh == w->trn) return 0;
  *r = w->tr[w->trh++];
  return 1;
}

int chc_wsc_opened(const chc_wsc *w) { return w->ws != NULL; }

const chc_error *chc_wsc_error(const chc_wsc *w) {
  return w->err.code != CHC_OK ? &w->err : NULL;
}

int chc_wsc_status(const chc_wsc *w) { return w->status; }

const char *chc_wsc_refusal_body(const chc_wsc *w, size_t *n) {
  *n = w->body.len;
  return w->body.data ? w->body.data : "";
}

const char *chc_wsc_protocol(const chc_wsc *w) {
  return w->protocol.data ? w->protocol.data : "";
}

const char *chc_wsc_extensions(const chc_wsc *w) {
  return w->extensions.data ? w->extensions.data : "";
}

const char *chc_wsc_version(const chc_wsc *w) {
  return w->over_h2 ? "HTTP/2" : "HTTP/1.1";
}

int chc_wsc_message(const chc_wsc *w, int *kind, const char **p, size_t *n) {
  return w->ws ? chc_ws_message(w->ws, kind, p, n) : 0;
}

/* The next frames are fed from the loop, not here: the owner answers the
** message it just took first (an echo queued now goes out before the
** close of a violation that follows it on the wire: Autobahn's "strict"). */
static void read_on(chc_wsc *w) {
  /* pump read on to the EAGAIN while the message was held: with nothing
  ** buffered the next bytes come with an edge, and no pass is needed */
  if (w->state == CHC_WSC_OPEN &&
      (w->in.len > 0 || w->eof_seen || w->t == NULL || w->t->readable ||
       chc_ws_want_feed(w->ws)))
    chc_defer_queue(w->lp, &w->resume);
}

void chc_wsc_release(chc_wsc *w) {
  if (w->ws == NULL) return;
  chc_ws_message_release(w->ws);
  read_on(w);
}

void chc_wsc_set_part(chc_wsc *w, size_t part_min) {
  if (w->ws != NULL && chc_ws_set_part(w->ws, part_min)) read_on(w);
}

int chc_wsc_message_more(const chc_wsc *w) {
  return w->ws ? chc_ws_message_more(w->ws) : 0;
}

static int queued(chc_wsc *w, int r) {
  if (r == 0) flush(w);
  return r;
}

int chc_wsc_send(chc_wsc *w, int kind, const char *p, size_t n) {
  return chc_wsc_send_part(w, kind, p, n, 0);
}

int chc_wsc_send_part(chc_wsc *w, int kind, const char *p, size_t n,
                      int more) {
  if (w->state != CHC_WSC_OPEN || w->closing) return -EPIPE;
  return queued(w, chc_ws_send(w->ws, kind, p, n, more));
}

int chc_wsc_ping(chc_wsc *w, const char *p, size_t n) {
  if (w->state != CHC_WSC_OPEN || w->closing) return -EPIPE;
  return queued(w, chc_ws_ping(w->ws, p, n));
}

size_t chc_wsc_pending(const chc_wsc *w) {
  return w->ws ? chc_ws_pending(w->ws) : 0;
}

int chc_wsc_close(chc_wsc *w, int code, const char *reason, size_t n,
                  int64_t timeout_ms) {
  int r;
  if (w->state == CHC_WSC_CONNECTING) {
    finish(w);
    return 0;
  }
  if (w->state != CHC_WSC_OPEN) return 0;
  if (chc_ws_state(w->ws) & CHC_WS_CLOSE_SENT) return 0;
  r = chc_ws_close(w->ws, code, reason, n);
  if (r < 0) return r;
  w->closing = 1;
  chc_timer_stop(w->lp, &w->close_timer);
  if (timeout_ms >= 0)
    chc_timer_start(w->lp, &w->close_timer, (uint64_t)timeout_ms);
  pump(w);
  return 0;
}

int chc_wsc_close_code(const chc_wsc *w) {
  return w->ws ? chc_ws_close_code(w->ws) : 0;
}

const char *chc_wsc_close_reason(const chc_wsc *w, size_t *n) {
  if (w->ws == NULL) {
    *n = 0;
    return "";
  }
  return chc_ws_close_reason(w->ws, n);
}

/* }=================================================================== */
