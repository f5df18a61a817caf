/*
** test_h2.c: the HTTP/2 client engine against an nghttp2 *server*
** session in the same process. No sockets: the bytes the engine flushes
** are fed to the server with mem_recv, and what the server's mem_send
** produces is fed back to the engine. The server answers by path, like
** a scripted peer:
**   /hello            200 "hello world"
**   /n/<N>            200, N pattern bytes (pattern() of stream id, offset)
**   /trailers         200 "abc" + trailers
**   /early            103 Early Hints, then 200 "ok"
**   /echo             200 "len=<n> sum=<fnv1a>" of the request body
**   /rst/<code>       RST_STREAM(code) instead of a response
**   /partial          200 + 1000 pattern bytes, no END_STREAM (the test
**                     then resets the stream)
**   /cl-mismatch      content-length: 10 with a 5-byte body
**   /badvalue         a response field value holding LF (malformed)
**   /bighead          a head larger than the engine's limit
** With `hold`, requests are recorded and answered only when a test says.
**
** Build and run: make -C tests/c test_h2 && tests/c/test_h2 (or, with the
** other tests: make -C tests/c check, valgrind or asan).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "h2.h"

/* CHECK: what assert() would say, but never compiled out (NDEBUG has no
** effect), so the calls with side effects inside it always run. A failed
** check ends the program with its file, line and expression. */
_Noreturn static void check_failed(const char *file, int line, const char *e) {
  fprintf(stderr, "%s:%d: check failed: %s\n", file, line, e);
  exit(1);
}
#define CHECK(c) ((c) ? (void)0 : check_failed(__FILE__, __LINE__, #c))

#define MAXS 2048 /* server streams tracked, by (id - 1) / 2 */

static uint8_t pattern(int32_t id, size_t i) {
  return (uint8_t)((i * 31u + (size_t)id * 7u) % 251u);
}

static uint32_t fnv(uint32_t h, const uint8_t *p, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
  return h;
}
#define FNV0 2166136261u

/* {===================================================================
** The server peer
** ==================================================================== */

enum { B_NONE, B_TEXT, B_PATTERN };

typedef struct sreq {
  int32_t id;
  chc_hlist h; /* every field received, pseudo-headers included */
  size_t body_len, unconsumed;
  uint32_t body_sum;
  int ended, closed, responded;
  uint32_t close_code;
  /* response body */
  int bkind;
  chc_buf text;
  size_t blen, boff;
  int trailers, no_end, head;
} sreq;

typedef struct peer_cfg {
  uint32_t max_streams; /* 0: not sent (unlimited) */
  uint32_t window;      /* SETTINGS_INITIAL_WINDOW_SIZE; 0: default */
  int manual_window;    /* the server consumes uploads only when told */
  int pad;              /* pad DATA frames */
  int hold;             /* answer only when the test says */
  int connect_protocol; /* SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 */
} peer_cfg;

typedef struct peer {
  nghttp2_session *s;
  peer_cfg cfg;
  sreq *r[MAXS];
  size_t data_sent; /* DATA payload bytes the server produced */
  int nreqs;
} peer;

static sreq *peer_req(peer *p, int32_t id) {
  CHECK(id > 0 && id % 2 == 1 && (id - 1) / 2 < MAXS);
  return p->r[(id - 1) / 2];
}

static const char *sreq_get(const sreq *r, const char *name) {
  return chc_hlist_get(&r->h, name, NULL);
}

static ssize_t srv_read(nghttp2_session *s, int32_t id, uint8_t *buf,
                        size_t len, uint32_t *flags, nghttp2_data_source *src,
                        void *ud) {
  sreq *r = src->ptr;
  peer *p = ud;
  size_t n = r->blen - r->boff, i;
  (void)s;
  (void)id;
  if (n > len) n = len;
  if (p->cfg.pad && n > 10000) n = 10000; /* leave room for padding */
  if (r->bkind == B_TEXT)
    memcpy(buf, r->text.data + r->boff, n);
  else
    for (i = 0; i < n; i++) buf[i] = pattern(r->id, r->boff + i);
  r->boff += n;
  p->data_sent += n;
  if (r->boff == r->blen) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (r->no_end) {
      *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    } else if (r->trailers) {
      nghttp2_nv t[] = {
          {(uint8_t *)"x-checksum", (uint8_t *)"42", 10, 2, 0},
          {(uint8_t *)"x-more", (uint8_t *)"yes", 6, 3, 0},
      };
      *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      CHECK(nghttp2_submit_trailer(s, r->id, t, 2) == 0);
    }
  }
  return (ssize_t)n;
}

#define NV(n, v) \
  { (uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), 0 }

static void submit_resp(peer *p, sreq *r, const char *status,
                        const nghttp2_nv *extra, size_t nextra) {
  nghttp2_nv nv[2100];
  nghttp2_data_provider prd;
  char cl[32];
  size_t k = 0, i;
  nv[k++] = (nghttp2_nv)NV(":status", status);
  if (r->bkind != B_NONE && !r->no_end && !r->trailers) {
    snprintf(cl, sizeof cl, "%zu", r->blen);
    nv[k++] = (nghttp2_nv)NV("content-length", cl);
  }
  for (i = 0; i < nextra; i++) nv[k++] = extra[i];
  prd.source.ptr = r;
  prd.read_callback = srv_read;
  CHECK(nghttp2_submit_response(p->s, r->id, nv, k,
                                 r->bkind == B_NONE || r->head ? NULL : &prd) ==
         0);
  r->responded = 1;
}

static void set_text(sreq *r, const char *s) {
  r->bkind = B_TEXT;
  chc_buf_reset(&r->text);
  CHECK(chc_buf_append(&r->text, s, strlen(s)) == 0);
  r->blen = strlen(s);
}

/* Answers a complete request according to its path. */
static void respond(peer *p, sreq *r) {
  const char *path = sreq_get(r, ":path");
  CHECK(path != NULL && !r->responded);
  r->head = strcmp(sreq_get(r, ":method"), "HEAD") == 0;
  if (strcmp(path, "/hello") == 0) {
    nghttp2_nv ct[] = {NV("content-type", "text/plain"), NV("x-dup", "1"),
                       NV("x-dup", "2")};
    set_text(r, "hello world");
    submit_resp(p, r, "200", ct, 3);
  } else if (strncmp(path, "/n/", 3) == 0) {
    r->bkind = B_PATTERN;
    r->blen = strtoul(path + 3, NULL, 10);
    submit_resp(p, r, "200", NULL, 0);
  } else if (strcmp(path, "/trailers") == 0) {
    set_text(r, "abc");
    r->trailers = 1;
    submit_resp(p, r, "200", NULL, 0);
  } else if (strcmp(path, "/early") == 0) {
    nghttp2_nv hints[] = {NV(":status", "103"),
                          NV("link", "</style.css>; rel=preload")};
    CHECK(nghttp2_submit_headers(p->s, NGHTTP2_FLAG_NONE, r->id, NULL, hints,
                                  2, NULL) == 0);
    set_text(r, "ok");
    submit_resp(p, r, "200", NULL, 0);
  } else if (strcmp(path, "/echo") == 0) {
    char t[64];
    snprintf(t, sizeof t, "len=%zu sum=%08x", r->body_len,
             (unsigned)r->body_sum);
    set_text(r, t);
    submit_resp(p, r, "200", NULL, 0);
  } else if (strncmp(path, "/rst/", 5) == 0) {
    CHECK(nghttp2_submit_rst_stream(p->s, NGHTTP2_FLAG_NONE, r->id,
                                     (uint32_t)atoi(path + 5)) == 0);
    r->responded = 1;
  } else if (strcmp(path, "/partial") == 0) {
    r->bkind = B_PATTERN;
    r->blen = 1000;
    r->no_end = 1;
    submit_resp(p, r, "200", NULL, 0);
  } else if (strcmp(path, "/cl-mismatch") == 0) {
    /* by hand: submit_resp would add the true length */
    nghttp2_nv nv[] = {NV(":status", "200"), NV("content-length", "10")};
    nghttp2_data_provider prd;
    set_text(r, "hello");
    prd.source.ptr = r;
    prd.read_callback = srv_read;
    CHECK(nghttp2_submit_response(p->s, r->id, nv, 2, &prd) == 0);
    r->responded = 1;
  } else if (strcmp(path, "/badvalue") == 0) {
    nghttp2_nv bad[] = {NV("x-bad", "a\nb")};
    set_text(r, "x");
    submit_resp(p, r, "200", bad, 1);
  } else if (strcmp(path, "/bighead") == 0) {
    /* 2100 distinct fields of ~40 bytes: > 65536 by RFC 9113 6.5.2 */
    static char names[2050][16];
    nghttp2_nv nv[2050];
    int i;
    for (i = 0; i < 2050; i++) {
      snprintf(names[i], sizeof names[i], "x-h%d", i);
      nv[i] = (nghttp2_nv)NV(names[i], "0123456789");
    }
    set_text(r, "x");
    submit_resp(p, r, "200", nv, 2050);
  } else {
    set_text(r, "not found");
    submit_resp(p, r, "404", NULL, 0);
  }
}

static int srv_begin_headers(nghttp2_session *s, const nghttp2_frame *f,
                             void *ud) {
  peer *p = ud;
  sreq *r;
  if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
    return 0;
  r = calloc(1, sizeof *r);
  CHECK(r != NULL);
  r->id = f->hd.stream_id;
  r->body_sum = FNV0;
  CHECK((r->id - 1) / 2 < MAXS && p->r[(r->id - 1) / 2] == NULL);
  p->r[(r->id - 1) / 2] = r;
  p->nreqs++;
  nghttp2_session_set_stream_user_data(s, r->id, r);
  return 0;
}

static int srv_header(nghttp2_session *s, const nghttp2_frame *f,
                      const uint8_t *n, size_t nl, const uint8_t *v, size_t vl,
                      uint8_t flags, void *ud) {
  sreq *r = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
  (void)flags;
  (void)ud;
  if (r)
    CHECK(chc_hlist_add(&r->h, (const char *)n, nl, (const char *)v, vl) == 0);
  return 0;
}

static int srv_data(nghttp2_session *s, uint8_t flags, int32_t id,
                    const uint8_t *d, size_t len, void *ud) {
  peer *p = ud;
  sreq *r = nghttp2_session_get_stream_user_data(s, id);
  (void)flags;
  if (r == NULL) return 0;
  r->body_len += len;
  r->body_sum = fnv(r->body_sum, d, len);
  if (p->cfg.manual_window) r->unconsumed += len;
  return 0;
}

static int srv_frame_recv(nghttp2_session *s, const nghttp2_frame *f,
                          void *ud) {
  peer *p = ud;
  sreq *r;
  if ((f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) ||
      !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
    return 0;
  r = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
  if (r == NULL) return 0;
  r->ended = 1;
  if (!p->cfg.hold) respond(p, r);
  return 0;
}

static int srv_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud) {
  sreq *r = nghttp2_session_get_stream_user_data(s, id);
  (void)ud;
  if (r) {
    r->closed = 1;
    r->close_code = code;
  }
  return 0;
}

static ssize_t srv_pad(nghttp2_session *s, const nghttp2_frame *f, size_t max,
                       void *ud) {
  size_t want = f->hd.length + 77;
  (void)s;
  (void)ud;
  return (ssize_t)(want < max ? want : max);
}

static void peer_init(peer *p, const peer_cfg *cfg) {
  nghttp2_session_callbacks *cb;
  nghttp2_option *opt;
  nghttp2_settings_entry iv[3];
  size_t niv = 0;
  memset(p, 0, sizeof *p);
  if (cfg) p->cfg = *cfg;
  CHECK(nghttp2_session_callbacks_new(&cb) == 0);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb,
                                                          srv_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cb, srv_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, srv_data);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, srv_frame_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, srv_close);
  if (p->cfg.pad)
    nghttp2_session_callbacks_set_select_padding_callback(cb, srv_pad);
  CHECK(nghttp2_option_new(&opt) == 0);
  if (p->cfg.manual_window) nghttp2_option_set_no_auto_window_update(opt, 1);
  CHECK(nghttp2_session_server_new2(&p->s, cb, p, opt) == 0);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cb);
  if (p->cfg.max_streams) {
    iv[niv].settings_id = NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS;
    iv[niv++].value = p->cfg.max_streams;
  }
  if (p->cfg.window) {
    iv[niv].settings_id = NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE;
    iv[niv++].value = p->cfg.window;
  }
  if (p->cfg.connect_protocol) {
    iv[niv].settings_id = NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL;
    iv[niv++].value = 1;
  }
  CHECK(nghttp2_submit_settings(p->s, NGHTTP2_FLAG_NONE, iv, niv) == 0);
}

static void peer_free(peer *p) {
  int i;
  nghttp2_session_del(p->s);
  for (i = 0; i < MAXS; i++) {
    if (p->r[i] == NULL) continue;
    chc_hlist_free(&p->r[i]->h);
    chc_buf_free(&p->r[i]->text);
    free(p->r[i]);
  }
}

/* The server's application read n more upload bytes of stream id. */
static void peer_consume(peer *p, int32_t id, size_t n) {
  sreq *r = peer_req(p, id);
  CHECK(n <= r->unconsumed);
  r->unconsumed -= n;
  CHECK(nghttp2_session_consume(p->s, id, n) == 0);
}

/* }=================================================================== */

/* {===================================================================
** The client side: recorded events, a test context, the pump
** ==================================================================== */

typedef struct ctx ctx;

typedef struct creq {
  ctx *t;
  chc_h2_stream *st;
  int idx;
  int heads, ends, errors, writables, sents, datas;
  int auto_read; /* the pump drains it, like an eager reader */
  size_t data_bytes, max_buffered;
  chc_buf body; /* what the reader consumed */
} creq;

struct ctx {
  chc_h2 *c;
  peer p;
  int slots, goaways, acks;
  int32_t goaway_last;
  uint32_t goaway_code;
  creq *reqs;
  int nreqs;
  int feed_rc;  /* last client feed: 0 or -1 */
  chc_buf wire; /* client -> server scratch */
  chc_buf s2c;  /* server -> client, recorded */
  int record;   /* keep s2c instead of clearing it */
  int *log;     /* creq indexes in on_data order */
  size_t nlog, caplog;
  size_t consumed_total; /* by drain() */
  size_t s2c_total;      /* bytes the server sent */
};

static void cb_head(chc_h2_stream *st, void *ud) {
  creq *r = ud;
  CHECK(r->st == st || r->st == NULL);
  CHECK(r->ends == 0 && r->errors == 0);
  r->heads++;
  CHECK(chc_h2_stream_has_head(st));
}

static void cb_data(chc_h2_stream *st, void *ud, size_t n) {
  creq *r = ud;
  ctx *t = r->t;
  size_t b = chc_h2_stream_buffered(st);
  CHECK(r->heads == 1 && r->ends == 0 && r->errors == 0 && n > 0);
  r->datas++;
  r->data_bytes += n;
  if (b > r->max_buffered) r->max_buffered = b;
  if (t->nlog == t->caplog) {
    t->caplog = t->caplog ? t->caplog * 2 : 1024;
    t->log = realloc(t->log, t->caplog * sizeof *t->log);
    CHECK(t->log != NULL);
  }
  t->log[t->nlog++] = r->idx;
}

static void cb_end(chc_h2_stream *st, void *ud) {
  creq *r = ud;
  (void)st;
  CHECK(r->heads == 1 && r->ends == 0 && r->errors == 0);
  r->ends++;
}

static void cb_error(chc_h2_stream *st, void *ud) {
  creq *r = ud;
  CHECK(r->ends == 0 && r->errors == 0);
  CHECK(chc_h2_stream_error(st) != NULL);
  r->errors++;
}

static void cb_writable(chc_h2_stream *st, void *ud) {
  creq *r = ud;
  (void)st;
  r->writables++;
}

static void cb_sent(chc_h2_stream *st, void *ud) {
  creq *r = ud;
  (void)st;
  CHECK(r->sents == 0);
  r->sents++;
}

static void cb_slots(chc_h2 *h2, void *cud) {
  ctx *t = cud;
  (void)h2;
  t->slots++;
}

static void cb_goaway(chc_h2 *h2, void *cud, int32_t last, uint32_t code) {
  ctx *t = cud;
  (void)h2;
  t->goaways++;
  t->goaway_last = last;
  t->goaway_code = code;
}

static void cb_ack(chc_h2 *h2, void *cud) {
  ctx *t = cud;
  (void)h2;
  t->acks++;
}

static const chc_h2_callbacks CBS = {cb_head,  cb_data,     cb_end,
                                     cb_error, cb_writable, cb_sent,
                                     cb_slots, cb_goaway,   cb_ack};

static void ctx_init(ctx *t, const chc_h2_opts *o, const peer_cfg *cfg,
                     int nreqs) {
  chc_error e = {0, ""};
  int i;
  memset(t, 0, sizeof *t);
  t->c = chc_h2_new(o, &CBS, t, &e);
  CHECK(t->c != NULL);
  peer_init(&t->p, cfg);
  t->nreqs = nreqs;
  t->reqs = calloc((size_t)(nreqs ? nreqs : 1), sizeof *t->reqs);
  CHECK(t->reqs != NULL);
  for (i = 0; i < nreqs; i++) {
    t->reqs[i].t = t;
    t->reqs[i].idx = i;
    t->reqs[i].auto_read = 1;
  }
}

static void ctx_free(ctx *t) {
  int i;
  for (i = 0; i < t->nreqs; i++) {
    if (t->reqs[i].st) chc_h2_stream_release(t->reqs[i].st);
    chc_buf_free(&t->reqs[i].body);
  }
  if (t->c) chc_h2_free(t->c);
  peer_free(&t->p);
  chc_buf_free(&t->wire);
  chc_buf_free(&t->s2c);
  free(t->reqs);
  free(t->log);
}

/* Reads everything buffered on r, as a reader would. */
static size_t drain(creq *r) {
  const char *p;
  size_t n, total = 0;
  while (r->st && chc_h2_stream_peek(r->st, &p, &n) == 1) {
    CHECK(n > 0);
    CHECK(chc_buf_append(&r->body, p, n) == 0);
    chc_h2_stream_consume(r->st, n);
    total += n;
  }
  r->t->consumed_total += total;
  return total;
}

/* Moves bytes both ways until neither side has anything to say. */
static void pump(ctx *t) {
  int round, i;
  for (round = 0; round < 1000000; round++) {
    int moved = 0;
    const uint8_t *d;
    ssize_t n;
    size_t from = t->record ? t->s2c.len : 0;
    if (t->c && t->feed_rc == 0) {
      chc_buf_reset(&t->wire);
      CHECK(chc_h2_flush(t->c, &t->wire, 0) == 0);
      if (t->wire.len > 0) {
        n = nghttp2_session_mem_recv(t->p.s, (const uint8_t *)t->wire.data,
                                     t->wire.len);
        CHECK(n == (ssize_t)t->wire.len);
        moved = 1;
      }
    }
    if (!t->record) chc_buf_reset(&t->s2c);
    while ((n = nghttp2_session_mem_send(t->p.s, &d)) > 0) {
      CHECK(chc_buf_append(&t->s2c, d, (size_t)n) == 0);
      t->s2c_total += (size_t)n;
      moved = 1;
    }
    CHECK(n == 0);
    if (t->c && t->feed_rc == 0 && t->s2c.len > from) {
      ssize_t r = chc_h2_feed(t->c, (const uint8_t *)t->s2c.data + from,
                              t->s2c.len - from);
      if (r < 0)
        t->feed_rc = -1;
      else
        CHECK((size_t)r == t->s2c.len - from);
    }
    for (i = 0; i < t->nreqs; i++)
      if (t->reqs[i].auto_read && drain(&t->reqs[i]) > 0) moved = 1;
    if (!moved) return;
  }
  CHECK(!"pump did not settle");
}

static chc_h2_stream *submit(ctx *t, int i, const char *method,
                             const char *path, const chc_hlist *h, int kind,
                             const void *body, size_t blen) {
  chc_h2_request rq;
  chc_error e = {0, ""};
  memset(&rq, 0, sizeof rq);
  rq.method = method;
  rq.scheme = "http";
  rq.authority = "example.test:8080";
  rq.path = path;
  rq.headers = h;
  rq.body_kind = kind;
  rq.body = body;
  rq.body_len = blen;
  t->reqs[i].st = chc_h2_submit(t->c, &rq, &t->reqs[i], &e);
  if (t->reqs[i].st == NULL) {
    fprintf(stderr, "submit %s: %s\n", path, e.msg);
    CHECK(!"submit failed");
  }
  return t->reqs[i].st;
}

static int body_is_pattern(const creq *r, size_t n) {
  size_t i;
  int32_t id = chc_h2_stream_id(r->st);
  if (r->body.len != n) return 0;
  for (i = 0; i < n; i++)
    if ((uint8_t)r->body.data[i] != pattern(id, i)) return 0;
  return 1;
}

static int body_is(const creq *r, const char *s) {
  return r->body.len == strlen(s) && memcmp(r->body.data, s, r->body.len) == 0;
}

static const char *kind_of(const chc_h2_stream *st) {
  const chc_error *e = chc_h2_stream_error(st);
  return e ? chc_err_kind(e->code) : "";
}

static const char *msg_of(const chc_h2_stream *st) {
  const chc_error *e = chc_h2_stream_error(st);
  return e ? e->msg : "";
}

static void hadd(chc_hlist *h, const char *n, const char *v) {
  CHECK(chc_hlist_add(h, n, strlen(n), v, strlen(v)) == 0);
}

/* }=================================================================== */

/* {===================================================================
** Tests
** ==================================================================== */

static void test_get(void) {
  ctx t;
  chc_hlist h = CHC_HLIST_INIT;
  creq *r;
  sreq *sr;
  chc_hlist *fh;
  size_t vl;
  ctx_init(&t, NULL, NULL, 1);
  r = &t.reqs[0];
  hadd(&h, "User-Agent", "test/1");
  hadd(&h, "Accept", "*/*");
  submit(&t, 0, "GET", "/hello", &h, CHC_H2_BODY_NONE, NULL, 0);
  CHECK(chc_h2_stream_id(r->st) == 1);
  CHECK(chc_h2_open_streams(t.c) == 1);
  pump(&t);
  CHECK(r->heads == 1 && r->ends == 1 && r->errors == 0 && r->sents == 1);
  CHECK(chc_h2_stream_status(r->st) == 200);
  fh = chc_h2_stream_headers(r->st);
  CHECK(strcmp(chc_hlist_get(fh, "content-type", &vl), "text/plain") == 0);
  CHECK(fh->n == 4); /* content-length, content-type, x-dup x2 */
  CHECK(strcmp(chc_hlist_name(fh, 2), "x-dup") == 0);
  CHECK(strcmp(chc_hlist_value(fh, 2), "1") == 0);
  CHECK(strcmp(chc_hlist_value(fh, 3), "2") == 0);
  CHECK(chc_h2_stream_trailers(r->st) == NULL);
  CHECK(body_is(r, "hello world"));
  CHECK(chc_h2_stream_ended(r->st));
  {
    const char *p;
    size_t n;
    CHECK(chc_h2_stream_peek(r->st, &p, &n) == -1);
  }
  /* what the server saw */
  sr = peer_req(&t.p, 1);
  CHECK(strcmp(sreq_get(sr, ":method"), "GET") == 0);
  CHECK(strcmp(sreq_get(sr, ":scheme"), "http") == 0);
  CHECK(strcmp(sreq_get(sr, ":authority"), "example.test:8080") == 0);
  CHECK(strcmp(sreq_get(sr, ":path"), "/hello") == 0);
  CHECK(strcmp(sreq_get(sr, "user-agent"), "test/1") == 0);
  CHECK(strcmp(chc_hlist_name(&sr->h, 4), "user-agent") == 0);
  CHECK(sreq_get(sr, "content-length") == NULL); /* GET, no body */
  CHECK(sreq_get(sr, "host") == NULL);
  /* the stream closed on both sides: the slot is free again */
  CHECK(chc_h2_open_streams(t.c) == 0);
  CHECK(chc_h2_can_open(t.c));
  CHECK(chc_h2_max_streams(t.c) == 0xffffffffu); /* server set none */
  CHECK(t.slots >= 1);
  CHECK(chc_h2_want_read(t.c));
  CHECK(!chc_h2_want_write(t.c));
  /* HEAD: a content-length and no body */
  chc_h2_stream_release(r->st);
  chc_buf_free(&r->body);
  memset(r, 0, sizeof *r);
  r->t = &t;
  r->auto_read = 1;
  submit(&t, 0, "HEAD", "/hello", NULL, CHC_H2_BODY_NONE, NULL, 0);
  pump(&t);
  CHECK(r->heads == 1 && r->ends == 1 && r->body.len == 0);
  CHECK(strcmp(chc_hlist_get(chc_h2_stream_headers(r->st), "content-length",
                              NULL),
                "11") == 0);
  chc_hlist_free(&h);
  ctx_free(&t);
  printf("ok - GET and HEAD: head, body, end, pseudo-headers\n");
}

static void test_many_streams(void) {
  enum { N = 200 };
  ctx t;
  int i, switches = 0;
  size_t k;
  char path[32];
  ctx_init(&t, NULL, NULL, N);
  for (i = 0; i < N; i++) {
    snprintf(path, sizeof path, "/n/%d", 1000 + i * 517);
    submit(&t, i, "GET", path, NULL, CHC_H2_BODY_NONE, NULL, 0);
  }
  CHECK(chc_h2_open_streams(t.c) == N);
  /* nghttp2 assumes 100 until the server's SETTINGS say otherwise */
  CHECK(chc_h2_max_streams(t.c) == 100 && !chc_h2_can_open(t.c));
  pump(&t);
  for (i = 0; i < N; i++) {
    creq *r = &t.reqs[i];
    CHECK(r->ends == 1 && r->errors == 0);
    CHECK(chc_h2_stream_status(r->st) == 200);
    CHECK(body_is_pattern(r, (size_t)(1000 + i * 517)));
  }
  /* interleaved: DATA for different streams alternate */
  for (k = 1; k < t.nlog; k++)
    if (t.log[k] != t.log[k - 1]) switches++;
  CHECK(switches > N);
  CHECK(chc_h2_open_streams(t.c) == 0);
  ctx_free(&t);
  printf("ok - %d concurrent streams, interleaved (%d switches)\n", N,
         switches);
}

/* The pool's way: submit while can_open, the rest on on_slots. */
static void test_concurrency_limit(void) {
  enum { N = 50 };
  ctx t;
  peer_cfg cfg = {0};
  int i, next = 0, maxopen = 0;
  char path[32];
  cfg.max_streams = 7;
  ctx_init(&t, NULL, &cfg, N);
  pump(&t); /* SETTINGS exchange */
  CHECK(chc_h2_max_streams(t.c) == 7);
  while (next < N) {
    int slots = t.slots;
    while (next < N && chc_h2_can_open(t.c)) {
      snprintf(path, sizeof path, "/n/%d", 20000 + next);
      submit(&t, next, "GET", path, NULL, CHC_H2_BODY_NONE, NULL, 0);
      next++;
    }
    if ((int)chc_h2_open_streams(t.c) > maxopen)
      maxopen = (int)chc_h2_open_streams(t.c);
    pump(&t);
    CHECK(t.slots > slots || next == N);
  }
  pump(&t);
  CHECK(maxopen == 7);
  for (i = 0; i < N; i++) {
    CHECK(t.reqs[i].ends == 1);
    CHECK(body_is_pattern(&t.reqs[i], (size_t)(20000 + i)));
  }
  ctx_free(&t);
  printf("ok - SETTINGS_MAX_CONCURRENT_STREAMS=7 respected via can_open\n");
}

static void test_trailers_and_1xx(void) {
  ctx t;
  chc_hlist *tr;
  creq *a, *b;
  ctx_init(&t, NULL, NULL, 2);
  a = &t.reqs[0];
  b = &t.reqs[1];
  submit(&t, 0, "GET", "/trailers", NULL, CHC_H2_BODY_NONE, NULL, 0);
  submit(&t, 1, "GET", "/early", NULL, CHC_H2_BODY_NONE, NULL, 0);
  pump(&t);
  CHECK(a->ends == 1 && body_is(a, "abc"));
  tr = chc_h2_stream_trailers(a->st);
  CHECK(tr != NULL && tr->n == 2);
  CHECK(strcmp(chc_hlist_get(tr, "x-checksum", NULL), "42") == 0);
  CHECK(strcmp(chc_hlist_get(tr, "x-more", NULL), "yes") == 0);
  CHECK(chc_hlist_get(chc_h2_stream_headers(a->st), "x-checksum", NULL) ==
         NULL);
  /* the 103 is skipped: one head, the final one, without its fields */
  CHECK(b->heads == 1 && b->ends == 1 && body_is(b, "ok"));
  CHECK(chc_h2_stream_status(b->st) == 200);
  CHECK(chc_hlist_get(chc_h2_stream_headers(b->st), "link", NULL) == NULL);
  ctx_free(&t);
  printf("ok - trailers; 1xx heads skipped\n");
}

static void test_post_bytes(void) {
  enum { LEN = 300000 };
  ctx t;
  chc_hlist h = CHC_HLIST_INIT;
  uint8_t *body = malloc(LEN);
  char want[64];
  size_t i;
  sreq *sr;
  CHECK(body != NULL);
  for (i = 0; i < LEN; i++) body[i] = (uint8_t)(i * 13 + 5);
  ctx_init(&t, NULL, NULL, 3);
  hadd(&h, "Content-Length", "5"); /* wrong: replaced by the true length */
  hadd(&h, "Content-Type", "application/octet-stream");
  submit(&t, 0, "POST", "/echo", &h, CHC_H2_BODY_BYTES, body, LEN);
  submit(&t, 1, "POST", "/echo", NULL, CHC_H2_BODY_BYTES, body, 0);
  submit(&t, 2, "POST", "/echo", NULL, CHC_H2_BODY_NONE, NULL, 0);
  pump(&t);
  snprintf(want, sizeof want, "len=%d sum=%08x", LEN,
           (unsigned)fnv(FNV0, body, LEN));
  CHECK(t.reqs[0].ends == 1 && body_is(&t.reqs[0], want));
  CHECK(t.reqs[0].sents == 1);
  sr = peer_req(&t.p, 1);
  CHECK(strcmp(sreq_get(sr, "content-length"), "300000") == 0);
  CHECK(strcmp(sreq_get(sr, "content-type"), "application/octet-stream") == 0);
  snprintf(want, sizeof want, "len=0 sum=%08x", (unsigned)FNV0);
  CHECK(t.reqs[1].ends == 1 && body_is(&t.reqs[1], want));
  CHECK(strcmp(sreq_get(peer_req(&t.p, 3), "content-length"), "0") == 0);
  /* a POST without a body says so, as HTTP/1.1 does */
  CHECK(t.reqs[2].ends == 1 && body_is(&t.reqs[2], want));
  CHECK(strcmp(sreq_get(peer_req(&t.p, 5), "content-length"), "0") == 0);
  chc_hlist_free(&h);
  ctx_free(&t);
  free(body);
  printf("ok - POST with a bytes body (300000 bytes, empty, none)\n");
}

/* Writes producer chunks while the engine takes them. */
static void produce(creq *r, size_t *sent, size_t total, uint32_t *sum) {
  uint8_t chunk[10000];
  while (*sent < total && chc_h2_stream_writable(r->st) == 1) {
    size_t n = total - *sent < sizeof chunk ? total - *sent : sizeof chunk;
    size_t i;
    for (i = 0; i < n; i++) chunk[i] = (uint8_t)((*sent + i) * 7 + 1);
    *sum = fnv(*sum, chunk, n);
    CHECK(chc_h2_stream_write(r->st, chunk, n) == 0);
    *sent += n;
    if (*sent == total) CHECK(chc_h2_stream_write_end(r->st) == 0);
  }
}

static void test_post_producer_flow_control(void) {
  const size_t total = 1024 * 1024 + 123;
  ctx t;
  chc_h2_opts o = {0};
  peer_cfg cfg = {0};
  creq *r;
  sreq *sr;
  size_t sent = 0, rounds = 0;
  uint32_t sum = FNV0;
  char want[64];
  o.upload_buffer = 32 * 1024;
  cfg.manual_window = 1; /* the server's windows: 65535, opened by hand */
  ctx_init(&t, &o, &cfg, 1);
  r = &t.reqs[0];
  submit(&t, 0, "PUT", "/echo", NULL, CHC_H2_BODY_STREAM, NULL, 0);
  CHECK(chc_h2_stream_writable(r->st) == 1);
  /* phase 1: the server reads nothing */
  for (;;) {
    size_t before = sent;
    produce(r, &sent, total, &sum);
    pump(&t);
    if (sent == before) break;
  }
  sr = peer_req(&t.p, 1);
  CHECK(sr->body_len == 65535); /* exactly the initial window */
  CHECK(chc_h2_stream_writable(r->st) == 0);
  CHECK(sent < 65535 + 2 * 32 * 1024 + 10000); /* queue bounded */
  CHECK(r->writables >= 1 && r->sents == 0);
  /* phase 2: the server reads as it goes; the producer follows */
  while (!sr->ended) {
    if (sr->unconsumed) peer_consume(&t.p, 1, sr->unconsumed);
    produce(r, &sent, total, &sum);
    pump(&t);
    CHECK(++rounds < 10000);
  }
  CHECK(sent == total && sr->body_len == total && sr->body_sum == sum);
  pump(&t);
  snprintf(want, sizeof want, "len=%zu sum=%08x", total, (unsigned)sum);
  CHECK(r->ends == 1 && body_is(r, want) && r->sents == 1);
  CHECK(chc_h2_stream_writable(r->st) == -1);
  CHECK(chc_h2_stream_write(r->st, "x", 1) == -1);
  CHECK(sreq_get(sr, "content-length") == NULL);
  printf(
      "ok - producer body of %zu bytes through a 65535-byte window "
      "(%d wake-ups)\n",
      total, r->writables);
  ctx_free(&t);
}

static void test_slow_reader(int pad) {
  const size_t total = 10 * 1024 * 1024;
  const size_t win = 256 * 1024;
  ctx t;
  peer_cfg cfg = {0};
  creq *r;
  size_t steps = 0, blocked;
  char path[32];
  cfg.pad = pad;
  ctx_init(&t, NULL, &cfg, 1);
  r = &t.reqs[0];
  r->auto_read = 0;
  snprintf(path, sizeof path, "/n/%zu", total);
  submit(&t, 0, "GET", path, NULL, CHC_H2_BODY_NONE, NULL, 0);
  pump(&t);
  /* the server is stuck after one stream window */
  CHECK(r->heads == 1 && r->ends == 0);
  /* padding counts against the window too (nghttp2 consumes it itself,
  ** the WINDOW_UPDATE waits for half a window): a little less data */
  if (pad)
    CHECK(t.p.data_sent <= win && t.p.data_sent > win - 4096);
  else
    CHECK(t.p.data_sent == win);
  CHECK(chc_h2_stream_buffered(r->st) == t.p.data_sent);
  blocked = t.p.data_sent;
  CHECK(nghttp2_session_get_stream_remote_window_size(t.p.s, 1) == 0);
  /* consume gradually: 48 KiB per step */
  while (r->ends == 0) {
    const char *p;
    size_t n, left = 48 * 1024;
    while (left > 0 && chc_h2_stream_peek(r->st, &p, &n) == 1) {
      if (n > left) n = left;
      CHECK(chc_buf_append(&r->body, p, n) == 0);
      chc_h2_stream_consume(r->st, n);
      left -= n;
    }
    pump(&t);
    CHECK(chc_h2_stream_buffered(r->st) <= win);
    CHECK(++steps < 100000);
  }
  drain(r);
  CHECK(r->max_buffered <= win);
  if (pad) CHECK(t.s2c_total > total + total / 10000 * 77);
  CHECK(body_is_pattern(r, total));
  printf(
      "ok - slow reader%s: server blocked after %zu bytes, 10 MiB in "
      "%zu steps, peak buffer %zu\n",
      pad ? " (padded DATA)" : "", blocked, steps, r->max_buffered);
  ctx_free(&t);
}

/* Many slow readers: the connection window bounds the sum. */
static void test_connection_window(void) {
  enum { N = 8 };
  ctx t;
  chc_h2_opts o = {0};
  int i;
  size_t sum = 0;
  o.stream_window = 256 * 1024;
  o.conn_window = 1024 * 1024;
  ctx_init(&t, &o, NULL, N);
  for (i = 0; i < N; i++) {
    t.reqs[i].auto_read = 0;
    submit(&t, i, "GET", "/n/1048576", NULL, CHC_H2_BODY_NONE, NULL, 0);
  }
  pump(&t);
  for (i = 0; i < N; i++) sum += chc_h2_stream_buffered(t.reqs[i].st);
  CHECK(sum == 1024 * 1024); /* not N * 256 KiB */
  for (i = 0; i < N; i++) t.reqs[i].auto_read = 1;
  pump(&t);
  for (i = 0; i < N; i++) {
    CHECK(t.reqs[i].ends == 1);
    CHECK(body_is_pattern(&t.reqs[i], 1048576));
  }
  ctx_free(&t);
  printf("ok - %d slow readers hold at most the connection window\n", N);
}

static void test_rst_stream(void) {
  enum { N = 6 };
  ctx t;
  int i;
  const char *paths[N] = {"/hello", "/rst/8", "/n/100000",
                          "/rst/7", "/hello", "/partial"};
  ctx_init(&t, NULL, NULL, N);
  for (i = 0; i < N; i++)
    submit(&t, i, "GET", paths[i], NULL, CHC_H2_BODY_NONE, NULL, 0);
  pump(&t);
  /* the partial response: head and 1000 bytes, then the server resets */
  CHECK(t.reqs[5].heads == 1 && t.reqs[5].data_bytes == 1000);
  CHECK(t.reqs[5].errors == 0);
  CHECK(nghttp2_submit_rst_stream(t.p.s, NGHTTP2_FLAG_NONE, 11,
                                   NGHTTP2_INTERNAL_ERROR) == 0);
  pump(&t);
  CHECK(t.reqs[0].ends == 1 && body_is(&t.reqs[0], "hello world"));
  CHECK(t.reqs[2].ends == 1 && body_is_pattern(&t.reqs[2], 100000));
  CHECK(t.reqs[4].ends == 1);
  CHECK(t.reqs[1].errors == 1 && t.reqs[1].heads == 0);
  CHECK(strcmp(kind_of(t.reqs[1].st), "RemoteProtocolError") == 0);
  CHECK(strcmp(msg_of(t.reqs[1].st), "stream reset by the server: CANCEL") ==
         0);
  CHECK(!chc_h2_stream_retryable(t.reqs[1].st));
  CHECK(t.reqs[3].errors == 1);
  CHECK(strcmp(msg_of(t.reqs[3].st),
                "stream reset by the server: REFUSED_STREAM") == 0);
  CHECK(chc_h2_stream_retryable(t.reqs[3].st));
  CHECK(t.reqs[5].errors == 1 && t.reqs[5].ends == 0);
  CHECK(strstr(msg_of(t.reqs[5].st), "INTERNAL_ERROR") != NULL);
  CHECK(body_is_pattern(&t.reqs[5], 1000)); /* read before the error */
  CHECK(chc_h2_can_open(t.c) && chc_h2_open_streams(t.c) == 0);
  ctx_free(&t);
  printf("ok - RST_STREAM fails one stream; REFUSED_STREAM is retryable\n");
}

static void test_goaway(void) {
  enum { N = 6 };
  ctx t;
  peer_cfg cfg = {0};
  int i;
  chc_h2_request rq;
  chc_error e = {0, ""};
  int32_t last = 0;
  cfg.hold = 1;
  ctx_init(&t, NULL, &cfg, N);
  for (i = 0; i < 4; i++) /* streams 1, 3, 5, 7 */
    submit(&t, i, "GET", i % 2 ? "/n/5000" : "/hello", NULL, CHC_H2_BODY_NONE,
           NULL, 0);
  pump(&t);
  CHECK(t.p.nreqs == 4);
  /* the server will process 1 and 3 only */
  CHECK(nghttp2_submit_goaway(t.p.s, NGHTTP2_FLAG_NONE, 3, NGHTTP2_NO_ERROR,
                               (const uint8_t *)"bye", 3) == 0);
  respond(&t.p, peer_req(&t.p, 1));
  respond(&t.p, peer_req(&t.p, 3));
  /* meanwhile the client submitted stream 9: queued, not yet sent */
  submit(&t, 4, "GET", "/hello", NULL, CHC_H2_BODY_NONE, NULL, 0);
  {
    const uint8_t *d;
    ssize_t n;
    chc_buf_reset(&t.s2c);
    while ((n = nghttp2_session_mem_send(t.p.s, &d)) > 0)
      CHECK(chc_buf_append(&t.s2c, d, (size_t)n) == 0);
    CHECK(chc_h2_feed(t.c, (const uint8_t *)t.s2c.data, t.s2c.len) ==
           (ssize_t)t.s2c.len);
  }
  CHECK(t.goaways == 1 && t.goaway_last == 3 && t.goaway_code == 0);
  CHECK(chc_h2_goaway(t.c, &last) && last == 3);
  CHECK(!chc_h2_can_open(t.c));
  pump(&t);
  CHECK(t.reqs[0].ends == 1 && body_is(&t.reqs[0], "hello world"));
  CHECK(t.reqs[1].ends == 1 && body_is_pattern(&t.reqs[1], 5000));
  for (i = 2; i < 5; i++) {
    CHECK(t.reqs[i].errors == 1);
    CHECK(chc_h2_stream_retryable(t.reqs[i].st));
    CHECK(strcmp(kind_of(t.reqs[i].st), "RemoteProtocolError") == 0);
    CHECK(strstr(msg_of(t.reqs[i].st), "GOAWAY NO_ERROR: \"bye\"") != NULL);
  }
  CHECK(t.p.nreqs == 4); /* stream 9 never reached the server */
  /* no new streams on this connection */
  memset(&rq, 0, sizeof rq);
  rq.method = "GET";
  rq.scheme = "http";
  rq.path = "/";
  CHECK(chc_h2_submit(t.c, &rq, &t.reqs[5], &e) == NULL);
  CHECK(e.code == CHC_ECLOSED);
  /* nothing left: the pool closes it */
  CHECK(!chc_h2_want_read(t.c) && !chc_h2_want_write(t.c));
  ctx_free(&t);
  printf("ok - GOAWAY: streams above last_stream_id are retryable\n");
}

static void test_protocol_error(void) {
  static const char h1[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
  ctx t;
  peer_cfg cfg = {0};
  int i;
  const chc_error *ce;
  cfg.hold = 1;
  ctx_init(&t, NULL, &cfg, 3);
  for (i = 0; i < 3; i++)
    submit(&t, i, "GET", "/hello", NULL, CHC_H2_BODY_NONE, NULL, 0);
  pump(&t);
  CHECK(t.reqs[0].errors == 0);
  /* garbage from the server mid-connection: a 4.7 MB frame header */
  CHECK(chc_h2_feed(t.c, (const uint8_t *)h1, sizeof h1 - 1) == -1);
  for (i = 0; i < 3; i++) {
    CHECK(t.reqs[i].errors == 1);
    CHECK(strcmp(kind_of(t.reqs[i].st), "RemoteProtocolError") == 0);
    CHECK(!chc_h2_stream_retryable(t.reqs[i].st));
  }
  ce = chc_h2_error(t.c);
  CHECK(ce && ce->code == CHC_EREMOTE_PROTO);
  CHECK(strstr(ce->msg, "protocol error") != NULL);
  CHECK(!chc_h2_can_open(t.c) && !chc_h2_want_read(t.c));
  CHECK(chc_h2_feed(t.c, (const uint8_t *)"x", 1) == -1);
  CHECK(chc_h2_ping(t.c) == -1);
  /* one more flush sends our GOAWAY */
  chc_buf_reset(&t.wire);
  CHECK(chc_h2_flush(t.c, &t.wire, 0) == 0);
  CHECK(t.wire.len >= 17 && (uint8_t)t.wire.data[3] == NGHTTP2_GOAWAY);
  ctx_free(&t);

  /* an HTTP/1.1 server answering a prior-knowledge h2c preface */
  ctx_init(&t, NULL, NULL, 1);
  submit(&t, 0, "GET", "/hello", NULL, CHC_H2_BODY_NONE, NULL, 0);
  chc_buf_reset(&t.wire);
  CHECK(chc_h2_flush(t.c, &t.wire, 0) == 0);
  CHECK(memcmp(t.wire.data, NGHTTP2_CLIENT_MAGIC, NGHTTP2_CLIENT_MAGIC_LEN) ==
         0);
  CHECK(chc_h2_feed(t.c, (const uint8_t *)h1, sizeof h1 - 1) == -1);
  CHECK(t.reqs[0].errors == 1);
  ce = chc_h2_error(t.c);
  CHECK(strstr(ce->msg, "SETTINGS") != NULL);
  CHECK(strcmp(msg_of(t.reqs[0].st), ce->msg) == 0);
  ctx_free(&t);

  /* a well-formed frame that breaks the rules: DATA on stream 0 */
  ctx_init(&t, NULL, NULL, 1);
  submit(&t, 0, "GET", "/hello", NULL, CHC_H2_BODY_NONE, NULL, 0);
  t.p.cfg.hold = 1;
  pump(&t);
  {
    static const uint8_t data0[] = {0, 0, 1, 0, 0, 0, 0, 0, 0, 'x'};
    CHECK(chc_h2_feed(t.c, data0, sizeof data0) == -1);
  }
  CHECK(t.reqs[0].errors == 1);
  CHECK(strcmp(kind_of(t.reqs[0].st), "RemoteProtocolError") == 0);
  ctx_free(&t);
  printf("ok - protocol errors fail every stream (RemoteProtocolError)\n");
}

/* Malformed responses fail their stream only. */
static void test_malformed_response(void) {
  ctx t;
  int i;
  const char *paths[] = {"/cl-mismatch", "/badvalue", "/bighead", "/hello"};
  ctx_init(&t, NULL, NULL, 4);
  for (i = 0; i < 4; i++)
    submit(&t, i, "GET", paths[i], NULL, CHC_H2_BODY_NONE, NULL, 0);
  pump(&t);
  for (i = 0; i < 3; i++) {
    if (t.reqs[i].errors != 1)
      fprintf(stderr, "%s: heads %d ends %d errors %d body %zu\n", paths[i],
              t.reqs[i].heads, t.reqs[i].ends, t.reqs[i].errors,
              t.reqs[i].body.len);
    CHECK(t.reqs[i].errors == 1 && t.reqs[i].ends == 0);
    CHECK(strcmp(kind_of(t.reqs[i].st), "RemoteProtocolError") == 0);
    CHECK(!chc_h2_stream_retryable(t.reqs[i].st));
  }
  CHECK(strstr(msg_of(t.reqs[2].st), "response head larger than 65536") !=
         NULL);
  CHECK(t.reqs[3].ends == 1 && body_is(&t.reqs[3], "hello world"));
  CHECK(chc_h2_error(t.c) == NULL && chc_h2_can_open(t.c));
  ctx_free(&t);
  printf("ok - malformed responses fail their stream only\n");
}

static void test_header_validation(void) {
  struct {
    const char *method, *path, *name, *value, *why;
  } bad[] = {
      {"GET", "/", "bad name", "v", "invalid header name 'bad name'"},
      {"GET", "/", "x\r\nevil", "v", "invalid header name 'x\\r\\nevil'"},
      {"GET", "/", "", "v", "invalid header name ''"},
      {"GET", "/", ":path", "/x", "pseudo-header"},
      {"GET", "/", "x-a", "a\r\nb: c", "header 'x-a' (CR or LF)"},
      {"GET", "/", "x-a", "a\nb", "(CR or LF)"},
      {"GET", "/", "Host", "a b", "invalid Host"},
      {"GE T", "/", "x", "1", "invalid method token 'GE T'"},
      {"GET", "", "x", "1", "invalid request path"},
      {"GET", "rel", "x", "1", "invalid request path"},
      {"GET", "/a b", "x", "1", "invalid request path"},
  };
  ctx t;
  size_t i;
  chc_h2_request rq;
  chc_hlist h = CHC_HLIST_INIT;
  ctx_init(&t, NULL, NULL, 1);
  pump(&t); /* settle the preface */
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    chc_error e = {0, ""};
    chc_hlist_reset(&h);
    CHECK(chc_hlist_add(&h, bad[i].name, strlen(bad[i].name), bad[i].value,
                         strlen(bad[i].value)) == 0);
    memset(&rq, 0, sizeof rq);
    rq.method = bad[i].method;
    rq.scheme = "http";
    rq.authority = "example.test";
    rq.path = bad[i].path;
    rq.headers = &h;
    CHECK(chc_h2_submit(t.c, &rq, NULL, &e) == NULL);
    CHECK(e.code == CHC_ELOCAL_PROTO);
    if (strstr(e.msg, bad[i].why) == NULL) {
      fprintf(stderr, "case %zu: '%s'\n", i, e.msg);
      CHECK(0);
    }
  }
  {
    chc_error e = {0, ""};
    chc_hlist_reset(&h);
    CHECK(chc_hlist_add(&h, "x-nul", 5, "a\0b", 3) == 0);
    rq.method = "GET";
    rq.path = "/";
    CHECK(chc_h2_submit(t.c, &rq, NULL, &e) == NULL);
    CHECK(strstr(e.msg, "(NUL)") != NULL);
  }
  {
    chc_error e = {0, ""};
    rq.headers = NULL;
    rq.scheme = "ftp";
    CHECK(chc_h2_submit(t.c, &rq, NULL, &e) == NULL);
    CHECK(strstr(e.msg, "invalid scheme") != NULL);
  }
  /* nothing went out, nothing is open */
  CHECK(chc_h2_open_streams(t.c) == 0 && !chc_h2_want_write(t.c));
  pump(&t);
  CHECK(t.p.nreqs == 0);
  chc_hlist_free(&h);
  ctx_free(&t);
  printf(
      "ok - bad request input refused before sending "
      "(LocalProtocolError)\n");
}

static void test_header_mapping(void) {
  ctx t;
  chc_hlist h = CHC_HLIST_INIT;
  sreq *sr;
  size_t i;
  ctx_init(&t, NULL, NULL, 3);
  hadd(&h, "Connection", "keep-alive, X-Hop");
  hadd(&h, "Keep-Alive", "timeout=5");
  hadd(&h, "Proxy-Connection", "keep-alive");
  hadd(&h, "Transfer-Encoding", "chunked");
  hadd(&h, "Upgrade", "h2c");
  hadd(&h, "Host", " other.example:1234 ");
  hadd(&h, "Host", "second.example");
  hadd(&h, "TE", "deflate;q=0.5, Trailers");
  hadd(&h, "X-Hop", "1");
  hadd(&h, "X-Keep", "\t spaced value \t");
  hadd(&h, "X-UPPER-Case", "V");
  hadd(&h, "Content-Length", "99");
  submit(&t, 0, "GET", "/hello?q=1", &h, CHC_H2_BODY_NONE, NULL, 0);
  chc_hlist_reset(&h);
  hadd(&h, "TE", "gzip");
  hadd(&h, "Content-Length", "3");
  submit(&t, 1, "POST", "/echo", &h, CHC_H2_BODY_STREAM, NULL, 0);
  CHECK(chc_h2_stream_write(t.reqs[1].st, "abc", 3) == 0);
  CHECK(chc_h2_stream_write_end(t.reqs[1].st) == 0);
  CHECK(chc_h2_stream_write_end(t.reqs[1].st) == -1);
  pump(&t);
  sr = peer_req(&t.p, 1);
  /* pseudo-headers first, then the survivors, in order, lower-case */
  CHECK(strcmp(chc_hlist_name(&sr->h, 0), ":method") == 0);
  CHECK(strcmp(chc_hlist_name(&sr->h, 1), ":scheme") == 0);
  CHECK(strcmp(chc_hlist_name(&sr->h, 2), ":authority") == 0);
  CHECK(strcmp(chc_hlist_value(&sr->h, 2), "other.example:1234") == 0);
  CHECK(strcmp(chc_hlist_value(&sr->h, 3), "/hello?q=1") == 0);
  CHECK(sr->h.n == 7);
  CHECK(strcmp(chc_hlist_name(&sr->h, 4), "te") == 0);
  CHECK(strcmp(chc_hlist_value(&sr->h, 4), "trailers") == 0);
  CHECK(strcmp(chc_hlist_name(&sr->h, 5), "x-keep") == 0);
  CHECK(strcmp(chc_hlist_value(&sr->h, 5), "spaced value") == 0);
  CHECK(strcmp(chc_hlist_name(&sr->h, 6), "x-upper-case") == 0);
  for (i = 0; i < sr->h.n; i++) {
    const char *n = chc_hlist_name(&sr->h, i);
    CHECK(strcmp(n, "connection") && strcmp(n, "keep-alive") &&
           strcmp(n, "proxy-connection") && strcmp(n, "transfer-encoding") &&
           strcmp(n, "upgrade") && strcmp(n, "host") && strcmp(n, "x-hop") &&
           strcmp(n, "content-length"));
  }
  CHECK(t.reqs[0].ends == 1);
  /* TE without trailers is dropped; a producer keeps its Content-Length */
  sr = peer_req(&t.p, 3);
  CHECK(sreq_get(sr, "te") == NULL);
  CHECK(strcmp(sreq_get(sr, "content-length"), "3") == 0);
  CHECK(t.reqs[1].ends == 1 && sr->body_len == 3);
  chc_hlist_free(&h);
  ctx_free(&t);
  printf(
      "ok - connection-specific fields stripped, Host -> :authority, "
      "names lower-cased\n");
}

/* Replays one recorded exchange to fresh engines, split everywhere. */
typedef struct outcome {
  int status, heads, ends, errors;
  chc_buf body;
  size_t nfields, ntrailers;
} outcome;

static void replay(const char *path, const chc_buf *s2c, size_t cut1,
                   size_t cut2, outcome *o) {
  ctx t;
  creq *r;
  size_t cuts[3], i, from = 0;
  ctx_init(&t, NULL, NULL, 1);
  r = &t.reqs[0];
  submit(&t, 0, "GET", path, NULL, CHC_H2_BODY_NONE, NULL, 0);
  chc_buf_reset(&t.wire);
  CHECK(chc_h2_flush(t.c, &t.wire, 0) == 0);
  cuts[0] = cut1;
  cuts[1] = cut2;
  cuts[2] = s2c->len;
  for (i = 0; i < 3; i++) {
    if (cuts[i] < from) continue;
    CHECK(chc_h2_feed(t.c, (const uint8_t *)s2c->data + from,
                       cuts[i] - from) == (ssize_t)(cuts[i] - from));
    drain(r);
    from = cuts[i];
  }
  o->status = chc_h2_stream_status(r->st);
  o->heads = r->heads;
  o->ends = r->ends;
  o->errors = r->errors;
  chc_buf_reset(&o->body);
  CHECK(chc_buf_append(&o->body, r->body.data, r->body.len) == 0);
  o->nfields = chc_h2_stream_headers(r->st)->n;
  o->ntrailers =
      chc_h2_stream_trailers(r->st) ? chc_h2_stream_trailers(r->st)->n : 0;
  ctx_free(&t);
}

static int same(const outcome *a, const outcome *b) {
  return a->status == b->status && a->heads == 1 && b->heads == 1 &&
         a->ends == 1 && b->ends == 1 && a->errors == 0 && b->errors == 0 &&
         a->nfields == b->nfields && a->ntrailers == b->ntrailers &&
         a->body.len == b->body.len &&
         memcmp(a->body.data, b->body.data, a->body.len) == 0;
}

/* Records what the server says to one GET, then replays it. */
static void split_feeds(const char *path, size_t body_len, size_t ntrailers) {
  ctx t;
  outcome want = {0}, got = {0};
  size_t k, j, n;
  ctx_init(&t, NULL, NULL, 1);
  t.record = 1;
  submit(&t, 0, "GET", path, NULL, CHC_H2_BODY_NONE, NULL, 0);
  pump(&t);
  CHECK(t.reqs[0].ends == 1);
  replay(path, &t.s2c, 0, 0, &want);
  CHECK(want.status == 200 && want.heads == 1 && want.ends == 1);
  CHECK(want.body.len == body_len && want.ntrailers == ntrailers);
  n = t.s2c.len;
  for (k = 0; k <= n; k++) {
    replay(path, &t.s2c, k, k, &got);
    CHECK(same(&got, &want));
  }
  /* and at pairs of offsets (every pair for small responses) */
  for (k = 0; k <= n; k += n / 60 + 1)
    for (j = k; j <= n; j += n / 80 + 1) {
      replay(path, &t.s2c, k, j, &got);
      CHECK(same(&got, &want));
    }
  chc_buf_free(&want.body);
  chc_buf_free(&got.body);
  ctx_free(&t);
  printf("ok - GET %s: the %zu-byte response split at every offset\n", path, n);
}

static void test_split_feeds(void) {
  split_feeds("/early", 2, 0);       /* 103, 200, DATA */
  split_feeds("/trailers", 3, 2);    /* 200, DATA, trailers */
  split_feeds("/n/20000", 20000, 0); /* two DATA frames */
}

static void test_cancel_and_release(void) {
  ctx t;
  chc_h2_opts o = {0};
  creq *a, *b;
  sreq *sr;
  o.stream_window = 256 * 1024;
  o.conn_window = 256 * 1024; /* one stream can fill the connection */
  ctx_init(&t, &o, NULL, 4);
  a = &t.reqs[0];
  b = &t.reqs[1];
  a->auto_read = 0;
  submit(&t, 0, "GET", "/n/1000000", NULL, CHC_H2_BODY_NONE, NULL, 0);
  pump(&t);
  CHECK(chc_h2_stream_buffered(a->st) == 256 * 1024);
  /* the connection window is spent: b gets nothing until a lets go */
  submit(&t, 1, "GET", "/n/300000", NULL, CHC_H2_BODY_NONE, NULL, 0);
  pump(&t);
  CHECK(b->heads == 1 && b->data_bytes == 0);
  chc_h2_stream_cancel(a->st);
  CHECK(chc_h2_stream_buffered(a->st) == 0);
  CHECK(strcmp(kind_of(a->st), "Cancelled") == 0);
  CHECK(chc_h2_stream_writable(a->st) == -1);
  pump(&t);
  sr = peer_req(&t.p, 1);
  CHECK(sr->closed && sr->close_code == NGHTTP2_CANCEL);
  CHECK(a->errors == 0); /* the canceller is not told */
  CHECK(b->ends == 1 && body_is_pattern(b, 300000));
  /* release a stream with a buffered body, and one never sent */
  t.reqs[2].auto_read = 0;
  submit(&t, 2, "GET", "/n/1000000", NULL, CHC_H2_BODY_NONE, NULL, 0);
  pump(&t);
  /* >= half the window: the rest may await the next WINDOW_UPDATE */
  CHECK(chc_h2_stream_buffered(t.reqs[2].st) >= 128 * 1024);
  chc_h2_stream_release(t.reqs[2].st);
  t.reqs[2].st = NULL;
  submit(&t, 3, "GET", "/hello", NULL, CHC_H2_BODY_NONE, NULL, 0);
  chc_h2_stream_release(t.reqs[3].st); /* its HEADERS is still queued */
  t.reqs[3].st = NULL;
  CHECK(chc_h2_open_streams(t.c) == 2);
  pump(&t);
  CHECK(chc_h2_open_streams(t.c) == 0);
  CHECK(t.p.nreqs == 3); /* the queued one never left */
  /* the window came back: a full-window response fits again */
  chc_h2_stream_release(b->st);
  b->st = NULL;
  b->heads = b->ends = b->sents = 0;
  chc_buf_reset(&b->body);
  submit(&t, 1, "GET", "/n/262144", NULL, CHC_H2_BODY_NONE, NULL, 0);
  pump(&t);
  CHECK(b->ends == 1 && body_is_pattern(b, 262144));
  ctx_free(&t);
  printf("ok - cancel/release reset the stream and return the window\n");
}

/* Window accounting survives abandoned and failed streams: if any of
** their bytes were never given back, the small connection window would
** run dry and the last transfer would stall. */
static void test_window_accounting(void) {
  enum { ROUNDS = 12 };
  ctx t;
  chc_h2_opts o = {0};
  const char *paths[] = {"/n/1000000", "/bighead", "/cl-mismatch",
                         "/n/300000",  "/partial", "/rst/2"};
  int i;
  o.stream_window = 128 * 1024;
  o.conn_window = 200 * 1024;
  ctx_init(&t, &o, NULL, ROUNDS + 1);
  for (i = 0; i < ROUNDS; i++) {
    creq *r = &t.reqs[i];
    r->auto_read = 0;
    submit(&t, i, "GET", paths[i % 6], NULL, CHC_H2_BODY_NONE, NULL, 0);
    pump(&t);
    if (i % 2)
      chc_h2_stream_cancel(r->st);
    else
      chc_h2_stream_release(r->st), r->st = NULL;
    pump(&t);
  }
  t.reqs[ROUNDS].auto_read = 1;
  submit(&t, ROUNDS, "GET", "/n/2000000", NULL, CHC_H2_BODY_NONE, NULL, 0);
  pump(&t);
  CHECK(t.reqs[ROUNDS].ends == 1);
  CHECK(body_is_pattern(&t.reqs[ROUNDS], 2000000));
  CHECK(chc_h2_open_streams(t.c) == 0);
  ctx_free(&t);
  printf("ok - window accounting survives %d abandoned/failed streams\n",
         ROUNDS);
}

static void test_ping_abort_free(void) {
  ctx t;
  peer_cfg cfg = {0};
  creq *r;
  const char *p;
  size_t n;
  cfg.hold = 1;
  ctx_init(&t, NULL, &cfg, 3);
  CHECK(chc_h2_ping(t.c) == 0);
  CHECK(chc_h2_ping(t.c) == 0);
  pump(&t);
  CHECK(t.acks == 2);
  /* a response in the middle of its body, one in flight, one not sent */
  r = &t.reqs[0];
  r->auto_read = 0;
  submit(&t, 0, "GET", "/partial", NULL, CHC_H2_BODY_NONE, NULL, 0);
  submit(&t, 1, "GET", "/hello", NULL, CHC_H2_BODY_NONE, NULL, 0);
  pump(&t);
  respond(&t.p, peer_req(&t.p, 1));
  pump(&t);
  CHECK(chc_h2_stream_buffered(r->st) == 1000);
  submit(&t, 2, "GET", "/hello", NULL, CHC_H2_BODY_NONE, NULL, 0);
  chc_h2_abort(t.c, CHC_EREAD, "connection closed by %s", "the server");
  CHECK(r->errors == 1 && t.reqs[1].errors == 1 && t.reqs[2].errors == 1);
  CHECK(strcmp(kind_of(r->st), "ReadError") == 0);
  CHECK(strcmp(msg_of(r->st), "connection closed by the server") == 0);
  CHECK(!chc_h2_stream_retryable(r->st));
  CHECK(chc_h2_stream_retryable(t.reqs[2].st)); /* never sent */
  CHECK(chc_h2_feed(t.c, (const uint8_t *)"x", 1) == -1);
  CHECK(chc_h2_ping(t.c) == -1);
  /* the engine goes; the streams stay readable until released */
  chc_h2_free(t.c);
  t.c = NULL;
  CHECK(chc_h2_stream_peek(r->st, &p, &n) == 1 && n == 1000);
  CHECK((uint8_t)p[999] == pattern(1, 999));
  chc_h2_stream_consume(r->st, 400);
  CHECK(chc_h2_stream_buffered(r->st) == 600);
  chc_h2_stream_cancel(r->st);
  ctx_free(&t); /* releases all three */
  printf(
      "ok - PING acks; abort fails live streams; streams outlive the "
      "engine\n");
}

/* A write failure fails a stream whose request went out whole as a read
** error, and one still sending as a write error. */
static void test_write_fail_kinds(void) {
  ctx t;
  peer_cfg cfg = {0};
  ctx_init(&t, NULL, &cfg, 2);
  t.reqs[0].auto_read = 0;
  submit(&t, 0, "GET", "/partial", NULL, CHC_H2_BODY_NONE, NULL, 0);
  pump(&t);
  submit(&t, 1, "GET", "/hello", NULL, CHC_H2_BODY_NONE, NULL, 0);
  chc_h2_abort(t.c, CHC_EWRITE, "sending failed: %s", "Connection reset");
  CHECK(t.reqs[0].errors == 1 && t.reqs[1].errors == 1);
  CHECK(strcmp(kind_of(t.reqs[0].st), "ReadError") == 0);
  CHECK(strcmp(kind_of(t.reqs[1].st), "WriteError") == 0);
  ctx_free(&t);
  printf("ok - a write failure is a ReadError for a stream that sent all\n");
}

/* A region from peek stays put while later feeds append. */
static void test_region_stability(void) {
  ctx t;
  creq *r;
  const char *p1, *p2;
  size_t n1, n2;
  char copy[4096];
  ctx_init(&t, NULL, NULL, 1);
  r = &t.reqs[0];
  r->auto_read = 0;
  submit(&t, 0, "GET", "/n/200000", NULL, CHC_H2_BODY_NONE, NULL, 0);
  chc_buf_reset(&t.wire);
  CHECK(chc_h2_flush(t.c, &t.wire, 0) == 0);
  CHECK(nghttp2_session_mem_recv(t.p.s, (const uint8_t *)t.wire.data,
                                  t.wire.len) == (ssize_t)t.wire.len);
  /* feed the server's answer one small piece at a time */
  chc_buf_reset(&t.s2c);
  {
    const uint8_t *d;
    ssize_t n;
    while ((n = nghttp2_session_mem_send(t.p.s, &d)) > 0)
      CHECK(chc_buf_append(&t.s2c, d, (size_t)n) == 0);
  }
  {
    size_t off = 0, step = 1000;
    int held = 0;
    while (off < t.s2c.len) {
      size_t k = t.s2c.len - off < step ? t.s2c.len - off : step;
      CHECK(chc_h2_feed(t.c, (const uint8_t *)t.s2c.data + off, k) ==
             (ssize_t)k);
      off += k;
      if (!held && chc_h2_stream_peek(r->st, &p1, &n1) == 1 && n1 >= 64) {
        memcpy(copy, p1, n1 < sizeof copy ? n1 : sizeof copy);
        held = 1;
      }
    }
    CHECK(held);
  }
  CHECK(chc_h2_stream_buffered(r->st) == 200000);
  CHECK(chc_h2_stream_peek(r->st, &p2, &n2) == 1);
  CHECK(p2 == p1 && n2 >= n1);
  CHECK(memcmp(p2, copy, n1 < sizeof copy ? n1 : sizeof copy) == 0);
  r->auto_read = 1;
  pump(&t);
  CHECK(r->ends == 1 && body_is_pattern(r, 200000));
  ctx_free(&t);
  printf("ok - a peeked body region stays put across feeds\n");
}

static void test_flush_limit(void) {
  enum { LEN = 1000000 };
  ctx t;
  peer_cfg cfg = {0};
  uint8_t *body = calloc(1, LEN);
  size_t flushes = 0;
  CHECK(body != NULL);
  cfg.window = NGHTTP2_MAX_WINDOW_SIZE; /* no upload flow control */
  ctx_init(&t, NULL, &cfg, 1);
  pump(&t);
  /* the server's connection window is still 65535: open it */
  CHECK(nghttp2_session_set_local_window_size(t.p.s, NGHTTP2_FLAG_NONE, 0,
                                               NGHTTP2_MAX_WINDOW_SIZE) == 0);
  pump(&t);
  submit(&t, 0, "POST", "/echo", NULL, CHC_H2_BODY_BYTES, body, LEN);
  for (;;) {
    chc_buf_reset(&t.wire);
    CHECK(chc_h2_flush(t.c, &t.wire, 64 * 1024) == 0);
    if (t.wire.len == 0) break;
    CHECK(t.wire.len < 64 * 1024 + 16384 + 9 + 1);
    CHECK(nghttp2_session_mem_recv(t.p.s, (const uint8_t *)t.wire.data,
                                    t.wire.len) == (ssize_t)t.wire.len);
    flushes++;
  }
  CHECK(flushes >= LEN / (64 * 1024));
  pump(&t);
  CHECK(t.reqs[0].ends == 1 && peer_req(&t.p, 1)->body_len == LEN);
  ctx_free(&t);
  free(body);
  printf("ok - flush stops near its limit (%zu flushes for 1 MB)\n", flushes);
}

static void test_shutdown(void) {
  ctx t;
  peer_cfg cfg = {0};
  cfg.hold = 1;
  ctx_init(&t, NULL, &cfg, 1);
  submit(&t, 0, "GET", "/hello", NULL, CHC_H2_BODY_NONE, NULL, 0);
  pump(&t);
  chc_h2_shutdown(t.c);
  CHECK(t.reqs[0].errors == 1);
  CHECK(strcmp(kind_of(t.reqs[0].st), "Closed") == 0);
  CHECK(!chc_h2_can_open(t.c) && chc_h2_error(t.c) == NULL);
  chc_buf_reset(&t.wire);
  CHECK(chc_h2_flush(t.c, &t.wire, 0) == 0);
  CHECK(t.wire.len == 17 && (uint8_t)t.wire.data[3] == NGHTTP2_GOAWAY);
  CHECK(!chc_h2_want_write(t.c) && !chc_h2_want_read(t.c));
  ctx_free(&t);
  printf("ok - shutdown sends GOAWAY(NO_ERROR)\n");
}

static void test_bad_opts(void) {
  chc_h2_opts o = {0};
  chc_error e = {0, ""};
  o.conn_window = 1000;
  CHECK(chc_h2_new(&o, NULL, NULL, &e) == NULL);
  CHECK(e.code == CHC_ELOCAL_PROTO);
  printf("ok - bad options refused\n");
}

/* }=================================================================== */

/* RFC 8441: an extended CONNECT only once the server enabled it; then
** :protocol, :scheme and :path go out, and the stream carries DATA both
** ways while neither side ends it. */
static chc_h2_request ext_connect(const chc_hlist *h) {
  chc_h2_request rq;
  memset(&rq, 0, sizeof rq);
  rq.method = "CONNECT";
  rq.protocol = "websocket";
  rq.scheme = "https";
  rq.authority = "example.test:8443";
  rq.path = "/chat?room=1";
  rq.headers = h;
  rq.body_kind = CHC_H2_BODY_STREAM;
  return rq;
}

static int field_is(const sreq *r, const char *name, const char *v) {
  const char *x = sreq_get(r, name);
  return x != NULL && strcmp(x, v) == 0;
}

static void test_extended_connect(void) {
  ctx t;
  peer_cfg cfg = {0};
  chc_error e = {0, ""};
  chc_h2_request rq = ext_connect(NULL);
  sreq *r;
  cfg.hold = 1;
  /* a server that does not enable it: refused before and after SETTINGS */
  ctx_init(&t, NULL, &cfg, 1);
  CHECK(chc_h2_connect_protocol(t.c) == 0);
  CHECK(chc_h2_submit(t.c, &rq, &t.reqs[0], &e) == NULL);
  CHECK(e.code == CHC_EUNSUPPORTED && strstr(e.msg, "ENABLE_CONNECT") != NULL);
  pump(&t);
  CHECK(chc_h2_settings_received(t.c) && chc_h2_connect_protocol(t.c) == 0);
  e.code = 0;
  CHECK(chc_h2_submit(t.c, &rq, &t.reqs[0], &e) == NULL);
  CHECK(e.code == CHC_EUNSUPPORTED);
  ctx_free(&t);

  cfg.connect_protocol = 1;
  ctx_init(&t, NULL, &cfg, 1);
  CHECK(chc_h2_settings_received(t.c) == 0);
  CHECK(chc_h2_connect_protocol(t.c) == 0); /* not known yet */
  pump(&t);
  CHECK(chc_h2_connect_protocol(t.c) == 1);
  rq.method = "GET"; /* :protocol only with CONNECT */
  e.code = 0;
  CHECK(chc_h2_submit(t.c, &rq, &t.reqs[0], &e) == NULL);
  CHECK(e.code == CHC_ELOCAL_PROTO && strstr(e.msg, "CONNECT") != NULL);
  rq.method = "CONNECT";
  rq.protocol = "web socket";
  CHECK(chc_h2_submit(t.c, &rq, &t.reqs[0], &e) == NULL);
  CHECK(e.code == CHC_ELOCAL_PROTO && strstr(e.msg, ":protocol") != NULL);
  rq.protocol = "websocket";
  t.reqs[0].st = chc_h2_submit(t.c, &rq, &t.reqs[0], &e);
  CHECK(t.reqs[0].st != NULL);
  CHECK(chc_h2_stream_write(t.reqs[0].st, "hello", 5) == 0);
  pump(&t);
  r = peer_req(&t.p, 1);
  CHECK(field_is(r, ":method", "CONNECT"));
  CHECK(field_is(r, ":protocol", "websocket"));
  CHECK(field_is(r, ":scheme", "https"));
  CHECK(field_is(r, ":path", "/chat?room=1"));
  CHECK(field_is(r, ":authority", "example.test:8443"));
  CHECK(r->body_len == 5 && !r->ended);
  /* the server accepts and streams without ending */
  r->bkind = B_PATTERN;
  r->blen = 3000;
  r->no_end = 1;
  submit_resp(&t.p, r, "200", NULL, 0);
  pump(&t);
  CHECK(t.reqs[0].heads == 1 && t.reqs[0].errors == 0);
  CHECK(chc_h2_stream_status(t.reqs[0].st) == 200);
  CHECK(t.reqs[0].data_bytes == 3000 && t.reqs[0].ends == 0);
  CHECK(chc_h2_stream_writable(t.reqs[0].st) == 1);
  CHECK(chc_h2_stream_write(t.reqs[0].st, "more", 4) == 0);
  pump(&t);
  CHECK(r->body_len == 9 && !r->closed);
  /* our END_STREAM: the half-close reaches the server */
  CHECK(chc_h2_stream_write_end(t.reqs[0].st) == 0);
  pump(&t);
  CHECK(r->ended && t.reqs[0].errors == 0);
  ctx_free(&t);
  printf("ok - extended CONNECT (RFC 8441) only after "
         "SETTINGS_ENABLE_CONNECT_PROTOCOL, DATA both ways\n");
}

/* RFC 8441 5: each side of a tunnel closes on its own. The server ends
** first (a WebSocket server's close, then END_STREAM): our side still
** writes (the close's echo), and releasing the stream once our
** END_STREAM is queued sends it instead of a RST_STREAM. A tunnel
** released before our side ended is reset as any stream is. */
static void test_tunnel_half_close(void) {
  ctx t;
  peer_cfg cfg = {0};
  chc_error e = {0, ""};
  chc_h2_request rq = ext_connect(NULL);
  sreq *r;
  int i;
  cfg.hold = 1;
  cfg.connect_protocol = 1;
  for (i = 0; i < 2; i++) {
    ctx_init(&t, NULL, &cfg, 1);
    pump(&t);
    t.reqs[0].st = chc_h2_submit(t.c, &rq, &t.reqs[0], &e);
    CHECK(t.reqs[0].st != NULL);
    pump(&t);
    r = peer_req(&t.p, 1);
    r->bkind = B_PATTERN;
    r->blen = 10; /* then END_STREAM */
    submit_resp(&t.p, r, "200", NULL, 0);
    pump(&t);
    CHECK(t.reqs[0].ends == 1 && t.reqs[0].errors == 0);
    CHECK(chc_h2_stream_writable(t.reqs[0].st) == 1);
    CHECK(chc_h2_stream_write(t.reqs[0].st, "bye", 3) == 0);
    if (i == 0) CHECK(chc_h2_stream_write_end(t.reqs[0].st) == 0);
    chc_h2_stream_release(t.reqs[0].st);
    t.reqs[0].st = NULL;
    pump(&t);
    if (i == 0) /* ended cleanly: the bytes and END_STREAM went out */
      CHECK(r->body_len == 3 && r->ended && r->closed && r->close_code == 0);
    else /* our side was still open: reset */
      CHECK(r->closed && r->close_code == NGHTTP2_CANCEL);
    ctx_free(&t);
  }
  printf("ok - a tunnel takes writes after the server's END_STREAM and "
         "ends with ours, not a reset\n");
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  test_get();
  test_many_streams();
  test_concurrency_limit();
  test_trailers_and_1xx();
  test_post_bytes();
  test_post_producer_flow_control();
  test_slow_reader(0);
  test_slow_reader(1);
  test_connection_window();
  test_rst_stream();
  test_goaway();
  test_protocol_error();
  test_malformed_response();
  test_header_validation();
  test_header_mapping();
  test_split_feeds();
  test_cancel_and_release();
  test_window_accounting();
  test_ping_abort_free();
  test_region_stability();
  test_write_fail_kinds();
  test_flush_limit();
  test_shutdown();
  test_bad_opts();
  test_extended_connect();
  test_tunnel_half_close();
  printf("all h2 tests passed\n");
  return 0;
}
