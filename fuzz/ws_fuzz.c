/*
** ws_fuzz.c: libFuzzer driver for the WebSocket engine's receive side.
**
** Input: one byte of options, one byte seeding the split, then the bytes.
** Options: bit 0 permessage-deflate agreed; bit 1 server_no_context_
** takeover; bit 2 small limits (max_message 4096, max_frame 1024); bits 3-5
** the server's window bits - 8 (9 at least when generating); bit 6
** "generate": the bytes are records
** [flags][len][payload] that the driver turns into frames itself,
** compressing with zlib when asked, so the inflate path sees valid streams
** (with fuzzed text, fragmentation and control frames in between);
** bit 7 fuzzes the handshake's answer instead (see handshake()).
**
** Each stream is fed whole and in pieces of pseudo-random sizes, every
** piece in its own exact-size block; both runs must agree on everything
** (messages, the close, the failure, the bytes queued). Every text
** message delivered is sent back as text: the send side's UTF-8 check must
** agree with the receive side's.
**
**   clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc fuzz/ws_fuzz.c \
**     src/ws.c src/ws_deflate.c src/ws_handshake.c src/crypto.c src/buf.c \
**     src/common.c -lmbedcrypto -lz -o /tmp/ws_fuzz
**   /tmp/ws_fuzz -max_total_time=300 /tmp/ws_corpus
*/
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int rnd(void *ud, unsigned char *p, size_t n) {
  unsigned *s = ud;
  size_t i;
  for (i = 0; i < n; i++) {
    *s = *s * 1103515245u + 12345u;
    p[i] = (unsigned char)(*s >> 16);
  }
  return 0;
}

static void put(chc_buf *b, const void *p, size_t n) {
  if (chc_buf_append(b, p, n) < 0) abort();
}

static void frame(chc_buf *b, unsigned b0, const void *p, size_t n) {
  unsigned char h[4] = {(unsigned char)b0, (unsigned char)n, 0, 0};
  if (n >= 126) {
    h[1] = 126, h[2] = (unsigned char)(n >> 8), h[3] = (unsigned char)n;
    put(b, h, 4);
  } else {
    put(b, h, 2);
  }
  put(b, p, n);
}

/*
** Records: flags (bits 0-1: 0 text, 1 binary, 2 ping, 3 close; bit 2:
** compress; bits 4-5: fragments - 1; bit 6: a ping between fragments;
** bit 7: a pong first), length, payload.
*/
static void generate(const uint8_t *p, size_t n, int nct, int bits,
                     chc_buf *out) {
  z_stream z;
  chc_buf zb = CHC_BUF_INIT;
  memset(&z, 0, sizeof z);
  if (deflateInit2(&z, 6, Z_DEFLATED, -bits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    abort();
  while (n >= 2) {
    unsigned f = p[0], len = p[1], kind = f & 3, nfrag = 1 + (f >> 4 & 3), i;
    const uint8_t *pl = p + 2;
    const void *body;
    size_t blen, at;
    if (len > n - 2) len = (unsigned)(n - 2);
    p += 2 + len;
    n -= 2 + len;
    if (f & 0x80) frame(out, 0x8a, "pg", 2);
    if (kind >= 2) {
      if (len > 125) len = 125;
      frame(out, kind == 2 ? 0x89 : 0x88, pl, len);
      continue;
    }
    body = pl;
    blen = len;
    if (f & 4) {
      chc_buf_reset(&zb);
      z.next_in = (Bytef *)(uintptr_t)pl;
      z.avail_in = len;
      do {
        if (chc_buf_reserve(&zb, 1024) < 0) abort();
        z.next_out = (Bytef *)chc_buf_tail(&zb);
        z.avail_out = (uInt)chc_buf_avail(&zb);
        deflate(&z, Z_SYNC_FLUSH);
        zb.len = (size_t)((char *)z.next_out - chc_buf_head(&zb));
      } while (z.avail_out == 0);
      /* strip 00 00 ff ff; a flush with nothing new to say gives no
      ** bytes at all: send the one 0x00 of RFC 7692 7.2.3.6 then */
      if (zb.len >= 4) zb.len -= 4;
      else put(&zb, "", 1);
      if (nct) deflateReset(&z);
      body = zb.data;
      blen = zb.len;
    }
    for (i = 0, at = 0; i < nfrag; i++) {
      size_t k = i + 1 == nfrag ? blen - at : blen / nfrag;
      unsigned b0 = (i == 0 ? 1 + kind : 0) | (i == 0 && (f & 4) ? 0x40 : 0) |
                    (i + 1 == nfrag ? 0x80 : 0);
      frame(out, b0, (const char *)body + at, k);
      at += k;
      if ((f & 0x40) && i + 1 < nfrag) frame(out, 0x89, "x", 1);
    }
  }
  deflateEnd(&z);
  chc_buf_free(&zb);
}

static size_t next_piece(unsigned *seed, size_t left) {
  *seed = *seed * 1103515245u + 12345u;
  if (*seed >> 31) return 1;
  return 1 + (*seed >> 16) % (left < 64 ? left : 64);
}

/* The server's window. Generated streams are compressed with it, as a
** server that agreed to it would: a reference further back than the
** agreed window is the sender's fault, and zlib resolves it or not
** depending on how much output the same inflate call holds (ws_deflate.c:
** a leniency), so whole and split runs could differ on it. zlib's raw
** deflate has no 8-bit window: generated streams use 9 there. */
static int gen_bits(unsigned opts) {
  int bits = 8 + (int)(opts >> 3 & 7);
  return (opts & 0x40) && bits < 9 ? 9 : bits;
}

/* The transcript of one run. */
/* part > 0: the engine hands messages out in parts of that size
** (chc_ws_set_part); they are joined here, so the transcript must be the
** same as with whole messages. */
static void run(const uint8_t *in, size_t n, unsigned opts, unsigned seed,
                int split, size_t part, chc_buf *t) {
  chc_ws_opts o;
  chc_ws_pmd d;
  chc_ws *ws;
  unsigned rs = 1;
  size_t a = 0;
  int failed = 0;
  memset(&o, 0, sizeof o);
  memset(&d, 0, sizeof d);
  o.random = rnd;
  o.random_ud = &rs;
  o.compress_min = 16;
  if (opts & 4) o.max_message = 4096, o.max_frame = 1024;
  d.enabled = opts & 1;
  d.server_no_context_takeover = (opts >> 1) & 1;
  d.server_max_window_bits = gen_bits(opts);
  d.client_max_window_bits = 15;
  chc_buf joined = CHC_BUF_INIT;
  if ((ws = chc_ws_new(&o, &d)) == NULL) abort();
  chc_ws_set_part(ws, part);
  while (a < n && !failed) {
    size_t k = split ? next_piece(&seed, n - a) : n - a, off = 0;
    char *buf;
    int rounds = 0;
    if (k > n - a) k = n - a;
    if ((buf = malloc(k)) == NULL) abort();
    memcpy(buf, in + a, k);
    /* (the engine may want a feed with no input: what the inflater owed
    ** for the last read, in parts mode) */
    while (off < k || chc_ws_want_feed(ws)) {
      ssize_t r = chc_ws_feed(ws, buf + off, k - off);
      unsigned ev = chc_ws_events(ws);
      int kind;
      const char *p;
      size_t m;
      /* no progress (a part may come from no new input: what the inflater
      ** owed for the last read) */
      if (++rounds > 2 * (int)k + 4 +
                         (part ? (int)(o.max_message ? o.max_message
                                                     : 16u << 20) / (int)part
                               : 0))
        abort();
      /* pongs are not in the transcript: one feed reports the last of
      ** several, so their number depends on the split */
      if (ev & CHC_WS_EV_PONG) {
        p = chc_ws_pong_data(ws, &m);
        if (m > 125) abort();
      }
      if (r < 0) {
        if (!(chc_ws_state(ws) & CHC_WS_FAILED)) abort();
        if (ev & (CHC_WS_EV_MESSAGE | CHC_WS_EV_CLOSE)) abort();
        chc_buf_appendf(t, "fail %d;", chc_ws_fail_code(ws));
        failed = 1;
        break;
      }
      if ((size_t)r > k - off) abort();
      /* short only to hold a message */
      if ((size_t)r < k - off && !(ev & CHC_WS_EV_MESSAGE)) abort();
      off += (size_t)r;
      if (ev & CHC_WS_EV_MESSAGE) {
        int sr;
        if (!chc_ws_message(ws, &kind, &p, &m)) abort();
        if (chc_ws_want_read(ws)) abort();
        if (part && chc_ws_message_more(ws)) {
          if (m != part) abort();
          put(&joined, p, m);
          chc_ws_message_release(ws);
          continue;
        }
        if (part && joined.len > 0) { /* the last part: the whole message */
          put(&joined, p, m);
          p = joined.data;
          m = joined.len;
        }
        chc_buf_appendf(t, "msg %d %zu;", kind, m);
        put(t, p, m);
        /* echo: a text message we accepted must be sendable as text */
        sr = chc_ws_send(ws, kind, p, m, 0);
        if (sr != 0 && sr != -EPIPE) abort();
        chc_ws_message_release(ws);
        chc_buf_reset(&joined);
      } else if (chc_ws_message(ws, &kind, &p, &m)) {
        abort(); /* a held message is always reported */
      }
      if (ev & CHC_WS_EV_CLOSE) {
        p = chc_ws_close_reason(ws, &m);
        chc_buf_appendf(t, "close %d %zu;", chc_ws_close_code(ws), m);
        put(t, p, m);
      }
    }
    free(buf);
    a += k;
  }
  put(t, chc_buf_head(chc_ws_output(ws)), chc_ws_pending(ws));
  chc_ws_free(ws);
  chc_buf_free(&joined);
}

/*
** Bit 7: the handshake instead. The bytes are the answer's
** Sec-WebSocket-Extensions and Sec-WebSocket-Protocol values (split at
** the first NUL); the second byte picks what the offer asked for.
*/
static void handshake(const uint8_t *p, size_t n, unsigned ask) {
  static const char *const protos[] = {"chat", "x"};
  chc_ws_offer o;
  chc_ws_accepted a;
  chc_hlist h = CHC_HLIST_INIT;
  chc_error e;
  char acc[CHC_WS_ACCEPT_LEN + 1];
  const uint8_t *nul = memchr(p, 0, n);
  size_t el = nul ? (size_t)(nul - p) : n;
  int r;
  memset(&o, 0, sizeof o);
  strcpy(o.key, "dGhlIHNhbXBsZSBub25jZQ==");
  o.deflate = ask & 1;
  o.server_no_context_takeover = ask >> 1 & 1;
  o.server_max_window_bits = ask & 4 ? 8 + (int)(ask >> 3 & 7) : 0;
  o.protocols = protos;
  o.nprotocols = ask & 64 ? 2 : 0;
  o.h2 = ask >> 7;
  chc_ws_accept(acc, o.key, strlen(o.key));
  chc_hlist_add(&h, "Upgrade", 7, "websocket", 9);
  chc_hlist_add(&h, "Connection", 10, "Upgrade", 7);
  chc_hlist_add(&h, "Sec-WebSocket-Accept", 20, acc, strlen(acc));
  chc_hlist_add(&h, "Sec-WebSocket-Extensions", 24, (const char *)p, el);
  if (nul)
    chc_hlist_add(&h, "Sec-WebSocket-Protocol", 22, (const char *)nul + 1,
                  n - el - 1);
  chc_err_clear(&e);
  r = chc_ws_check_response(&o, o.h2 ? 200 : 101, &h, &a, &e);
  if ((r == 0) != (e.code == CHC_OK)) abort();
  if (r == 0) {
    if (a.protocol < -1 || a.protocol >= (int)o.nprotocols) abort();
    if (a.pmd.enabled && (!o.deflate || a.pmd.server_max_window_bits < 8 ||
                          a.pmd.server_max_window_bits > 15 ||
                          a.pmd.client_max_window_bits < 8 ||
                          a.pmd.client_max_window_bits > 15))
      abort();
    if (a.pmd.enabled) { /* what was agreed makes an engine */
      chc_ws_opts eo;
      unsigned rs = 1;
      chc_ws *ws;
      memset(&eo, 0, sizeof eo);
      eo.random = rnd;
      eo.random_ud = &rs;
      if ((ws = chc_ws_new(&eo, &a.pmd)) == NULL) abort();
      chc_ws_free(ws);
    }
  } else if (e.msg[0] == '\0') {
    abort();
  }
  chc_hlist_free(&h);
}

static int same(const chc_buf *a, const chc_buf *b) {
  return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  chc_buf gen = CHC_BUF_INIT, whole = CHC_BUF_INIT, split = CHC_BUF_INIT;
  const uint8_t *in;
  size_t n;
  if (size < 2) return 0;
  if (data[0] & 0x80) {
    handshake(data + 2, size - 2, data[1]);
    return 0;
  }
  in = data + 2;
  n = size - 2;
  if (data[0] & 0x40) {
    generate(in, n, data[0] >> 1 & 1, gen_bits(data[0]), &gen);
    in = (const uint8_t *)gen.data;
    n = gen.len;
  }
  run(in, n, data[0], data[1], 0, 0, &whole);
  run(in, n, data[0], data[1], 1, 0, &split);
  if (!same(&whole, &split)) abort();
  /* in parts of 1 to 8 KiB, whole and split: the same transcript */
  chc_buf_reset(&split);
  run(in, n, data[0], data[1], 0, (size_t)1 << (data[1] % 14), &split);
  if (!same(&whole, &split)) abort();
  chc_buf_reset(&split);
  run(in, n, data[0], data[1], 1, (size_t)1 << (data[1] % 14), &split);
  if (!same(&whole, &split)) abort();
  chc_buf_free(&gen);
  chc_buf_free(&whole);
  chc_buf_free(&split);
  return 0;
}
