/*
** stream.c: the public stream API (pool.h): making a request (validated
** and serialised before anything is queued), the observers, and the
** caller's reads, writes and release, which go to the protocol serving
** the stream (proto_ops in pool_int.h). Streams are kept for reuse: their
** buffers keep their memory, so the steady state allocates nothing per
** request.
*/
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "pool_int.h"
#include "slab.h"

#define STREAM_CACHE 32   /* released streams a pool keeps for reuse */
#define STREAM_KEEP 16384 /* bytes of buffers worth keeping per stream */

/* {===================================================================
** Tracing (trace.h)
** ==================================================================== */

#define TRACE_MAX 1024 /* records kept for a caller that does not take them */

static const char *const PHASES[] = {
    "resolve",   "connect",         "proxy",        "tls",
    "send_headers", "send_body", "receive_headers", "receive_body",
    "response_closed"};

const char *chc_trace_phase(int phase) {
  return phase >= 0 && phase <= CHC_TR_CLOSED ? PHASES[phase] : "?";
}

/* A new record (time, phase, what; nothing known yet), or NULL. */
chc_trace_rec *stream_trace_add(chc_stream *s, int phase, int what) {
  chc_trace *q = s->tr;
  chc_trace_rec *r;
  struct timespec ts;
  if (q == NULL) return NULL;
  q->open = what == CHC_TR_STARTED ? phase : -1;
  if (q->head == q->n) q->head = q->n = 0;
  if (q->n == q->cap) {
    size_t nc = q->cap ? q->cap * 2 : 8;
    chc_trace_rec *nr;
    if (q->n >= TRACE_MAX) return NULL;
    nr = realloc(q->r, nc * sizeof *nr);
    if (nr == NULL) return NULL;
    q->r = nr;
    q->cap = nc;
  }
  r = &q->r[q->n++];
  memset(r, 0, sizeof *r);
  clock_gettime(CLOCK_MONOTONIC, &ts);
  r->t = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
  r->phase = phase;
  r->what = what;
  r->port = r->status = -1;
  r->bytes = -1;
  return r;
}

void stream_trace_request(chc_stream *s) {
  chc_trace_rec *r = stream_trace_add(s, CHC_TR_SEND_HEADERS, CHC_TR_STARTED);
  if (r) r->reused = s->c && s->c->reused;
  /* the head is handed to the connection at once (HTTP/1.1 writes it
  ** with the first body bytes; HTTP/2 queues its HEADERS frame) */
  stream_trace_add(s, CHC_TR_SEND_HEADERS, CHC_TR_COMPLETE);
  if (s->body_kind != CHC_BODY_NONE)
    stream_trace_add(s, CHC_TR_SEND_BODY, CHC_TR_STARTED);
}

void stream_trace_sent(chc_stream *s) {
  if (s->body_kind != CHC_BODY_NONE) {
    chc_trace_rec *r = stream_trace_add(s, CHC_TR_SEND_BODY, CHC_TR_COMPLETE);
    if (r)
      r->bytes = s->body_kind == CHC_BODY_BYTES ? (long long)s->body_len
                                                : (long long)s->sent;
  }
  stream_trace_add(s, CHC_TR_RECV_HEADERS, CHC_TR_STARTED);
}

void stream_trace_head(chc_stream *s) {
  chc_trace_rec *r;
  if (s->tr->open == CHC_TR_SEND_BODY) /* answered before the body ended */
    stream_trace_add(s, CHC_TR_RECV_HEADERS, CHC_TR_STARTED);
  r = stream_trace_add(s, CHC_TR_RECV_HEADERS, CHC_TR_COMPLETE);
  if (r) r->status = s->status;
  stream_trace_add(s, CHC_TR_RECV_BODY, CHC_TR_STARTED);
}

/* The phase under way failed (the connection's own phases were reported
** by the transport already). */
void stream_trace_failed(chc_stream *s) {
  chc_trace_rec *r;
  if (s->tr->open < CHC_TR_SEND_HEADERS) return;
  r = stream_trace_add(s, s->tr->open, CHC_TR_FAILED);
  if (r) {
    r->ecode = s->err.code;
    memcpy(r->emsg, s->err.msg, sizeof r->emsg);
  }
}

int chc_stream_trace_next(chc_stream *s, chc_trace_rec *r) {
  chc_trace *q = s->tr;
  if (q == NULL || q->head == q->n) return 0;
  *r = q->r[q->head++];
  return 1;
}

static void trace_free(chc_stream *s) {
  if (s->tr == NULL) return;
  free(s->tr->r);
  free(s->tr);
  s->tr = NULL;
}

/* }=================================================================== */

void stream_fail(chc_stream *s, int code, const char *fmt, ...) {
  va_list ap;
  if (s->err.code != CHC_OK || s->resp_done) return;
  s->err.code = code;
  va_start(ap, fmt);
  vsnprintf(s->err.msg, sizeof s->err.msg, fmt, ap);
  va_end(ap);
  STREAM_TRACE(s, stream_trace_failed);
  chc_timer_stop(s->pool->lp, &s->ptimer);
  chc_timer_stop(s->pool->lp, &s->ttimer);
  stream_notify(s);
}

void stream_set_takeover(chc_stream *s,
                         void (*fn)(chc_stream *, conn *, chc_buf *, void *),
                         void *ud) {
  s->takeover = fn;
  s->takeover_ud = ud;
}

/* {===================================================================
** Memory
** ==================================================================== */

/* A stream and its HTTP/2 part, in one allocation. */
typedef struct stream_mem {
  chc_stream s;
  h2_stream h2;
} stream_mem;

void stream_destroy(chc_stream *s) {
  chc_buf_free(&s->h1.head);
  chc_buf_free(&s->reason);
  chc_buf_free(&s->h1.tail);
  chc_hlist_free(&s->fields);
  chc_hlist_free(&s->trailers);
  h2_stream_destroy(s);
  trace_free(s);
  free(chc_container_of(s, stream_mem, s));
}

/* A new stream, zeroed but for the buffers' memory when a released one
** is reused (no allocation per request in the steady state). */
static chc_stream *stream_alloc(chc_pool *p) {
  chc_stream *s = p->free_streams;
  if (s == NULL) {
    stream_mem *m = calloc(1, sizeof *m);
    if (m == NULL) return NULL;
    m->s.h2 = &m->h2;
    return &m->s;
  }
  p->free_streams = (chc_stream *)s->ud;
  p->nfree--;
  {
    chc_buf head = s->h1.head, reason = s->reason, tail = s->h1.tail;
    chc_hlist fields = s->fields, trailers = s->trailers;
    h2_stream *h2 = s->h2;
    memset(s, 0, sizeof *s);
    s->h1.head = head;
    s->reason = reason;
    s->h1.tail = tail;
    s->fields = fields;
    s->trailers = trailers;
    s->h2 = h2;
  }
  return s;
}

void stream_free(chc_stream *s) {
  chc_pool *p = s->pool;
  h2_stream_reset(s);
  trace_free(s);
  pool_origin_unref(p, s->org);
  chc_mem_note(p->lp, 1); /* a request's transient memory goes back */
  if (!p->closed && p->nfree < STREAM_CACHE &&
      s->h1.head.cap <= STREAM_KEEP && s->h1.tail.cap <= STREAM_KEEP &&
      s->fields.store.cap <= STREAM_KEEP) {
    chc_buf_reset(&s->h1.head);
    chc_buf_reset(&s->reason);
    chc_buf_reset(&s->h1.tail);
    chc_hlist_reset(&s->fields);
    chc_hlist_reset(&s->trailers);
    s->ud = p->free_streams; /* the free list's link */
    p->free_streams = s;
    p->nfree++;
    pool_unref(p);
    return;
  }
  pool_unref(p);
  stream_destroy(s);
}

/* }=================================================================== */

/* {===================================================================
** Making a request
** ==================================================================== */

static int method_is(const char *m, const char *x) { return strcmp(m, x) == 0; }

static int parse_length(const char *cl, size_t cll, unsigned long long *n,
                        chc_error *e) {
  size_t i;
  *n = 0;
  for (i = 0; i < cll; i++) {
    if (cl[i] < '0' || cl[i] > '9' || *n > (~0ULL - 9) / 10) break;
    *n = *n * 10 + (unsigned)(cl[i] - '0');
  }
  if (i < cll || cll == 0 || *n > (unsigned long long)LLONG_MAX) {
    chc_seterr(e, CHC_ELOCAL_PROTO, "invalid request Content-Length '%.60s'",
               cl);
    return -1;
  }
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
  size_t cll = 0, tel = 0;
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
    s->h1.chunked = 1;
    return 0;
  }
  if (cl == NULL) return 0;
  if (parse_length(cl, cll, &n, e) < 0) return -1;
  if (rq->body_kind == CHC_BODY_STREAM) {
    s->h1.chunked = 0; /* the producer's bytes go out as they are */
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

/* Through an HTTP proxy without a tunnel: the target in absolute form
** (RFC 9112 3.2.2) and the proxy's header lines (Proxy-Authorization). */
static int forward_head(chc_stream *s, const chc_request *rq, const origin *o,
                        long long framing, chc_error *e) {
  const chc_buf *ph = &s->pool->proxy->hdrs;
  char *abs = malloc(strlen(o->hosthdr) + strlen(rq->target) + 8);
  int r;
  if (abs == NULL) {
    chc_seterr(e, CHC_ELOCAL_PROTO, "out of memory");
    return -1;
  }
  sprintf(abs, "http://%s%s", o->hosthdr, rq->target);
  r = chc_h1_write_head(&s->h1.head, rq->method, abs, o->hosthdr,
                        rq->headers, framing, e);
  free(abs);
  if (r < 0 || ph->len == 0) return r;
  s->h1.head.len -= 2; /* the blank line goes after the proxy's lines */
  if (chc_buf_append(&s->h1.head, chc_buf_head(ph), ph->len) < 0 ||
      chc_buf_append(&s->h1.head, "\r\n", 2) < 0) {
    chc_seterr(e, CHC_ELOCAL_PROTO, "out of memory");
    return -1;
  }
  return 0;
}

/* The request head, serialised and checked (also for a request that may
** go over HTTP/2: the checks are the same). 0, or -1 with e set. */
static int serialise(chc_stream *s, const chc_request *rq, const origin *o,
                     chc_error *e) {
  const char *m = rq->method;
  long long framing;
  if (rq->body_kind == CHC_BODY_STREAM)
    framing = CHC_H1_BODY_CHUNKED;
  else if (rq->body_kind == CHC_BODY_BYTES)
    framing = (long long)rq->body_len;
  else if (method_is(m, "POST") || method_is(m, "PUT") || method_is(m, "PATCH"))
    framing = 0;
  else
    framing = CHC_H1_BODY_NONE;
  s->h1.chunked = rq->body_kind == CHC_BODY_STREAM;
  s->declared = -1;
  if (user_framing(rq, s, e) < 0 ||
      (o->forward ? forward_head(s, rq, o, framing, e)
                  : chc_h1_write_head(&s->h1.head, m, rq->target, o->hosthdr,
                                      rq->headers, framing, e)) < 0 ||
      (s->h1.chunked && rq->body_kind != CHC_BODY_STREAM &&
       chunk_bytes_body(&s->h1.head, rq, e) < 0)) {
    /* the head writers report running out of memory by errno only */
    if (e->code == CHC_OK)
      chc_seterr(e, CHC_ELOCAL_PROTO, "out of memory writing the request head");
    return -1;
  }
  return 0;
}

/* The rest of the stream's fields, from the request. */
static void setup(chc_stream *s, chc_pool *p, const chc_request *rq) {
  const char *m = rq->method;
  chc_list_init(&s->gwait);
  chc_list_init(&s->owait);
  s->body_kind = rq->body_kind;
  s->body = rq->body;
  s->body_len = rq->body_kind == CHC_BODY_BYTES ? rq->body_len : 0;
  if (s->h1.chunked && rq->body_kind != CHC_BODY_STREAM) {
    s->body_kind = CHC_BODY_NONE; /* framed into the head buffer */
    s->body_len = 0;
  }
  s->to = rq->to;
  s->no_body = method_is(m, "HEAD");
  s->h1.upgrade = rq->headers && chc_hlist_get(rq->headers, "upgrade", NULL);
  s->idempotent = method_is(m, "GET") || method_is(m, "HEAD") ||
                  method_is(m, "PUT") || method_is(m, "DELETE") ||
                  method_is(m, "OPTIONS") || method_is(m, "TRACE");
  s->retries_left = p->o.retries;
  s->h2_capable = p->o.http2 && (rq->https || !p->o.http1);
  pool_stream_timers_init(s);
}

chc_stream *chc_pool_request(chc_pool *p, const chc_request *rq,
                             chc_stream_notify nf, void *ud, chc_error *e) {
  chc_stream *s;
  origin *o;
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
  o = pool_origin(p, rq->https, rq->host, rq->port);
  if (o == NULL) {
    chc_seterr(e, CHC_ELOCAL_PROTO, "out of memory");
    return NULL;
  }
  o->refs++; /* the stream's, or until the failures below */
  s = stream_alloc(p);
  if (s == NULL) {
    chc_seterr(e, CHC_ELOCAL_PROTO, "out of memory");
    pool_origin_unref(p, o);
    return NULL;
  }
  s->pool = p; /* serialise reads the pool's proxy */
  if (serialise(s, rq, o, e) < 0) {
    stream_destroy(s);
    pool_origin_unref(p, o);
    return NULL;
  }
  p->refs++;
  s->org = o;
  s->notify = nf;
  s->ud = ud;
  setup(s, p, rq);
  if (rq->trace) {
    s->tr = calloc(1, sizeof *s->tr);
    if (s->tr) s->tr->open = -1;
  }
  if (s->h2_capable && /* what an HTTP/2 submission needs, kept */
      (rq->protocol /* an extended CONNECT: a tunnel both ways */
           ? h2_stream_prepare(s, "CONNECT", rq->target,
                               rq->h2_headers ? rq->h2_headers : rq->headers,
                               CHC_BODY_STREAM, NULL, 0, rq->protocol)
           : h2_stream_prepare(s, rq->method, rq->target, rq->headers,
                               rq->body_kind, rq->body, rq->body_len,
                               NULL)) < 0) {
    chc_seterr(e, CHC_ELOCAL_PROTO, "out of memory");
    stream_free(s);
    return NULL;
  }
  if (s->to.total >= 0)
    chc_timer_start(p->lp, &s->ttimer, (uint64_t)s->to.total);
  pool_stream_start(s);
  return s;
}

/* }=================================================================== */

/* {===================================================================
** Observers
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
  size_t left = stream_ops(s)->buffered(s);
  return s->resp_done && left == 0 && s->trailers.n > 0 ? &s->trailers
                                                        : NULL;
}

/* }=================================================================== */

/* {===================================================================
** Reads, writes, release: to the stream's protocol
** ==================================================================== */

int chc_stream_peek(chc_stream *s, const char **p, size_t *n) {
  int r = stream_ops(s)->peek(s, p, n);
  if (r < 0 && s->tr && s->tr->open == CHC_TR_RECV_BODY) {
    chc_trace_rec *t = stream_trace_add(s, CHC_TR_RECV_BODY,
                                        CHC_TR_COMPLETE);
    if (t) t->bytes = s->tr->got;
  }
  return r;
}

void chc_stream_consume(chc_stream *s, size_t n) {
  if (s->tr) s->tr->got += (long long)n;
  stream_ops(s)->consume(s, n);
}

int chc_stream_writable(chc_stream *s) { return stream_ops(s)->writable(s); }

int chc_stream_write(chc_stream *s, const char *p, size_t n) {
  if (chc_stream_writable(s) < 0 || s->c == NULL) return -1;
  if (n == 0) return 0;
  if (s->declared >= 0 && s->sent + n > (unsigned long long)s->declared) {
    char m[CHC_ERRMSG_MAX];
    snprintf(m, sizeof m, "the request body is longer than the %lld bytes "
             "its Content-Length announced", s->declared);
    chc_stream_abort(s, CHC_ELOCAL_PROTO, m);
    return -1;
  }
  s->sent += n;
  return stream_ops(s)->write(s, p, n);
}

int chc_stream_write_end(chc_stream *s) {
  if (chc_stream_writable(s) < 0 || s->c == NULL) return -1;
  if (s->declared >= 0 && s->sent != (unsigned long long)s->declared) {
    char m[CHC_ERRMSG_MAX];
    snprintf(m, sizeof m, "the request body ended after %llu of the %lld "
             "bytes its Content-Length announced", s->sent, s->declared);
    chc_stream_abort(s, CHC_ELOCAL_PROTO, m);
    return -1;
  }
  s->body_ended = 1;
  return stream_ops(s)->write_end(s);
}

void chc_stream_abort(chc_stream *s, int code, const char *msg) {
  if (s->state == S_WAIT) {
    pool_stream_unwait(s);
    s->state = S_DONE;
  }
  stream_fail(s, code, "%s", msg);
  stream_ops(s)->cancel(s, code, msg);
}

void chc_stream_release(chc_stream *s) {
  s->released = 1;
  pool_stream_unwait(s);
  chc_timer_stop(s->pool->lp, &s->ttimer);
  stream_ops(s)->release(s);
}

/* }=================================================================== */

int chc_stream_reused(const chc_stream *s) { return s->reused; }

unsigned long long chc_stream_body_written(const chc_stream *s,
                                           long long *total) {
  unsigned long long accepted = s->body_kind == CHC_BODY_BYTES
                                    ? (unsigned long long)s->body_len
                                    : s->sent;
  size_t pend;
  *total = s->body_kind == CHC_BODY_BYTES ? (long long)s->body_len
                                          : s->declared;
  if (s->req_done) return accepted;
  if (s->c == NULL) return 0;
  pend = s->c->wbuf.len;
  if (s->c->ops == &h1_ops) {
    if (s->c->h1) pend += s->c->h1->wbody_len;
  } else if (s->h2 && s->h2->st) {
    pend += chc_h2_stream_queued(s->h2->st);
  }
  return accepted > pend ? accepted - pend : 0;
}

long long chc_stream_sendfile(chc_stream *s, int fd, long long off,
                              size_t n) {
  unsigned long long left;
  long long w;
  if (s->declared < 0 || s->c == NULL || s->c->ops != &h1_ops ||
      chc_stream_writable(s) <= 0)
    return -1;
  left = (unsigned long long)s->declared - s->sent;
  if (left == 0) return -1;
  if (n > left) n = (size_t)left;
  w = h1_sendfile(s, fd, off, n);
  if (w > 0) s->sent += (unsigned long long)w;
  return w;
}
