/*
** h2_fuzz.c: libFuzzer driver for the HTTP/2 client engine (h2.c, h2_req.c)
** fed server frames after a valid preface.
**
** Input: one byte of options, one byte seeding the split, then the bytes
** the "server" sends after its empty SETTINGS frame (which the driver
** prepends, so the fuzzer starts past the preface). Options: bits 0-1 the
** number of requests submitted before the first feed (1-4; the first is a
** GET, the second a POST with a string body, the third a POST with a
** producer body, the fourth a HEAD); bit 2 small limits (a 16 KiB stream window,
** a 1 KiB head limit, the smallest connection
** window); bit 3 consume body bytes as they arrive (else they
** stay buffered, so flow control runs out); bit 4 send a PING after the
** first piece; bit 5 cancel the second stream after the first piece.
**
** Each stream is fed whole and in pieces of pseudo-random sizes, each
** piece in its own exact-size block, flushing after every feed as the
** pool does; both runs must agree on everything the caller can observe
** (statuses, header and body bytes, errors and their codes, retryability).
** Ends with chc_h2_abort and releasing every stream, so ASan sees leaks.
**
**   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc \
**     fuzz/h2_fuzz.c src/h2.c src/h2_req.c src/buf.c src/common.c \
**     -lnghttp2 -o /tmp/h2_fuzz
**   /tmp/h2_fuzz -max_total_time=600 fuzz/corpus/h2
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "h2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NREQ 4

typedef struct result {
  int rc, code;
  int status[NREQ], ended[NREQ], ecode[NREQ], retry[NREQ], heads[NREQ];
  int goaway, pings;
  chc_buf log; /* header fields and body bytes, in order, per stream */
} result;

typedef struct run_state {
  result *o;
  chc_h2_stream *st[NREQ];
  unsigned opts;
} run_state;

static int idx(run_state *r, chc_h2_stream *st) {
  int i;
  for (i = 0; i < NREQ; i++)
    if (r->st[i] == st) return i;
  abort(); /* a callback for a stream the caller never submitted */
}

static void dump(chc_buf *d, int i, const chc_hlist *h) {
  size_t k;
  if (!h) return;
  for (k = 0; k < h->n; k++) {
    chc_buf_append(d, &"0123"[i], 1);
    chc_buf_append(d, chc_hlist_name(h, k), h->f[k].name_len + 1);
    chc_buf_append(d, chc_hlist_value(h, k), h->f[k].value_len + 1);
  }
}

static void on_head(chc_h2_stream *st, void *ud) {
  run_state *r = ud;
  int i = idx(r, st);
  r->o->heads[i]++;
  r->o->status[i] = chc_h2_stream_status(st);
  if (r->o->status[i] < 200 || r->o->status[i] > 999) abort();
  dump(&r->o->log, i, chc_h2_stream_headers(st));
}

static void drain(run_state *r, int i) {
  const char *p;
  size_t n;
  /* peek/consume are allowed in callbacks only as observers; the driver
  ** consumes outside them (see feed_all), like the pool's readers */
  while (chc_h2_stream_peek(r->st[i], &p, &n) == 1) {
    if (n == 0) abort();
    chc_buf_append(&r->o->log, &"abcd"[i], 1);
    chc_buf_append(&r->o->log, p, n);
    chc_h2_stream_consume(r->st[i], n);
  }
}

static void on_data(chc_h2_stream *st, void *ud, size_t n) {
  run_state *r = ud;
  (void)idx(r, st);
  if (n == 0) abort();
}

static void on_end(chc_h2_stream *st, void *ud) {
  run_state *r = ud;
  int i = idx(r, st);
  if (r->o->ended[i] || r->o->ecode[i]) abort(); /* exactly once */
  r->o->ended[i] = 1;
  dump(&r->o->log, i, chc_h2_stream_trailers(st));
}

static void on_error(chc_h2_stream *st, void *ud) {
  run_state *r = ud;
  int i = idx(r, st);
  const chc_error *e = chc_h2_stream_error(st);
  if (r->o->ended[i] || r->o->ecode[i]) abort(); /* exactly once */
  if (!e || e->code == CHC_OK) abort();
  r->o->ecode[i] = e->code;
  r->o->retry[i] = chc_h2_stream_retryable(st);
}

static void on_goaway(chc_h2 *h2, void *cud, int32_t last, uint32_t code) {
  run_state *r = cud;
  r->o->goaway++;
}

static void on_ping_ack(chc_h2 *h2, void *cud) {
  run_state *r = cud;
  r->o->pings++;
}

static size_t next_piece(unsigned *seed, size_t left) {
  *seed = *seed * 1103515245u + 12345u;
  if (*seed >> 31) return 1;
  return 1 + (*seed >> 16) % (left < 256 ? left : 256);
}

static const char body[] = "name=value&other=thing";

static void submit_all(chc_h2 *h2, run_state *r, int n) {
  static const char *const methods[NREQ] = {"GET", "POST", "POST", "HEAD"};
  static const int kinds[NREQ] = {CHC_H2_BODY_NONE, CHC_H2_BODY_BYTES,
                                  CHC_H2_BODY_STREAM, CHC_H2_BODY_NONE};
  chc_hlist h = {0};
  int i;
  chc_hlist_add(&h, "Accept", 6, "*/*", 3);
  for (i = 0; i < n; i++) {
    chc_h2_request rq = {methods[i], "https", "example.test", "/x", &h,
                         kinds[i], body, sizeof body - 1};
    chc_error e = {0};
    r->st[i] = chc_h2_submit(h2, &rq, r, &e);
    if (!r->st[i]) abort();
    if (kinds[i] == CHC_H2_BODY_STREAM) {
      if (chc_h2_stream_writable(r->st[i]) == 1)
        chc_h2_stream_write(r->st[i], body, sizeof body - 1);
      chc_h2_stream_write_end(r->st[i]);
    }
  }
  chc_hlist_free(&h);
}

static void run(const uint8_t *in, size_t n, unsigned opts, unsigned seed,
                int split, result *o) {
  static const uint8_t settings[9] = {0, 0, 0, 4, 0, 0, 0, 0, 0};
  chc_h2_opts ho = {0};
  chc_h2_callbacks cb = {on_head, on_data, on_end, on_error, NULL, NULL,
                         NULL, on_goaway, on_ping_ack};
  run_state r = {o, {0}, opts};
  chc_buf out = {0};
  chc_error e = {0};
  chc_h2 *h2;
  size_t a = 0, k;
  int i, nreq = (int)(opts & 3) + 1, first = 1;
  memset(o, 0, sizeof *o);
  if (opts & 4) {
    ho.stream_window = 16384;
    ho.conn_window = 65535;
    ho.max_header = 1024;
  }
  h2 = chc_h2_new(&ho, &cb, &r, &e);
  if (!h2) abort();
  submit_all(h2, &r, nreq);
  if (chc_h2_flush(h2, &out, 0) < 0) abort();
  if (chc_h2_feed(h2, settings, sizeof settings) != sizeof settings) abort();
  /* A connection error shows as feed returning -1, or, when nghttp2
  ** noticed it only while sending our GOAWAY, through chc_h2_error after
  ** the flush: the pool checks both, and so does the driver. */
  while (a < n && !chc_h2_error(h2)) {
    uint8_t *buf;
    ssize_t got;
    k = split ? next_piece(&seed, n - a) : n - a;
    buf = malloc(k);
    memcpy(buf, in + a, k);
    got = chc_h2_feed(h2, buf, k);
    free(buf);
    if (got < 0) {
      if (!chc_h2_error(h2)) abort();
    } else if ((size_t)got != k) {
      abort(); /* feed consumes everything or fails */
    }
    /* the caller's side, outside callbacks, after every feed */
    for (i = 0; i < nreq; i++)
      if (r.st[i] && (opts & 8)) drain(&r, i);
    if (first && !chc_h2_error(h2)) {
      if (opts & 16) chc_h2_ping(h2);
      if ((opts & 32) && nreq > 1) chc_h2_stream_cancel(r.st[1]);
      first = 0;
    }
    chc_buf_reset(&out);
    if (chc_h2_flush(h2, &out, 4096) < 0 && !chc_h2_error(h2)) abort();
    a += k;
  }
  if (chc_h2_error(h2)) {
    o->rc = -1;
    o->code = chc_h2_error(h2)->code;
  } else {
    chc_h2_abort(h2, CHC_ECLOSED, "fuzz input ended");
  }
  for (i = 0; i < nreq; i++) {
    /* every stream hears about the end exactly once (cancelled excepted) */
    if (!o->ended[i] && !o->ecode[i] && !((opts & 32) && i == 1)) abort();
    if (!(opts & 8)) drain(&r, i);
  }
  chc_h2_free(h2);
  for (i = 0; i < nreq; i++) chc_h2_stream_release(r.st[i]);
  chc_buf_free(&out);
}

static int same_buf(const chc_buf *x, const chc_buf *y) {
  return x->len == y->len &&
         (x->len == 0 || memcmp(chc_buf_head(x), chc_buf_head(y), x->len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  result whole, split;
  int i;
  if (size < 2) return 0;
  run(data + 2, size - 2, data[0], data[1], 0, &whole);
  run(data + 2, size - 2, data[0], data[1], 1, &split);
  /* A PING or a cancel after the first piece lands at a different point
  ** of the stream in each run (a frame for a stream we reset is ignored,
  ** the same frame on an open stream may be an error): such runs check
  ** memory safety and the callbacks' rules only. */
  if (data[0] & 48) goto out;
  /* Whether nghttp2 ends the whole session over a bad frame for a stream
  ** it has already reset can depend on whether our RST_STREAM went out
  ** before the frame arrived, i.e. on the split, like on a real network.
  ** What the caller sees cannot: each stream's status, end and error. */
  for (i = 0; i < NREQ; i++)
    if (whole.status[i] != split.status[i] ||
        whole.ended[i] != split.ended[i] || whole.ecode[i] != split.ecode[i])
      abort();
  if (!(data[0] & 8) && !same_buf(&whole.log, &split.log)) abort();
out:
  chc_buf_free(&whole.log);
  chc_buf_free(&split.log);
  return 0;
}
