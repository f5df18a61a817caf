/*
** sse_fuzz.c: libFuzzer driver for the SSE parser.
**
** Input: one byte of options (bits 0-1: max_event 1 MiB, 3, 16 or 64
** bytes), one byte seeding the split, then the stream's bytes. Each input
** is parsed whole and split into pieces of pseudo-random sizes, every
** piece in its own exact-size block; both runs must agree on everything:
** the events, the stream offset of each dispatch, the error, the last
** event ID and retry (the split-invariance a socket reader relies on).
** With the 1 MiB limit (never reached by fuzz inputs) the events must
** also equal those of a deliberately naive reference written straight
** from the spec's prose: decode the whole stream to UTF-8 first, cut it
** into lines, run the field steps on each.
**
**   clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc \
**     fuzz/sse_fuzz.c src/sse.c src/buf.c src/common.c -o /tmp/sse_fuzz
**   /tmp/sse_fuzz -max_total_time=60 /tmp/sse_corpus
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void add(chc_buf *o, const void *p, size_t n) {
  if (chc_buf_append(o, &n, sizeof n) < 0 || chc_buf_append(o, p, n) < 0)
    abort();
}

static void add_event(chc_buf *o, const char *type, size_t tl,
                      const char *d, size_t dl, const char *id, size_t il,
                      long long retry) {
  add(o, type, tl);
  add(o, d, dl);
  add(o, id, il);
  add(o, &retry, sizeof retry);
}

/* Piece sizes from a tiny LCG so a split is reproducible from one byte. */
static size_t next_piece(unsigned *seed, size_t left) {
  *seed = *seed * 1103515245u + 12345u;
  if (*seed >> 31) return 1;
  return 1 + (*seed >> 16) % (left < 64 ? left : 64);
}

typedef struct result {
  chc_buf events, pos;
  int err, pending;
  long long retry;
  chc_buf last_id;
} result;

static void run(const uint8_t *in, size_t n, size_t max, unsigned seed,
                int split, result *o) {
  chc_sse s = {0};
  size_t a = 0;
  memset(o, 0, sizeof *o);
  chc_sse_init(&s, max);
  while (a < n && !o->err) {
    size_t k = split ? next_piece(&seed, n - a) : n - a, off = 0;
    char *buf;
    if (k > n - a) k = n - a;
    buf = malloc(k);
    if (buf == NULL) abort();
    memcpy(buf, in + a, k);
    while (off < k) {
      ssize_t r = chc_sse_feed(&s, buf + off, k - off);
      if (r < 0) {
        if (s.err.code == CHC_OK || s.ready) abort();
        o->err = s.err.code;
        break;
      }
      if ((size_t)r > k - off || (r == 0 && !s.ready)) abort();
      off += (size_t)r;
      if (s.ready) {
        size_t at = a + off;
        if (s.ev.data[s.ev.data_len] || s.ev.type[s.ev.type_len] ||
            s.ev.id[s.ev.id_len] || s.ev.data_len > s.max_event)
          abort();
        add_event(&o->events, s.ev.type, s.ev.type_len, s.ev.data,
                  s.ev.data_len, s.ev.id, s.ev.id_len, s.ev.retry);
        if (chc_buf_append(&o->pos, &at, sizeof at) < 0) abort();
      } else if (off != k) {
        abort();
      }
    }
    free(buf);
    a += k;
  }
  o->pending = chc_sse_eof(&s);
  if ((o->pending < 0) != (o->err != 0)) abort();
  o->retry = s.retry;
  {
    size_t il;
    const char *id = chc_sse_last_id(&s, &il);
    if (id[il] != '\0') abort();
    add(&o->last_id, id, il);
  }
  chc_sse_free(&s);
}

/* {=====================================================================
** The naive reference
** ====================================================================== */

/* WHATWG "UTF-8 decode" of the whole stream: BOM, then U+FFFD per
** maximal subpart (Encoding 4.1.1), the end of the stream included. */
static void ref_decode(const uint8_t *p, size_t n, chc_buf *o) {
  size_t i = 0, need = 0, seen = 0, start = 0;
  unsigned lo = 0x80, hi = 0xBF;
  if (n >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) i = 3;
  for (; i <= n; i++) {
    unsigned c;
    if (i == n) {
      if (need) chc_buf_append(o, "\xEF\xBF\xBD", 3);
      break;
    }
    c = p[i];
    if (need == 0) {
      start = i;
      seen = 0;
      if (c < 0x80) chc_buf_append(o, p + i, 1);
      else if (c >= 0xC2 && c <= 0xDF) need = 1;
      else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
      } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
      } else chc_buf_append(o, "\xEF\xBF\xBD", 3);
      continue;
    }
    if (c < lo || c > hi) {
      need = 0;
      lo = 0x80;
      hi = 0xBF;
      chc_buf_append(o, "\xEF\xBF\xBD", 3);
      i--; /* "restore byte to ioQueue" */
      continue;
    }
    lo = 0x80;
    hi = 0xBF;
    if (++seen == need) {
      chc_buf_append(o, p + start, need + 1);
      need = 0;
    }
  }
}

static int is(const char *p, size_t n, const char *lit) {
  return n == strlen(lit) && memcmp(p, lit, n) == 0;
}

/* 9.2.6, step by step, on complete lines of the decoded text. */
static void reference(const uint8_t *in, size_t n, result *o) {
  chc_buf text = CHC_BUF_INIT, data = CHC_BUF_INIT, type = CHC_BUF_INIT,
          idb = CHC_BUF_INIT, lid = CHC_BUF_INIT;
  const char *t;
  size_t i = 0, len;
  long long ev_retry = -1;
  memset(o, 0, sizeof *o);
  o->retry = -1;
  ref_decode(in, n, &text);
  t = chc_buf_head(&text);
  len = text.len;
  while (i < len) {
    size_t e = i, next;
    const char *line = t + i, *colon, *name, *value;
    size_t ll, nl, vl;
    while (e < len && t[e] != '\r' && t[e] != '\n') e++;
    if (e == len) break; /* no end of line: discarded */
    next = e + 1;
    if (t[e] == '\r' && next < len && t[next] == '\n') next++;
    ll = e - i;
    i = next;
    if (ll == 0) { /* dispatch */
      lid.len = 0;
      chc_buf_append(&lid, chc_buf_head(&idb), idb.len);
      if (data.len == 0) {
        type.len = 0;
        ev_retry = -1;
        continue;
      }
      if (chc_buf_head(&data)[data.len - 1] == '\n') data.len--;
      if (type.len)
        add_event(&o->events, chc_buf_head(&type), type.len,
                  chc_buf_head(&data), data.len, chc_buf_head(&lid), lid.len,
                  ev_retry);
      else
        add_event(&o->events, "message", 7, chc_buf_head(&data), data.len,
                  chc_buf_head(&lid), lid.len, ev_retry);
      data.len = type.len = 0;
      ev_retry = -1;
      continue;
    }
    if (line[0] == ':') continue;
    colon = memchr(line, ':', ll);
    name = line;
    if (colon) {
      nl = (size_t)(colon - line);
      value = colon + 1;
      vl = ll - nl - 1;
      if (vl && value[0] == ' ') value++, vl--;
    } else {
      nl = ll;
      value = "";
      vl = 0;
    }
    if (is(name, nl, "event")) {
      type.len = 0;
      chc_buf_append(&type, value, vl);
    } else if (is(name, nl, "data")) {
      chc_buf_append(&data, value, vl);
      chc_buf_append(&data, "\n", 1);
    } else if (is(name, nl, "id")) {
      if (vl == 0 || !memchr(value, 0, vl)) {
        idb.len = 0;
        chc_buf_append(&idb, value, vl);
      }
    } else if (is(name, nl, "retry")) {
      size_t k;
      long long v = 0;
      for (k = 0; k < vl && value[k] >= '0' && value[k] <= '9'; k++)
        v = v > (0x7fffffffffffffffLL - (value[k] - '0')) / 10
                ? 0x7fffffffffffffffLL
                : v * 10 + (value[k] - '0');
      if (vl > 0 && k == vl) o->retry = ev_retry = v;
    }
  }
  add(&o->last_id, chc_buf_head(&lid), lid.len);
  chc_buf_free(&text);
  chc_buf_free(&data);
  chc_buf_free(&type);
  chc_buf_free(&idb);
  chc_buf_free(&lid);
}

static int same_buf(const chc_buf *x, const chc_buf *y) {
  return x->len == y->len &&
         (x->len == 0 || memcmp(chc_buf_head(x), chc_buf_head(y), x->len) == 0);
}

static void out_free(result *o) {
  chc_buf_free(&o->events);
  chc_buf_free(&o->pos);
  chc_buf_free(&o->last_id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const size_t maxes[4] = {0, 3, 16, 64};
  result whole, split;
  size_t max;
  if (size < 2) return 0;
  max = maxes[data[0] & 3];
  run(data + 2, size - 2, max, data[1], 0, &whole);
  run(data + 2, size - 2, max, data[1], 1, &split);
  if (whole.err != split.err || !same_buf(&whole.events, &split.events) ||
      !same_buf(&whole.pos, &split.pos) || whole.retry != split.retry)
    abort();
  if (!whole.err) {
    if (whole.pending != split.pending ||
        !same_buf(&whole.last_id, &split.last_id))
      abort();
  }
  if (max == 0) {
    result ref;
    reference(data + 2, size - 2, &ref);
    if (!same_buf(&whole.events, &ref.events) || whole.retry != ref.retry ||
        !same_buf(&whole.last_id, &ref.last_id))
      abort();
    out_free(&ref);
  }
  out_free(&whole);
  out_free(&split);
  return 0;
}
