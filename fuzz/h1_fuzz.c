/*
** h1_fuzz.c: libFuzzer driver for the h1 response parser.
**
** Input: one byte of options (bit 0: response to HEAD, bit 1: a 256-byte
** head limit, bit 2: call eof at the end), one byte seeding the split, then
** the response bytes. Each input is parsed whole and split into pieces of
** pseudo-random sizes, every piece in its own exact-size block; both runs
** must agree on everything (the split-invariance that conn.c relies on).
**
**   L=/usr/share/llhttp; I=/usr/share/include/llhttp
**   clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc -I$I \
**     fuzz/h1_fuzz.c src/h1.c src/h1_req.c src/buf.c src/common.c \
**     $L/llhttp.c $L/api.c $L/http.c -o /tmp/h1_fuzz
**   /tmp/h1_fuzz -max_total_time=60 /tmp/h1_corpus
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "h1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct result {
  int rc, code, status, done, keep_alive;
  size_t consumed;
  chc_buf body, fields;
} result;

static void dump(chc_buf *d, const chc_hlist *h) {
  size_t i;
  for (i = 0; i < h->n; i++) {
    chc_buf_append(d, chc_hlist_name(h, i), h->f[i].name_len + 1);
    chc_buf_append(d, chc_hlist_value(h, i), h->f[i].value_len + 1);
  }
}

/* Piece sizes from a tiny LCG so a split is reproducible from one byte. */
static size_t next_piece(unsigned *seed, size_t left) {
  *seed = *seed * 1103515245u + 12345u;
  if (*seed >> 31) return 1;
  return 1 + (*seed >> 16) % (left < 64 ? left : 64);
}

static void run(const uint8_t *in, size_t n, unsigned opts, unsigned seed,
                int split, result *o) {
  chc_h1_resp r = {0};
  size_t a = 0;
  memset(o, 0, sizeof *o);
  chc_h1_resp_init(&r, opts & 2 ? 256 : 0, opts & 1);
  while (a < n) {
    size_t k = split ? next_piece(&seed, n - a) : n - a;
    char *buf;
    ssize_t got;
    if (k > n - a) k = n - a;
    buf = malloc(k);
    if (buf == NULL) abort();
    memcpy(buf, in + a, k);
    got = chc_h1_resp_feed(&r, buf, k);
    if (got >= 0) {
      if ((size_t)got > k) abort();
      if (!r.done && (size_t)got != k) abort();
      if (r.body_len > 0) {
        if (r.body < buf || r.body + r.body_len > buf + got) abort();
        chc_buf_append(&o->body, r.body, r.body_len);
      }
    }
    free(buf);
    if (got < 0) {
      o->rc = -1;
      break;
    }
    o->consumed = a + (size_t)got;
    if (r.done) break;
    a += k;
  }
  if (o->rc == 0 && (opts & 4) && chc_h1_resp_eof(&r) < 0) o->rc = -1;
  if ((o->rc < 0) != (r.err.code != CHC_OK)) abort();
  o->code = r.err.code;
  o->status = r.status;
  o->done = r.done;
  o->keep_alive = r.keep_alive;
  if (r.done && r.reason.data[r.reason.len] != '\0') abort();
  dump(&o->fields, &r.fields);
  dump(&o->fields, &r.trailers);
  chc_h1_resp_free(&r);
}

static int same_buf(const chc_buf *x, const chc_buf *y) {
  return x->len == y->len &&
         (x->len == 0 || memcmp(chc_buf_head(x), chc_buf_head(y), x->len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  result whole, split;
  if (size < 2) return 0;
  run(data + 2, size - 2, data[0], data[1], 0, &whole);
  run(data + 2, size - 2, data[0], data[1], 1, &split);
  if (whole.rc != split.rc || whole.code != split.code) abort();
  if (whole.rc == 0) {
    if (whole.status != split.status || whole.done != split.done ||
        whole.keep_alive != split.keep_alive ||
        whole.consumed != split.consumed)
      abort();
    if (!same_buf(&whole.body, &split.body)) abort();
    if (!same_buf(&whole.fields, &split.fields)) abort();
  }
  chc_buf_free(&whole.body);
  chc_buf_free(&whole.fields);
  chc_buf_free(&split.body);
  chc_buf_free(&split.fields);
  return 0;
}
