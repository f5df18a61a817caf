/*
** h2.c: the HTTP/2 client engine over nghttp2 1.52 (mem_recv/mem_send).
**
** The nghttp2 session does the framing, HPACK, flow-control accounting
** and HTTP messaging checks; this file turns requests into header lists,
** keeps response heads and bodies per stream, maps nghttp2's outcomes to
** chc_error kinds and reports them once per stream.
**
** Stream lifetime: a chc_h2_stream is referenced by the caller (until
** chc_h2_stream_release) and by nghttp2 (stream_user_data and the data
** provider's source, until on_stream_close). nghttp2 cannot forget a
** request whose HEADERS is still queued (set_stream_user_data only
** works on opened streams), so a released stream that nghttp2 still
** knows stays on h2->streams as a zombie, ignored by every callback,
** and is freed by on_stream_close or chc_h2_free. Every submitted
** request gets its on_stream_close as long as the session keeps sending:
** a HEADERS that cannot go out is reported through on_frame_not_send and
** then closed by nghttp2 (session_prep_frame opens the stream first).
**
** Requests (their checks and submission, the data providers) and the
** stream API are in h2_req.c; what both halves share is in h2_int.h.
*/
#include "h2_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <nghttp2/nghttp2.h>

/* {===================================================================
** Helpers
** ==================================================================== */

int h2_name_is(const chc_hlist *h, size_t i, const char *name) {
  return h->f[i].name_len == strlen(name) &&
         strcasecmp(chc_hlist_name(h, i), name) == 0;
}

/* Does the comma-separated list p[0..n) hold the token tok (any case)? */
int h2_list_has(const char *p, size_t n, const char *tok, size_t tl) {
  size_t i = 0;
  while (i < n) {
    size_t s, e;
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == ',')) i++;
    s = i;
    while (i < n && p[i] != ',' && p[i] != ';') i++;
    e = i;
    while (e > s && (p[e - 1] == ' ' || p[e - 1] == '\t')) e--;
    if (e - s == tl && strncasecmp(p + s, tok, tl) == 0) return 1;
    while (i < n && p[i] != ',') i++; /* skip parameters */
  }
  return 0;
}

void h2_seterr(chc_error *e, int code, const char *fmt, ...) {
  va_list ap;
  e->code = code;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
}

/* }=================================================================== */

/* {===================================================================
** Stream bodies and lifetime
** ==================================================================== */

static int body_append(chc_h2_stream *st, const uint8_t *p, size_t n) {
  while (n > 0) {
    block *b = st->btail;
    size_t k;
    if (b == NULL || b->w == b->cap) {
      size_t cap = n > BLOCK_SIZE ? n : BLOCK_SIZE;
      b = malloc(sizeof *b + cap);
      if (b == NULL) return -1;
      b->next = NULL;
      b->r = b->w = 0;
      b->cap = cap;
      if (st->btail)
        st->btail->next = b;
      else
        st->bhead = b;
      st->btail = b;
    }
    k = b->cap - b->w < n ? b->cap - b->w : n;
    memcpy(b->data + b->w, p, k);
    b->w += k;
    st->buffered += k;
    p += k;
    n -= k;
  }
  return 0;
}

static void body_free(chc_h2_stream *st) {
  block *b = st->bhead;
  while (b) {
    block *next = b->next;
    free(b);
    b = next;
  }
  st->bhead = st->btail = NULL;
  st->buffered = 0;
}

/* Removes n buffered bytes (n <= buffered). The tail block is kept for
** the next DATA unless the body is over. */
void h2_body_drop(chc_h2_stream *st, size_t n) {
  st->buffered -= n;
  while (n > 0) {
    block *b = st->bhead;
    size_t k = b->w - b->r < n ? b->w - b->r : n;
    b->r += k;
    n -= k;
    if (b->r == b->w) {
      if (b == st->btail) {
        b->r = b->w = 0;
      } else {
        st->bhead = b->next;
        free(b);
      }
    }
  }
  if (st->buffered == 0 && (st->ended || st->failed)) body_free(st);
}

/* Live: the caller owns it and it still expects events. */
int h2_st_live(const chc_h2_stream *st) {
  return st && !st->released && !st->cancelled && !st->ended && !st->failed;
}

/* Drops everything buffered and gives its window back: the reader will
** never consume it, and the connection window is shared by all. */
void h2_st_drop_body(chc_h2_stream *st) {
  chc_h2 *h2 = st->h2;
  if (st->buffered > 0 && h2 && h2->dead == ALIVE)
    nghttp2_session_consume(h2->s, st->id, st->buffered);
  body_free(st);
}

void h2_st_free(chc_h2_stream *st) {
  chc_list_remove(&st->node);
  body_free(st);
  chc_hlist_free(&st->fields);
  chc_hlist_free(&st->trailers);
  chc_buf_free(&st->up);
  free(st);
}

/*
** Fails a live stream once: records the error, drops the producer's
** queue (nobody will send it) and reports on_error. Buffered body bytes
** stay for the reader.
*/
static void stream_fail(chc_h2_stream *st, int retryable, int code,
                        const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void stream_fail(chc_h2_stream *st, int retryable, int code,
                        const char *fmt, ...) {
  va_list ap;
  if (!h2_st_live(st)) return;
  st->failed = 1;
  st->retryable = retryable ? 1 : 0;
  st->err.code = code;
  va_start(ap, fmt);
  vsnprintf(st->err.msg, sizeof st->err.msg, fmt, ap);
  va_end(ap);
  chc_buf_free(&st->up);
  CB(st->h2, on_error, st, st->ud);
}

static void stream_end(chc_h2_stream *st) {
  if (!h2_st_live(st)) return;
  st->ended = 1;
  if (st->buffered == 0) body_free(st);
  CB(st->h2, on_end, st, st->ud);
}

/* The server certainly did not process the request. */
static int not_processed(const chc_h2 *h2, const chc_h2_stream *st) {
  return !st->hdr_sent || (h2->goaway_recv && st->id > h2->goaway_last);
}

/* Every live stream fails with the same error. */
/*
** A write can fail under a frame of the connection's own (a WINDOW_UPDATE,
** a SETTINGS or PING ack) while a stream only waits for its response: for
** that stream the failure is one of receiving (ReadError), as it would have
** been had the read noticed the reset first. Found by the fault peer
** (spec/fault_spec.lua), which saw either kind for the same cut.
*/
static void fail_all(chc_h2 *h2, int code, const char *msg) {
  chc_list *n, *next;
  for (n = h2->streams.next; n != &h2->streams; n = next) {
    chc_h2_stream *st = chc_container_of(n, chc_h2_stream, node);
    next = n->next; /* on_error must not release, but be safe */
    stream_fail(st, not_processed(h2, st),
                code == CHC_EWRITE && st->req_sent ? CHC_EREAD : code, "%s",
                msg);
  }
}

/*
** The connection is unusable. DEAD_PROTO still lets a flush send the
** GOAWAY nghttp2 queued; DEAD_HARD means nghttp2 must not be called
** again (nghttp2.h: after a fatal error "the only allowed operation" is
** to delete the session).
*/
static void conn_fail(chc_h2 *h2, int dead, int code, const char *msg) {
  if (h2->dead < dead) h2->dead = dead;
  if (h2->err.code == CHC_OK) h2_seterr(&h2->err, code, "%s", msg);
  fail_all(h2, code, msg);
}

static const char *goaway_text(const chc_h2 *h2, char *buf, size_t n) {
  snprintf(buf, n, "GOAWAY %s%s%s%s", nghttp2_http2_strerror(h2->goaway_code),
           h2->gdebug[0] ? ": \"" : "", h2->gdebug, h2->gdebug[0] ? "\"" : "");
  return buf;
}

/* }=================================================================== */

/* {===================================================================
** nghttp2 callbacks (they record and report; they never free the
** engine and never call back into nghttp2 beyond consume/RST)
** ==================================================================== */

/* The stream a callback is about, if the caller still wants events. */
static chc_h2_stream *live_stream(nghttp2_session *s, int32_t id) {
  chc_h2_stream *st = nghttp2_session_get_stream_user_data(s, id);
  return h2_st_live(st) ? st : NULL;
}

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f,
                            void *ud) {
  chc_h2_stream *st;
  CHC_UNUSED(ud);
  if (f->hd.type != NGHTTP2_HEADERS) return 0;
  st = live_stream(s, f->hd.stream_id);
  if (st == NULL) return 0;
  if (!st->has_head) { /* a head: the previous one may have been a 1xx */
    if (st->status > 0) st->interim = 1;
    chc_hlist_reset(&st->fields);
    st->status = 0;
    /* head_bytes is not reset: interim heads count against the limit
    ** together with the final one, so they cannot come for ever */
  } else {
    st->head_bytes = 0; /* trailers: a limit of their own */
  }
  return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f,
                     const uint8_t *name, size_t nl, const uint8_t *value,
                     size_t vl, uint8_t flags, void *ud) {
  chc_h2 *h2 = ud;
  chc_h2_stream *st;
  chc_hlist *dst;
  CHC_UNUSED(flags);
  if (f->hd.type != NGHTTP2_HEADERS) return 0;
  st = live_stream(s, f->hd.stream_id);
  if (st == NULL) return 0;
  /* RFC 9113 6.5.2, SETTINGS_MAX_HEADER_LIST_SIZE: "The value is based on
  ** the uncompressed size of field lines, including the length of the
  ** name and value in units of octets plus an overhead of 32 octets for
  ** each field line." We advertise it and hold the server to it. */
  st->head_bytes += nl + vl + 32;
  if (st->head_bytes > h2->max_header) {
    stream_fail(st, 0, CHC_EREMOTE_PROTO,
                "response %s larger than %zu bytes (stream %d)",
                st->has_head  ? "trailers"
                : st->interim ? "head and the interim (1xx) heads before it"
                              : "head",
                h2->max_header, (int)st->id);
    /* nghttp2 resets the stream (INTERNAL_ERROR) and skips the rest */
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  if (!st->has_head && nl == 7 && memcmp(name, ":status", 7) == 0) {
    /* nghttp2's HTTP messaging checked it is 3 digits */
    st->status =
        (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
    return 0;
  }
  dst = st->has_head ? &st->trailers : &st->fields;
  if (chc_hlist_add(dst, (const char *)name, nl, (const char *)value, vl) < 0) {
    stream_fail(st, 0, CHC_EREAD, "out of memory storing the response head");
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  return 0;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  chc_h2 *h2 = ud;
  chc_h2_stream *st;
  switch (f->hd.type) {
    case NGHTTP2_HEADERS:
      st = live_stream(s, f->hd.stream_id);
      if (st == NULL) return 0;
      if (!st->has_head) {
        /* RFC 9113 8.1: "For a response only, a server MAY send any
        ** number of interim responses before the HEADERS frame containing
        ** a final response." Skip them: only the final head counts. */
        if (st->status >= 200) {
          st->has_head = 1;
          CB(h2, on_head, st, st->ud);
        }
      }
      if ((f->hd.flags & NGHTTP2_FLAG_END_STREAM) && st->has_head)
        stream_end(st);
      break;
    case NGHTTP2_DATA:
      if (f->hd.flags & NGHTTP2_FLAG_END_STREAM) {
        st = live_stream(s, f->hd.stream_id);
        if (st) stream_end(st);
      }
      break;
    case NGHTTP2_RST_STREAM:
      st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
      if (st) { /* on_stream_close follows and tells the reader */
        st->rst_recv = 1;
        st->rst_code = f->rst_stream.error_code;
      }
      break;
    case NGHTTP2_GOAWAY: {
      const nghttp2_goaway *g = &f->goaway;
      h2->goaway_recv = 1;
      h2->goaway_last = g->last_stream_id;
      h2->goaway_code = g->error_code;
      chc_printable(h2->gdebug, sizeof h2->gdebug, (const char *)g->opaque_data,
                g->opaque_data_len);
      CB(h2, on_goaway, h2, h2->ud, g->last_stream_id, g->error_code);
      break;
    }
    case NGHTTP2_SETTINGS:
      if (!(f->hd.flags & NGHTTP2_FLAG_ACK)) {
        h2->settings_recv = 1;
        CB(h2, on_slots, h2, h2->ud);
      }
      break;
    case NGHTTP2_PING:
      if ((f->hd.flags & NGHTTP2_FLAG_ACK) && h2->pings_out > 0) {
        h2->pings_out--;
        CB(h2, on_ping_ack, h2, h2->ud);
      }
      break;
    default:
      break;
  }
  return 0;
}

static int on_data_chunk_recv(nghttp2_session *s, uint8_t flags, int32_t id,
                              const uint8_t *data, size_t len, void *ud) {
  chc_h2_stream *st = live_stream(s, id);
  size_t before;
  CHC_UNUSED(flags);
  CHC_UNUSED(ud);
  if (st == NULL) {
    /* nobody will read it: hand the window straight back */
    nghttp2_session_consume(s, id, len);
    return 0;
  }
  before = st->buffered;
  if (body_append(st, data, len) < 0) {
    /* what was stored stays for the reader, who consumes it */
    stream_fail(st, 0, CHC_EREAD, "out of memory buffering the body");
    nghttp2_session_consume(s, id, len - (st->buffered - before));
    nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, id, NGHTTP2_INTERNAL_ERROR);
    return 0;
  }
  CB(st->h2, on_data, st, st->ud, len);
  return 0;
}

/*
** nghttp2 closed the stream. If the caller still waits for the response,
** this is where a stream that neither ended nor failed learns why:
** the server reset it, a GOAWAY left it unprocessed, or nghttp2 reset it
** because the server broke the protocol on it.
*/
static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t code,
                           void *ud) {
  chc_h2 *h2 = ud;
  chc_h2_stream *st = nghttp2_session_get_stream_user_data(s, id);
  char gb[128];
  if (st == NULL) return 0;
  st->closed = 1;
  if (h2->nopen > 0) h2->nopen--;
  if (st->rst_recv) {
    /* RFC 9113 8.7: "The REFUSED_STREAM error code can be included in a
    ** RST_STREAM frame to indicate that the stream is being closed prior
    ** to any processing having occurred. Any request that was sent on
    ** the reset stream can be safely retried." */
    stream_fail(st, st->rst_code == NGHTTP2_REFUSED_STREAM, CHC_EREMOTE_PROTO,
                "stream reset by the server: %s",
                nghttp2_http2_strerror(st->rst_code));
  } else if (h2->goaway_recv && id > h2->goaway_last) {
    /* RFC 9113 8.7: "The GOAWAY frame indicates the highest stream
    ** number that might have been processed. Requests on streams with
    ** higher numbers are therefore guaranteed to be safe to retry." */
    stream_fail(st, 1, CHC_EREMOTE_PROTO,
                "the server is closing the connection (%s) and did not "
                "process this request",
                goaway_text(h2, gb, sizeof gb));
  } else if (h2_st_live(st)) {
    /* nghttp2 closes with REFUSED_STREAM only what it never processed
    ** (a HEADERS that could not go out, streams above a GOAWAY) */
    stream_fail(
        st, !st->hdr_sent || code == NGHTTP2_REFUSED_STREAM, CHC_EREMOTE_PROTO,
        "stream %d closed by the HTTP/2 layer (%s)%s%s", (int)id,
        nghttp2_http2_strerror(code), h2->emsg[0] ? ": " : "", h2->emsg);
  }
  if (st->released) h2_st_free(st);
  if (h2->dead == ALIVE) CB(h2, on_slots, h2, h2->ud);
  return 0;
}

/* A frame broke the rules for its stream (malformed head, content-length
** mismatch, ...): nghttp2 resets the stream; fail it now with the reason
** rather than later with a bare error code. */
static int on_invalid_frame_recv(nghttp2_session *s, const nghttp2_frame *f,
                                 int lib_error, void *ud) {
  chc_h2 *h2 = ud;
  chc_h2_stream *st;
  if (h2->emsg[0] == '\0')
    snprintf(h2->emsg, sizeof h2->emsg, "%s", nghttp2_strerror(lib_error));
  if (f->hd.stream_id == 0) return 0;
  st = live_stream(s, f->hd.stream_id);
  if (st)
    stream_fail(st, 0, CHC_EREMOTE_PROTO,
                "malformed response from the server on stream %d: %s",
                (int)f->hd.stream_id, h2->emsg);
  return 0;
}

static int on_error2(nghttp2_session *s, int lib_error, const char *msg,
                     size_t len, void *ud) {
  chc_h2 *h2 = ud;
  CHC_UNUSED(s);
  CHC_UNUSED(lib_error);
  if (len >= sizeof h2->emsg) len = sizeof h2->emsg - 1;
  memcpy(h2->emsg, msg, len);
  h2->emsg[len] = '\0';
  return 0;
}

static int on_frame_send(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  chc_h2 *h2 = ud;
  chc_h2_stream *st;
  if (f->hd.type == NGHTTP2_GOAWAY &&
      f->goaway.error_code != NGHTTP2_NO_ERROR && !h2->shutting &&
      h2->dead == ALIVE) {
    /* nghttp2 ended the connection over a peer error feed did not catch */
    char msg[CHC_ERRMSG_MAX];
    snprintf(msg, sizeof msg, "HTTP/2 protocol error from the server (%s)%s%s",
             nghttp2_http2_strerror(f->goaway.error_code),
             h2->emsg[0] ? ": " : "", h2->emsg);
    conn_fail(h2, DEAD_PROTO, CHC_EREMOTE_PROTO, msg);
    return 0;
  }
  if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) return 0;
  st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
  if (st == NULL) return 0;
  if (f->hd.type == NGHTTP2_HEADERS) st->hdr_sent = 1;
  if ((f->hd.flags & NGHTTP2_FLAG_END_STREAM) && !st->req_sent) {
    st->req_sent = 1;
    if (!st->released) CB(h2, on_sent, st, st->ud);
  }
  return 0;
}

/* A request HEADERS could not be sent; nghttp2 closes the stream next. */
static int on_frame_not_send(nghttp2_session *s, const nghttp2_frame *f,
                             int lib_error, void *ud) {
  chc_h2 *h2 = ud;
  chc_h2_stream *st;
  char gb[128];
  if (f->hd.type != NGHTTP2_HEADERS) return 0;
  st = live_stream(s, f->hd.stream_id);
  if (st == NULL) return 0;
  if (h2->goaway_recv)
    stream_fail(st, 1, CHC_EREMOTE_PROTO,
                "the server is closing the connection (%s); the request "
                "was not sent",
                goaway_text(h2, gb, sizeof gb));
  else if (lib_error == NGHTTP2_ERR_START_STREAM_NOT_ALLOWED ||
           lib_error == NGHTTP2_ERR_SESSION_CLOSING)
    stream_fail(st, 1, CHC_ECLOSED,
                "the connection is closing; the request was not sent");
  else
    stream_fail(st, 0, CHC_ELOCAL_PROTO, "the request could not be sent: %s",
                nghttp2_strerror(lib_error));
  return 0;
}

/* }=================================================================== */

/* {===================================================================
** Connection
** ==================================================================== */

/* nghttp2's allocations go through the C library's functions as named
** here, so that the allocation-failure build (src/allocfail.h) counts and
** fails them like ours; otherwise this is nghttp2's default allocator. */
static void *h2_malloc(size_t n, void *ud) {
  (void)ud;
  return malloc(n);
}
static void h2_free(void *p, void *ud) {
  (void)ud;
  free(p);
}
static void *h2_calloc(size_t n, size_t m, void *ud) {
  (void)ud;
  return calloc(n, m);
}
static void *h2_realloc(void *p, size_t n, void *ud) {
  (void)ud;
  return realloc(p, n);
}
static nghttp2_mem h2_mem = {NULL, h2_malloc, h2_free, h2_calloc, h2_realloc};

chc_h2 *chc_h2_new(const chc_h2_opts *o, const chc_h2_callbacks *cb, void *cud,
                   chc_error *e) {
  static const chc_h2_opts defaults = {0, 0, 0, 0};
  nghttp2_session_callbacks *cbs = NULL;
  nghttp2_option *opt = NULL;
  nghttp2_settings_entry iv[3];
  uint32_t swin, cwin;
  chc_h2 *h2;
  int rv;
  if (o == NULL) o = &defaults;
  swin = o->stream_window ? o->stream_window : DEF_STREAM_WINDOW;
  cwin = o->conn_window ? o->conn_window : DEF_CONN_WINDOW;
  if (swin > NGHTTP2_MAX_WINDOW_SIZE || cwin > NGHTTP2_MAX_WINDOW_SIZE ||
      cwin < NGHTTP2_INITIAL_CONNECTION_WINDOW_SIZE) {
    h2_seterr(e, CHC_ELOCAL_PROTO,
           "HTTP/2 windows must be at most 2^31-1 bytes (and the "
           "connection window at least 65535)");
    return NULL;
  }
  h2 = calloc(1, sizeof *h2);
  if (h2 == NULL) goto nomem;
  if (cb) h2->cb = *cb;
  h2->ud = cud;
  h2->max_header = o->max_header ? o->max_header : DEF_MAX_HEADER;
  h2->upload_limit = o->upload_buffer ? o->upload_buffer : DEF_UPLOAD;
  chc_list_init(&h2->streams);
  if (nghttp2_session_callbacks_new(&cbs) != 0) goto nomem;
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs,
                                                          on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs,
                                                            on_data_chunk_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
  nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(
      cbs, on_invalid_frame_recv);
  nghttp2_session_callbacks_set_error_callback2(cbs, on_error2);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send);
  nghttp2_session_callbacks_set_on_frame_not_send_callback(cbs,
                                                           on_frame_not_send);
  if (nghttp2_option_new(&opt) != 0) goto nomem;
  /* Backpressure: the windows reopen only as the reader consumes. */
  nghttp2_option_set_no_auto_window_update(opt, 1);
  rv = nghttp2_session_client_new3(&h2->s, cbs, h2, opt, &h2_mem);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
  opt = NULL;
  cbs = NULL;
  if (rv != 0) goto nomem;
  /* RFC 9113 6.5.2: "A server MUST NOT send a PUSH_PROMISE frame if it
  ** receives this parameter [SETTINGS_ENABLE_PUSH] set to a value of 0".
  ** nghttp2 sends the 24-byte client magic ahead of this SETTINGS, and
  ** per RFC 9113 3.4 "clients are permitted to send additional frames
  ** to the server immediately after sending the client connection
  ** preface": requests need not wait for the server's SETTINGS. */
  iv[0].settings_id = NGHTTP2_SETTINGS_ENABLE_PUSH;
  iv[0].value = 0;
  iv[1].settings_id = NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE;
  iv[1].value = swin;
  iv[2].settings_id = NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE;
  iv[2].value =
      h2->max_header > UINT32_MAX ? UINT32_MAX : (uint32_t)h2->max_header;
  if (nghttp2_submit_settings(h2->s, NGHTTP2_FLAG_NONE, iv, 3) != 0 ||
      nghttp2_session_set_local_window_size(h2->s, NGHTTP2_FLAG_NONE, 0,
                                            (int32_t)cwin) != 0)
    goto nomem;
  return h2;
nomem:
  if (cbs) nghttp2_session_callbacks_del(cbs);
  if (opt) nghttp2_option_del(opt);
  if (h2) {
    if (h2->s) nghttp2_session_del(h2->s);
    free(h2);
  }
  h2_seterr(e, CHC_EREAD, "out of memory creating the HTTP/2 session");
  return NULL;
}

void chc_h2_free(chc_h2 *h2) {
  if (h2 == NULL) return;
  nghttp2_session_del(h2->s); /* calls nothing back */
  while (!chc_list_empty(&h2->streams)) {
    chc_h2_stream *st = chc_container_of(h2->streams.next, chc_h2_stream, node);
    if (st->released) {
      h2_st_free(st);
      continue;
    }
    chc_list_remove(&st->node);
    if (h2_st_live(st)) {
      st->failed = 1;
      h2_seterr(&st->err, CHC_ECLOSED, "the HTTP/2 connection was closed");
    }
    chc_buf_free(&st->up);
    st->h2 = NULL;
  }
  free(h2->nv);
  chc_buf_free(&h2->names);
  free(h2);
}

/* After a feed that nghttp2 accepted: did it decide to end the session
** over a peer error? It queued a GOAWAY with TERM_ON_SEND then, and new
** requests are no longer allowed although nobody sent or received a
** GOAWAY and stream ids are left. */
static int terminating(chc_h2 *h2) {
  return !h2->goaway_recv && !h2->shutting &&
         nghttp2_session_get_next_stream_id(h2->s) <= INT32_MAX &&
         !nghttp2_session_check_request_allowed(h2->s) &&
         nghttp2_session_want_write(h2->s);
}

ssize_t chc_h2_feed(chc_h2 *h2, const uint8_t *p, size_t n) {
  ssize_t r;
  char msg[CHC_ERRMSG_MAX];
  if (h2->dead != ALIVE) return -1;
  h2->emsg[0] = '\0';
  r = nghttp2_session_mem_recv(h2->s, p, n);
  if (r < 0) {
    snprintf(msg, sizeof msg, "HTTP/2 session failed: %s%s%s",
             nghttp2_strerror((int)r), h2->emsg[0] ? ": " : "", h2->emsg);
    conn_fail(h2, DEAD_HARD,
              r == NGHTTP2_ERR_NOMEM ? CHC_EREAD : CHC_EREMOTE_PROTO, msg);
    return -1;
  }
  if (h2->dead == ALIVE && terminating(h2)) {
    snprintf(msg, sizeof msg, "HTTP/2 protocol error from the server: %s",
             h2->emsg[0] ? h2->emsg : "connection error");
    conn_fail(h2, DEAD_PROTO, CHC_EREMOTE_PROTO, msg);
  }
  return h2->dead == ALIVE ? r : -1;
}

int chc_h2_flush(chc_h2 *h2, chc_buf *out, size_t limit) {
  if (h2->dead == DEAD_HARD) return 0;
  h2->emsg[0] = '\0';
  while (limit == 0 || out->len < limit) {
    const uint8_t *p;
    ssize_t n = nghttp2_session_mem_send(h2->s, &p);
    if (n < 0) {
      char msg[CHC_ERRMSG_MAX];
      snprintf(msg, sizeof msg, "HTTP/2 session failed: %s",
               nghttp2_strerror((int)n));
      conn_fail(h2, DEAD_HARD, CHC_EWRITE, msg);
      return -1;
    }
    if (n == 0) break;
    if (chc_buf_append(out, p, (size_t)n) < 0) {
      conn_fail(h2, DEAD_HARD, CHC_EWRITE,
                "out of memory buffering HTTP/2 output");
      return -1;
    }
  }
  return 0;
}

int chc_h2_want_write(const chc_h2 *h2) {
  return h2->dead != DEAD_HARD && nghttp2_session_want_write(h2->s);
}

int chc_h2_want_read(const chc_h2 *h2) {
  return h2->dead == ALIVE && nghttp2_session_want_read(h2->s);
}

const chc_error *chc_h2_error(const chc_h2 *h2) {
  return h2->err.code != CHC_OK ? &h2->err : NULL;
}

uint32_t chc_h2_max_streams(const chc_h2 *h2) {
  return nghttp2_session_get_remote_settings(
      h2->s, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
}

int chc_h2_connect_protocol(const chc_h2 *h2) {
  return h2->settings_recv &&
         nghttp2_session_get_remote_settings(
             h2->s, NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL) == 1;
}

int chc_h2_settings_received(const chc_h2 *h2) { return h2->settings_recv; }

size_t chc_h2_open_streams(const chc_h2 *h2) {
  return h2->nopen;
}

/* Until the server's SETTINGS arrive its stream limit is unknown (the
** protocol's initial value is "unlimited"): one stream only, so that a
** server with a small limit does not refuse the streams above it. */
int chc_h2_can_open(const chc_h2 *h2) {
  return h2->dead == ALIVE && !h2->goaway_recv && !h2->shutting &&
         nghttp2_session_check_request_allowed(h2->s) &&
         h2->nopen < (h2->settings_recv ? chc_h2_max_streams(h2) : 1);
}

int chc_h2_goaway(const chc_h2 *h2, int32_t *last) {
  if (h2->goaway_recv && last) *last = h2->goaway_last;
  return h2->goaway_recv;
}

int chc_h2_ping(chc_h2 *h2) {
  uint8_t opaque[8];
  uint64_t v = ++h2->ping_seq;
  int i;
  if (h2->dead != ALIVE) return -1;
  for (i = 0; i < 8; i++) opaque[i] = (uint8_t)(v >> (56 - 8 * i));
  if (nghttp2_submit_ping(h2->s, NGHTTP2_FLAG_NONE, opaque) != 0) return -1;
  h2->pings_out++;
  return 0;
}

void chc_h2_shutdown(chc_h2 *h2) {
  if (h2->dead != ALIVE || h2->shutting) return;
  h2->shutting = 1;
  fail_all(h2, CHC_ECLOSED, "the HTTP/2 connection is being closed");
  if (nghttp2_session_terminate_session(h2->s, NGHTTP2_NO_ERROR) != 0)
    h2->dead = DEAD_HARD;
}

void chc_h2_abort(chc_h2 *h2, int code, const char *fmt, ...) {
  char msg[CHC_ERRMSG_MAX], gb[128];
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  /* a server that sends GOAWAY with an error usually closes right after:
  ** its reason is the useful part of the message */
  if (h2->goaway_recv && h2->goaway_code != NGHTTP2_NO_ERROR && n >= 0 &&
      (size_t)n < sizeof msg)
    snprintf(msg + n, sizeof msg - (size_t)n, " (after %s)",
             goaway_text(h2, gb, sizeof gb));
  conn_fail(h2, DEAD_HARD, code, msg);
}

/* }=================================================================== */

