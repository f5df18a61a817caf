/*
** test_ws.c: the WebSocket engine fed with byte strings, no sockets.
**
** Every stream of server frames is fed whole, cut in two at every offset,
** and byte by byte, each piece in its own exact-size malloc'd block (so
** ASan and valgrind see a read past the bytes given). Each run writes a
** transcript (messages taken, pongs, the peer's close, a failure, and the
** frames the engine queued, unmasked); all runs must give the expected
** transcript. The random source is deterministic, so masks are too.
**
**   make -C tests/c test_ws && tests/c/test_ws
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "ws.h"

static const char *ctx = ""; /* the case being run, for failures */
static long ctx_cut = -1;     /* its split: -1 whole, -2 bytewise */
static int nchecks;

static void fail(const char *file, int line, const char *what) {
  fprintf(stderr, "%s:%d: check failed: %s\n  case: %s (split %ld)\n", file,
          line, what, ctx, ctx_cut);
  abort();
}

/* never compiled out, unlike assert */
#define CHECK(c) (nchecks++, (c) ? (void)0 : fail(__FILE__, __LINE__, #c))
#define LEN(s) (sizeof(s) - 1)

/* {=====================================================================
** Random sources
** ====================================================================== */

static unsigned long rnd_calls;

/* A counter: byte i of the stream is (i * 7 + 1) & 0xff. */
static int rnd_count(void *ud, unsigned char *p, size_t n) {
  size_t *at = ud, i;
  rnd_calls++;
  for (i = 0; i < n; i++) p[i] = (unsigned char)((*at)++ * 7 + 1);
  return 0;
}

/* The mask of RFC 6455 5.7's examples, over and over. */
static int rnd_rfc(void *ud, unsigned char *p, size_t n) {
  static const unsigned char m[4] = {0x37, 0xfa, 0x21, 0x3d};
  size_t i;
  (void)ud;
  for (i = 0; i < n; i++) p[i] = m[i % 4];
  return 0;
}

static int rnd_fails(void *ud, unsigned char *p, size_t n) {
  (void)ud, (void)p, (void)n;
  return -1;
}

static size_t rnd_at;

static chc_ws_opts opts_default(void) {
  chc_ws_opts o;
  memset(&o, 0, sizeof o);
  o.random = rnd_count;
  o.random_ud = &rnd_at;
  return o;
}

static chc_ws_pmd pmd_on(void) {
  chc_ws_pmd d;
  memset(&d, 0, sizeof d);
  d.enabled = 1;
  d.server_max_window_bits = d.client_max_window_bits = 15;
  return d;
}

/* }===================================================================== */

/* {=====================================================================
** Server frames and transcripts
** ====================================================================== */

static void put(chc_buf *b, const void *p, size_t n) {
  CHECK(chc_buf_append(b, p, n) == 0);
}

/* An unmasked frame with the shortest length form. */
static void frame(chc_buf *b, unsigned b0, const void *p, size_t n) {
  unsigned char h[10];
  size_t hl = 2, i;
  h[0] = (unsigned char)b0;
  if (n < 126) {
    h[1] = (unsigned char)n;
  } else if (n < 65536) {
    h[1] = 126, h[2] = (unsigned char)(n >> 8), h[3] = (unsigned char)n;
    hl = 4;
  } else {
    h[1] = 127;
    for (i = 0; i < 8; i++) h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
    hl = 10;
  }
  put(b, h, hl);
  put(b, p, n);
}

static void frames(chc_buf *b, unsigned b0, const char *s) {
  frame(b, b0, s, strlen(s));
}

/* Decodes the client frames in out: each must be masked. Appends
** "out <op>[ f][ z] <payload>;" (close: "out close <code> <reason>;"). */
static void decode_out(const chc_buf *out, chc_buf *t) {
  const unsigned char *p = (const unsigned char *)chc_buf_head(out);
  size_t n = out->len;
  while (n > 0) {
    size_t hl = 2, len, i;
    const unsigned char *m;
    unsigned char pl[256];
    CHECK(n >= 2 && (p[1] & 0x80));
    len = p[1] & 0x7f;
    if (len == 126) {
      len = (size_t)p[2] << 8 | p[3];
      hl = 4;
    } else if (len == 127) {
      len = 0;
      for (i = 0; i < 8; i++) len = len << 8 | p[2 + i];
      hl = 10;
    }
    CHECK(n >= hl + 4 + len);
    m = p + hl;
    if ((p[0] & 0x0f) == 8) {
      CHECK(len != 1 && len <= 125);
      for (i = 0; i < len; i++) pl[i] = p[hl + 4 + i] ^ m[i % 4];
      if (len == 0)
        chc_buf_appendf(t, "out close;");
      else
        chc_buf_appendf(t, "out close %d %.*s;", pl[0] << 8 | pl[1],
                        (int)len - 2, (const char *)pl + 2);
    } else {
      chc_buf_appendf(t, "out %d%s%s ", p[0] & 0x0f, p[0] & 0x80 ? " f" : "",
                      p[0] & 0x40 ? " z" : "");
      for (i = 0; i < len; i++) {
        char c = (char)(p[hl + 4 + i] ^ m[i % 4]);
        put(t, &c, 1);
      }
      put(t, ";", 1);
    }
    p += hl + 4 + len;
    n -= hl + 4 + len;
  }
}

/* Takes what the last feed reported into the transcript. */
static void events(chc_ws *ws, chc_buf *t) {
  unsigned ev = chc_ws_events(ws);
  int kind;
  const char *p;
  size_t n;
  if (ev & CHC_WS_EV_PONG) {
    p = chc_ws_pong_data(ws, &n);
    chc_buf_appendf(t, "pong %.*s;", (int)n, p);
  }
  if (ev & CHC_WS_EV_MESSAGE) {
    CHECK(chc_ws_message(ws, &kind, &p, &n) == 1);
    CHECK(!chc_ws_want_read(ws));
    chc_buf_appendf(t, "msg %d ", kind);
    put(t, p, n);
    put(t, ";", 1);
    chc_ws_message_release(ws);
    CHECK(chc_ws_message(ws, &kind, &p, &n) == 0);
  }
  if (ev & CHC_WS_EV_CLOSE) {
    p = chc_ws_close_reason(ws, &n);
    chc_buf_appendf(t, "close %d%s%.*s;", chc_ws_close_code(ws),
                    n ? " " : "", (int)n, p);
  }
}

/* Feeds one piece (copied into its own block) until it is used up. */
static int feed_piece(chc_ws *ws, const char *src, size_t n, chc_buf *t) {
  char *blk = malloc(n ? n : 1);
  size_t off = 0;
  int rounds = 0;
  CHECK(blk != NULL);
  memcpy(blk, src, n);
  while (off < n) {
    ssize_t r = chc_ws_feed(ws, blk + off, n - off);
    CHECK(++rounds <= (int)n + 2);
    if (r < 0) {
      chc_buf_appendf(t, "fail %d;", chc_ws_fail_code(ws));
      CHECK(chc_ws_error(ws)->code == CHC_EREMOTE_PROTO);
      CHECK(chc_ws_feed(ws, blk, n) == -1);
      CHECK(!chc_ws_want_read(ws));
      free(blk);
      return -1;
    }
    CHECK((size_t)r <= n - off);
    events(ws, t);
    /* no progress is only allowed while a message is held: events()
    ** took it, so the next round must move */
    off += (size_t)r;
  }
  free(blk);
  return 0;
}

typedef struct cfg {
  size_t max_message, max_frame;
  const chc_ws_pmd *pmd;
} cfg;

static chc_ws *engine(const cfg *c) {
  chc_ws_opts o = opts_default();
  chc_ws *ws;
  if (c) {
    o.max_message = c->max_message;
    o.max_frame = c->max_frame;
  }
  ws = chc_ws_new(&o, c ? c->pmd : NULL);
  CHECK(ws != NULL);
  return ws;
}

/* One run; cut >= 0: two pieces; -1: whole; -2: byte by byte. */
static void run(const cfg *c, const chc_buf *in, long cut, chc_buf *t) {
  chc_ws *ws = engine(c);
  const char *p = chc_buf_head(in);
  size_t n = in->len, i;
  ctx_cut = cut;
  rnd_at = 0;
  chc_buf_reset(t);
  if (cut == -1) {
    feed_piece(ws, p, n, t);
  } else if (cut >= 0) {
    if (feed_piece(ws, p, (size_t)cut, t) == 0)
      feed_piece(ws, p + cut, n - (size_t)cut, t);
  } else {
    for (i = 0; i < n; i++)
      if (feed_piece(ws, p + i, 1, t) < 0) break;
  }
  decode_out(chc_ws_output(ws), t);
  chc_ws_free(ws);
}

/* The stream gives `want` however it is split. */
static void expect(const char *name, const cfg *c, const chc_buf *in,
                   const char *want) {
  chc_buf t = CHC_BUF_INIT;
  long cut;
  ctx = name;
  for (cut = -2; cut <= (long)in->len; cut++) {
    run(c, in, cut, &t);
    if (t.len != strlen(want) || memcmp(chc_buf_head(&t), want, t.len) != 0) {
      fprintf(stderr, "want: %s\ngot:  %.*s\n", want, (int)t.len,
              chc_buf_head(&t));
      CHECK(!"transcript differs");
    }
  }
  chc_buf_free(&t);
}

/* A stream given as bytes in a string literal. */
static void expect_raw(const char *name, const cfg *c, const char *bytes,
                       size_t n, const char *want) {
  chc_buf in = CHC_BUF_INIT;
  put(&in, bytes, n);
  expect(name, c, &in, want);
  chc_buf_free(&in);
}
#define RAW(name, c, lit, want) expect_raw(name, c, lit, LEN(lit), want)

/* }===================================================================== */

/* {=====================================================================
** Receiving: RFC examples, fragmentation, control frames
** ====================================================================== */

static void test_rfc6455_examples(void) {
  chc_buf in = CHC_BUF_INIT;
  char big[65536];
  /* RFC 6455 5.7 */
  RAW("single-frame unmasked text", NULL, "\x81\x05Hello", "msg 1 Hello;");
  RAW("fragmented unmasked text", NULL, "\x01\x03Hel\x80\x02lo",
      "msg 1 Hello;");
  RAW("unmasked ping", NULL, "\x89\x05Hello", "out 10 f Hello;");
  RAW("unmasked pong", NULL, "\x8a\x05Hello", "pong Hello;");
  RAW("masked text from the server", NULL,
      "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58",
      "fail 1002;out close 1002 ;");
  /* 256 bytes and 64 KiB binary, in single unmasked frames */
  memset(big, 'x', sizeof big);
  put(&in, "\x82\x7e\x01\x00", 4);
  put(&in, big, 256);
  ctx = "256-byte binary";
  {
    chc_buf t = CHC_BUF_INIT;
    chc_buf want = CHC_BUF_INIT;
    put(&want, "msg 2 ", 6);
    put(&want, big, 256);
    put(&want, ";", 1);
    put(&want, "", 1);
    expect("256-byte binary", NULL, &in, chc_buf_head(&want));
    chc_buf_reset(&in);
    put(&in, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
    put(&in, big, 65536);
    run(NULL, &in, -1, &t);
    CHECK(t.len == 6 + 65536 + 1 && memcmp(t.data, "msg 2 ", 6) == 0);
    run(NULL, &in, 5, &t);
    CHECK(t.len == 6 + 65536 + 1);
    run(NULL, &in, 40000, &t);
    CHECK(t.len == 6 + 65536 + 1);
    chc_buf_free(&t);
    chc_buf_free(&want);
  }
  chc_buf_free(&in);
}

static void test_fragments_and_control(void) {
  RAW("empty text message", NULL, "\x81\x00", "msg 1 ;");
  RAW("empty fragments", NULL, "\x02\x00\x00\x00\x80\x00", "msg 2 ;");
  RAW("ping inside a fragmented message", NULL,
      "\x01\x03Hel\x89\x02hi\x00\x01l\x8a\x01p\x80\x01o",
      "pong p;msg 1 Hello;out 10 f hi;");
  RAW("close inside a fragmented message", NULL,
      "\x01\x03Hel\x88\x02\x03\xe8\x80\x02lo",
      "close 1000;out close 1000 ;");
  RAW("two messages: one at a time", NULL, "\x81\x01" "a\x82\x01" "b",
      "msg 1 a;msg 2 b;");
  RAW("ping with an empty payload", NULL, "\x89\x00", "out 10 f ;");
  RAW("125-byte ping", NULL,
      "\x89\x7d"
      "0123456789012345678901234567890123456789012345678901234567890123456789"
      "0123456789012345678901234567890123456789012345678901234",
      "out 10 f "
      "0123456789012345678901234567890123456789012345678901234567890123456789"
      "0123456789012345678901234567890123456789012345678901234;");
}

static void test_violations(void) {
  const char *p1002 = "fail 1002;out close 1002 ;";
  chc_ws_pmd d = pmd_on();
  cfg z = {0, 0, &d};
  RAW("RSV2", NULL, "\xa1\x00", p1002);
  RAW("RSV3", NULL, "\x91\x00", p1002);
  RAW("RSV1 without deflate", NULL, "\xc1\x05Hello", p1002);
  RAW("RSV1 on a continuation", &z, "\x41\x03\xf2\x48\xcd\xc0\x04\xc9\xc9\x07\x00",
      p1002);
  RAW("RSV1 on a ping", &z, "\xc9\x00", p1002);
  RAW("opcode 3", NULL, "\x83\x00", p1002);
  RAW("opcode 7", NULL, "\x87\x00", p1002);
  RAW("opcode 11", NULL, "\x8b\x00", p1002);
  RAW("opcode 15", NULL, "\x8f\x00", p1002);
  RAW("126-byte ping", NULL, "\x89\x7e\x00\x7e", p1002);
  RAW("fragmented ping", NULL, "\x09\x00\x80\x00", p1002);
  RAW("fragmented close", NULL, "\x08\x02\x03\xe8", p1002);
  RAW("continuation first", NULL, "\x80\x01x", p1002);
  RAW("text inside a fragmented message", NULL, "\x01\x01" "a\x81\x01" "b",
      p1002);
  RAW("masked binary", NULL, "\x82\x81\x00\x00\x00\x00x", p1002);
  RAW("16-bit length under 126", NULL, "\x81\x7e\x00\x05Hello", p1002);
  RAW("64-bit length under 65536", NULL,
      "\x82\x7f\x00\x00\x00\x00\x00\x00\xff\xff", p1002);
  RAW("64-bit length with its top bit", NULL,
      "\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x01", p1002);
  /* a violation after a good message: the message comes first */
  RAW("message then violation", NULL, "\x81\x01" "a\x83\x00",
      "msg 1 a;fail 1002;out close 1002 ;");
}

static void test_close(void) {
  static const int ok[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
                           1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999};
  static const int bad[] = {0,    999,  1004, 1005, 1006, 1015, 1016,
                            1100, 2000, 2999, 5000, 65535};
  size_t i;
  char want[64];
  RAW("close 1000", NULL, "\x88\x02\x03\xe8", "close 1000;out close 1000 ;");
  RAW("close with a reason", NULL, "\x88\x07\x03\xe9going",
      "close 1001 going;out close 1001 ;");
  RAW("close without a code", NULL, "\x88\x00", "close 1005;out close;");
  RAW("close with 1 byte", NULL, "\x88\x01\x03", "fail 1002;out close 1002 ;");
  RAW("close reason not UTF-8", NULL, "\x88\x04\x03\xe8\xc0\x80",
      "fail 1007;out close 1007 ;");
  RAW("close reason cut inside a character", NULL, "\x88\x03\x03\xe8\xe2",
      "fail 1007;out close 1007 ;");
  RAW("input after the close is dropped", NULL,
      "\x88\x02\x03\xe8\x81\x05Hello\x89\x00",
      "close 1000;out close 1000 ;");
  for (i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    chc_buf in = CHC_BUF_INIT;
    unsigned char c[2] = {(unsigned char)(ok[i] >> 8), (unsigned char)ok[i]};
    frame(&in, 0x88, c, 2);
    snprintf(want, sizeof want, "close %d;out close %d ;", ok[i], ok[i]);
    expect("valid close code", NULL, &in, want);
    chc_buf_free(&in);
  }
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    chc_buf in = CHC_BUF_INIT;
    unsigned char c[2] = {(unsigned char)(bad[i] >> 8), (unsigned char)bad[i]};
    frame(&in, 0x88, c, 2);
    expect("invalid close code", NULL, &in, "fail 1002;out close 1002 ;");
    chc_buf_free(&in);
  }
}

static void test_utf8(void) {
  const char *p1007 = "fail 1007;out close 1007 ;";
  RAW("valid 2-, 3- and 4-byte characters", NULL,
      "\x81\x09\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
      "msg 1 \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80;");
  RAW("a character split across frames", NULL,
      "\x01\x01\xe2\x00\x01\x82\x80\x01\xac", "msg 1 \xe2\x82\xac;");
  RAW("a character split across frames, with a ping between", NULL,
      "\x01\x01\xf0\x89\x00\x80\x03\x9f\x98\x80",
      "msg 1 \xf0\x9f\x98\x80;out 10 f ;");
  RAW("overlong 2-byte", NULL, "\x81\x02\xc0\x80", p1007);
  RAW("overlong 3-byte", NULL, "\x81\x03\xe0\x80\x80", p1007);
  RAW("overlong 4-byte", NULL, "\x81\x04\xf0\x80\x80\x80", p1007);
  RAW("surrogate", NULL, "\x81\x03\xed\xa0\x80", p1007);
  RAW("past U+10FFFF", NULL, "\x81\x04\xf4\x90\x80\x80", p1007);
  RAW("byte F5", NULL, "\x81\x01\xf5", p1007);
  RAW("lone continuation byte", NULL, "\x81\x01\x80", p1007);
  RAW("invalid across frames", NULL, "\x01\x01\xe2\x80\x01(", p1007);
  RAW("message ends inside a character", NULL, "\x81\x02" "a\xe2", p1007);
  RAW("binary is not checked", NULL, "\x82\x02\xc0\x80", "msg 2 \xc0\x80;");
  /* fail fast: the frame is not complete, the bad byte is enough */
  RAW("fail fast inside a frame", NULL, "\x81\x0a" "ab\xff", p1007);
  RAW("fail fast in a fragment", NULL,
      "\x01\x02" "ab\x00\x10\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80",
      p1007);
}

static void test_limits(void) {
  const char *p1009 = "fail 1009;out close 1009 ;";
  cfg small = {10, 0, NULL};
  cfg frm = {100, 4, NULL};
  RAW("message at max_message", &small, "\x82\x0a" "0123456789",
      "msg 2 0123456789;");
  RAW("frame over max_message", &small, "\x82\x0b" "0123456789a", p1009);
  RAW("fragments over max_message", &small,
      "\x02\x06" "012345\x80\x06" "678901", p1009);
  RAW("frame over max_frame", &frm, "\x82\x05" "01234", p1009);
  RAW("fragments under max_frame", &frm,
      "\x02\x04" "0123\x00\x04" "4567\x80\x02" "89", "msg 2 0123456789;");
  RAW("pings are not bound by max_frame", &frm, "\x89\x05" "01234",
      "out 10 f 01234;");
  /* refused at the header: the payload is never awaited */
  RAW("huge length refused at once", &small,
      "\x82\x7f\x00\x00\x00\x01\x00\x00\x00\x00", p1009);
}

/* }===================================================================== */

/* {=====================================================================
** permessage-deflate, receiving
** ====================================================================== */

/* Raw DEFLATE of p with a sync flush, tail stripped (a test deflater). */
static void zmsg(z_stream *z, chc_buf *out, const void *p, size_t n) {
  size_t at = out->len;
  z->next_in = (Bytef *)(uintptr_t)p;
  z->avail_in = (uInt)n;
  do {
    CHECK(chc_buf_reserve(out, 65536) == 0);
    z->next_out = (Bytef *)chc_buf_tail(out);
    z->avail_out = (uInt)chc_buf_avail(out);
    CHECK(deflate(z, Z_SYNC_FLUSH) == Z_OK);
    out->len = (size_t)((char *)z->next_out - chc_buf_head(out));
  } while (z->avail_out == 0);
  CHECK(out->len - at >= 4);
  out->len -= 4;
}

static void test_rfc7692_examples(void) {
  chc_ws_pmd d = pmd_on(), nct = pmd_on();
  cfg z = {0, 0, &d}, zn = {0, 0, &nct};
  nct.server_no_context_takeover = 1;
  /* RFC 7692 7.2.3.1 */
  RAW("compressed Hello", &z, "\xc1\x07\xf2\x48\xcd\xc9\xc9\x07\x00",
      "msg 1 Hello;");
  RAW("compressed Hello in two fragments", &z,
      "\x41\x03\xf2\x48\xcd\x80\x04\xc9\xc9\x07\x00", "msg 1 Hello;");
  /* 7.2.3.2: the second message refers back into the first's window */
  RAW("sharing the LZ77 window", &z,
      "\xc1\x07\xf2\x48\xcd\xc9\xc9\x07\x00\xc1\x05\xf2\x00\x11\x00\x00",
      "msg 1 Hello;msg 1 Hello;");
  RAW("server_no_context_takeover drops the window", &zn,
      "\xc1\x07\xf2\x48\xcd\xc9\xc9\x07\x00\xc1\x05\xf2\x00\x11\x00\x00",
      "msg 1 Hello;fail 1007;out close 1007 ;");
  /* 7.2.3.3: a stored block */
  RAW("DEFLATE block with no compression", &z,
      "\xc1\x0b\x00\x05\x00\xfa\xff\x48\x65\x6c\x6c\x6f\x00", "msg 1 Hello;");
  /* 7.2.3.4: BFINAL, then the 0x00 octet */
  RAW("DEFLATE block with BFINAL", &z,
      "\xc1\x08\xf3\x48\xcd\xc9\xc9\x07\x00\x00", "msg 1 Hello;");
  RAW("BFINAL without the 0x00 octet", &z,
      "\xc1\x07\xf3\x48\xcd\xc9\xc9\x07\x00\xc1\x07\xf2\x48\xcd\xc9\xc9\x07\x00",
      "msg 1 Hello;msg 1 Hello;");
  /* 7.2.3.5: two DEFLATE blocks in one message */
  RAW("two DEFLATE blocks", &z,
      "\xc1\x0d\xf2\x48\x05\x00\x00\x00\xff\xff\xca\xc9\xc9\x07\x00",
      "msg 1 Hello;");
  /* 7.2.3.6: an empty message */
  RAW("empty compressed message", &z, "\xc1\x01\x00", "msg 1 ;");
  RAW("empty compressed message, no payload", &z,
      "\xc2\x00\xc1\x07\xf2\x48\xcd\xc9\xc9\x07\x00\xc2\x00",
      "msg 2 ;msg 1 Hello;msg 2 ;");
  /* the first message: its buffer was never grown (found by ws_fuzz:
  ** check_text did NULL + 0) */
  RAW("empty compressed text as the first message", &z, "\xc1\x00",
      "msg 1 ;");
  RAW("uncompressed message with deflate agreed", &z, "\x81\x05Hello",
      "msg 1 Hello;");
  RAW("invalid compressed data", &z, "\xc1\x02\xff\xff",
      "fail 1007;out close 1007 ;");
}

/* A message compressed by zlib itself, in many fragments; and control
** frames between them. */
static void test_deflate_fragments(void) {
  chc_ws_pmd d = pmd_on();
  cfg c = {0, 0, &d};
  chc_buf in = CHC_BUF_INIT, zb = CHC_BUF_INIT, want = CHC_BUF_INIT;
  z_stream z;
  char text[600];
  size_t i;
  memset(&z, 0, sizeof z);
  CHECK(deflateInit2(&z, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  for (i = 0; i < sizeof text; i++) text[i] = "abcabdabe \xce\xba"[i % 12];
  zmsg(&z, &zb, text, sizeof text);
  for (i = 0; i < zb.len; i += 3) { /* 3-byte fragments */
    size_t k = zb.len - i < 3 ? zb.len - i : 3;
    unsigned b0 = (i == 0 ? 0x41 : 0) | (i + k == zb.len ? 0x80 : 0);
    frame(&in, b0, zb.data + i, k);
    if (i == 3) frames(&in, 0x89, "p");
  }
  chc_buf_appendf(&want, "msg 1 %.*s;out 10 f p;", (int)sizeof text, text);
  put(&want, "", 1);
  expect("compressed message in 3-byte fragments", &c, &in, want.data);
  /* a message cut inside a block is refused, not carried into the next */
  chc_buf_reset(&in);
  frame(&in, 0xc1, zb.data, zb.len / 2);
  frames(&in, 0x81, "next");
  expect("compressed message cut short", &c, &in,
         "fail 1007;out close 1007 ;");
  /* the first fault in message order decides the code, however split:
  ** bad UTF-8 at byte 50 of a message that inflates past max_message */
  {
    chc_ws_pmd d2 = pmd_on();
    cfg small = {100, 0, &d2};
    char bad[300];
    memset(bad, 'a', sizeof bad);
    bad[50] = (char)0xff;
    chc_buf_reset(&in);
    chc_buf_reset(&zb);
    CHECK(deflateReset(&z) == Z_OK); /* a fresh stream, like the engine's */
    zmsg(&z, &zb, bad, sizeof bad);
    frame(&in, 0xc1, zb.data, zb.len);
    expect("bad UTF-8 before max_message, inflated in one go", &small, &in,
           "fail 1007;out close 1007 ;");
    bad[50] = 'a';
    chc_buf_reset(&in);
    chc_buf_reset(&zb);
    CHECK(deflateReset(&z) == Z_OK);
    zmsg(&z, &zb, bad, sizeof bad);
    frame(&in, 0xc1, zb.data, zb.len);
    expect("good UTF-8 past max_message", &small, &in,
           "fail 1009;out close 1009 ;");
  }
  /* inflated text is checked as UTF-8 too */
  chc_buf_reset(&in);
  chc_buf_reset(&zb);
  zmsg(&z, &zb, "ok\xc0\x80", 4);
  frame(&in, 0xc1, zb.data, zb.len);
  expect("compressed text that is not UTF-8", &c, &in,
         "fail 1007;out close 1007 ;");
  deflateEnd(&z);
  chc_buf_free(&in);
  chc_buf_free(&zb);
  chc_buf_free(&want);
}

/*
** Window bits 8: zlib's raw inflate takes a window of 8, so the engine
** inflates with exactly what the server announced (256 bytes of window
** memory rather than 32 KiB). zlib does not police the sender: a
** reference further back that still lies in the message it is writing
** resolves, which is lenient and harmless. Checked here: such streams
** inflate, split anywhere.
*/
static void test_window_8(void) {
  chc_ws_pmd d = pmd_on();
  cfg c = {0, 0, &d};
  chc_buf in = CHC_BUF_INIT, zb = CHC_BUF_INIT, want = CHC_BUF_INIT;
  z_stream z;
  char text[800];
  size_t i;
  d.server_max_window_bits = 8;
  RAW("window 8: a reference with no history", &c,
      "\xc1\x05\xf2\x00\x11\x00\x00", "fail 1007;out close 1007 ;");
  RAW("window 8: compressed Hello, twice", &c,
      "\xc1\x07\xf2\x48\xcd\xc9\xc9\x07\x00\xc1\x05\xf2\x00\x11\x00\x00",
      "msg 1 Hello;msg 1 Hello;");
  memset(&z, 0, sizeof z);
  CHECK(deflateInit2(&z, 9, Z_DEFLATED, -9, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  for (i = 0; i < 400; i++) { /* no repeats but the one 400 back */
    rnd_at = rnd_at * 1103515245u + 12345u;
    text[i] = (char)('a' + (rnd_at >> 16) % 26);
  }
  memcpy(text + 400, text, 400);
  zmsg(&z, &zb, text, sizeof text);
  frame(&in, 0xc2, zb.data, zb.len);
  chc_buf_appendf(&want, "msg 2 %.*s;", (int)sizeof text, text);
  put(&want, "", 1);
  expect("window 8: a 512-byte window's stream", &c, &in, want.data);
  deflateEnd(&z);
  chc_buf_free(&in);
  chc_buf_free(&zb);
  chc_buf_free(&want);
}

/*
** A decompression bomb: 64 MiB of zeros compress to ~64 KiB. With a
** max_message of 1 MiB the engine must refuse it with 1009 having
** produced at most max_message + 1 bytes, never the 64 MiB.
*/
static void test_bomb(void) {
  chc_ws_pmd d = pmd_on();
  chc_ws_opts o = opts_default();
  chc_buf zb = CHC_BUF_INIT, in = CHC_BUF_INIT, t = CHC_BUF_INIT;
  z_stream z;
  char *zeros = calloc(1, 1 << 20);
  chc_ws *ws;
  ssize_t r;
  int i;
  ctx = "decompression bomb";
  CHECK(zeros != NULL);
  memset(&z, 0, sizeof z);
  CHECK(deflateInit2(&z, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  for (i = 0; i < 64; i++) {
    z.next_in = (Bytef *)zeros;
    z.avail_in = 1 << 20;
    do {
      CHECK(chc_buf_reserve(&zb, 65536) == 0);
      z.next_out = (Bytef *)chc_buf_tail(&zb);
      z.avail_out = (uInt)chc_buf_avail(&zb);
      CHECK(deflate(&z, i == 63 ? Z_SYNC_FLUSH : Z_NO_FLUSH) == Z_OK);
      zb.len = (size_t)((char *)z.next_out - chc_buf_head(&zb));
    } while (z.avail_out == 0);
  }
  zb.len -= 4;
  CHECK(zb.len < 128 * 1024);
  frame(&in, 0xc2, zb.data, zb.len);
  o.max_message = 1 << 20;
  ws = chc_ws_new(&o, &d);
  CHECK(ws != NULL);
  r = chc_ws_feed(ws, in.data, in.len);
  CHECK(r == -1);
  CHECK(chc_ws_fail_code(ws) == 1009);
  CHECK(strstr(chc_ws_error(ws)->msg, "max_message") != NULL);
  /* produced at most the limit + 1, plus what growth moved */
  CHECK(chc_ws_stats_get(ws)->copied <= 3u * (1 << 20));
  decode_out(chc_ws_output(ws), &t);
  CHECK(t.len == strlen("out close 1009 ;") &&
        memcmp(t.data, "out close 1009 ;", t.len) == 0);
  chc_ws_free(ws);
  deflateEnd(&z);
  free(zeros);
  chc_buf_free(&zb);
  chc_buf_free(&in);
  chc_buf_free(&t);
}

/* }===================================================================== */

/* {=====================================================================
** Backpressure, reassembly in linear time
** ====================================================================== */

static void test_hold(void) {
  chc_ws *ws = engine(NULL);
  const char in[] = "\x81\x01" "a\x89\x00\x81\x01" "b";
  int kind;
  const char *p;
  size_t n;
  ctx = "hold one message";
  CHECK(chc_ws_want_read(ws));
  CHECK(chc_ws_feed(ws, in, LEN(in)) == 3); /* stops after "a" */
  CHECK(chc_ws_events(ws) == CHC_WS_EV_MESSAGE);
  CHECK(!chc_ws_want_read(ws));
  CHECK(chc_ws_feed(ws, in + 3, LEN(in) - 3) == 0); /* takes nothing */
  CHECK(chc_ws_events(ws) == 0);
  CHECK(chc_ws_pending(ws) == 0); /* the ping was not looked at */
  CHECK(chc_ws_message(ws, &kind, &p, &n) == 1 && n == 1 && *p == 'a');
  chc_ws_message_release(ws);
  CHECK(chc_ws_want_read(ws));
  CHECK(chc_ws_feed(ws, in + 3, LEN(in) - 3) == 5);
  CHECK(chc_ws_events(ws) == (CHC_WS_EV_PING | CHC_WS_EV_MESSAGE));
  CHECK(chc_ws_pending(ws) == 6); /* the pong: 2 + mask */
  CHECK(chc_ws_pending(ws) == chc_ws_output(ws)->len);
  chc_buf_consume(chc_ws_output(ws), 6);
  CHECK(chc_ws_pending(ws) == 0);
  chc_ws_message_release(ws);
  /* a release with nothing held leaves a message in progress alone */
  CHECK(chc_ws_feed(ws, "\x02\x02" "ab", 4) == 4);
  chc_ws_message_release(ws);
  CHECK(chc_ws_feed(ws, "\x80\x01" "c", 3) == 3);
  CHECK(chc_ws_message(ws, &kind, &p, &n) == 1 && n == 3 &&
        memcmp(p, "abc", 3) == 0);
  chc_ws_free(ws);
}

/* Our close drops the message held (which stops the feed) and every data
** message after it, so the feed reaches the peer's close. */
static void test_close_drops_messages(void) {
  chc_ws_pmd d = pmd_on();
  chc_ws_opts o = opts_default();
  chc_buf in = CHC_BUF_INIT, zb = CHC_BUF_INIT;
  chc_ws *ws;
  z_stream z;
  int kind;
  const char *p;
  size_t n, off = 0;
  ssize_t r;
  ctx = "our close drops messages";
  memset(&z, 0, sizeof z);
  CHECK(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  zmsg(&z, &zb, "compressed after our close", 26);
  deflateEnd(&z);
  frames(&in, 0x81, "held");
  frames(&in, 0x82, "after");
  frame(&in, 0xc1, zb.data, zb.len);
  frames(&in, 0x01, "frag"); /* a fragmented one, with a ping inside */
  frames(&in, 0x89, "p");
  frames(&in, 0x80, "mented");
  frame(&in, 0x88, "\x03\xe8" "bye", 5);
  ws = chc_ws_new(&o, &d);
  CHECK(ws != NULL);
  r = chc_ws_feed(ws, in.data, in.len);
  CHECK(r == 6 && chc_ws_message(ws, &kind, &p, &n) == 1);
  off = (size_t)r;
  CHECK(chc_ws_close(ws, 1000, "", 0) == 0);
  CHECK(chc_ws_message(ws, &kind, &p, &n) == 0 && chc_ws_want_read(ws));
  r = chc_ws_feed(ws, in.data + off, in.len - off);
  CHECK(r == (ssize_t)(in.len - off));
  /* no message; the ping is seen but not answered after our close */
  CHECK(chc_ws_events(ws) == (CHC_WS_EV_CLOSE | CHC_WS_EV_PING));
  CHECK(chc_ws_pending(ws) == 8); /* our close (2 + mask + code) only */
  CHECK(chc_ws_message(ws, &kind, &p, &n) == 0);
  CHECK(chc_ws_close_code(ws) == 1000);
  chc_ws_free(ws);
  chc_buf_free(&in);
  chc_buf_free(&zb);
}

/*
** Parts mode: `in` fed in pieces of `step` bytes with parts of part_min;
** the parts joined must be `want`, every part but the last at least
** part_min and under part_min + step (the buffer stays near a part; a
** compressed one may inflate further), then the next message is whole.
*/
static void parts_of(const char *name, const chc_ws_pmd *pmd,
                     const chc_buf *in, const char *want, size_t wl,
                     size_t part_min, size_t step) {
  chc_ws_opts o = opts_default();
  chc_buf got = CHC_BUF_INIT;
  chc_ws *ws;
  size_t off = 0, nparts = 0;
  int kind, done = 0, rounds = 0;
  const char *p;
  size_t n;
  ctx = name;
  ctx_cut = (long)step;
  ws = chc_ws_new(&o, pmd);
  CHECK(ws != NULL);
  chc_ws_set_part(ws, part_min);
  while (!done) {
    size_t k = in->len - off < step ? in->len - off : step;
    ssize_t r = chc_ws_feed(ws, in->data + off, k);
    CHECK(r >= 0 && ++rounds <= (int)(2 * in->len + 100));
    off += (size_t)r;
    while (chc_ws_message(ws, &kind, &p, &n)) {
      int more = chc_ws_message_more(ws);
      CHECK(kind == CHC_WS_BINARY || kind == CHC_WS_TEXT);
      if (more) CHECK(n == part_min);
      put(&got, p, n);
      nparts++;
      chc_ws_message_release(ws);
      if (!more) done = 1;
      if (done) break;
    }
  }
  CHECK(got.len == wl && memcmp(got.data, want, wl) == 0);
  CHECK(nparts == (wl + part_min - 1) / part_min);
  /* back to whole messages: the next one (behind it in `in`) is one */
  chc_ws_set_part(ws, 0);
  while (off < in->len) {
    ssize_t r = chc_ws_feed(ws, in->data + off, in->len - off);
    CHECK(r >= 0);
    off += (size_t)r;
    if (chc_ws_message(ws, &kind, &p, &n)) {
      CHECK(!chc_ws_message_more(ws) && n == 4 && memcmp(p, "next", 4) == 0);
      chc_ws_message_release(ws);
    }
  }
  chc_ws_free(ws);
  chc_buf_free(&got);
}

static void test_parts(void) {
  enum { SZ = 300000 };
  char *msg = malloc(SZ);
  chc_buf in = CHC_BUF_INIT, zb = CHC_BUF_INIT;
  chc_ws_pmd d = pmd_on();
  chc_ws_opts o = opts_default();
  z_stream z;
  size_t i, steps[] = {1, 7, 1000, 65536, SZ * 2};
  const size_t nsteps = sizeof steps / sizeof steps[0];
  chc_ws *ws;
  int kind;
  const char *p;
  size_t n;
  CHECK(msg != NULL);
  /* text with 2-, 3- and 4-byte sequences: parts split them anywhere */
  for (i = 0; i + 9 < SZ; i += 10) memcpy(msg + i, "a\xce\xba\xe2\x82\xac\xf0\x9f\x98\x80", 10);
  for (; i < SZ; i++) msg[i] = 'z';
  frame(&in, 0x81, msg, SZ); /* one frame */
  frames(&in, 0x81, "next");
  for (i = 0; i < nsteps; i++)
    parts_of("one text frame in parts", NULL, &in, msg, SZ, 4096, steps[i]);
  chc_buf_reset(&in); /* fragments, a ping between */
  for (i = 0; i < SZ; i += 50000) {
    unsigned b0 = (i == 0 ? 2u : 0u) | (i + 50000 >= SZ ? 0x80u : 0u);
    frame(&in, b0, msg + i, SZ - i < 50000 ? SZ - i : 50000);
    if (i == 0) frames(&in, 0x89, "p");
  }
  frames(&in, 0x81, "next");
  for (i = 0; i < nsteps; i++)
    parts_of("fragments in parts", NULL, &in, msg, SZ, 65536, steps[i]);
  /* compressed, in 3 frames */
  memset(&z, 0, sizeof z);
  CHECK(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  zmsg(&z, &zb, msg, SZ);
  deflateEnd(&z);
  chc_buf_reset(&in);
  frame(&in, 0x41, zb.data, zb.len / 3);
  frame(&in, 0x00, zb.data + zb.len / 3, zb.len / 3);
  frame(&in, 0x80, zb.data + 2 * (zb.len / 3), zb.len - 2 * (zb.len / 3));
  frames(&in, 0x81, "next");
  for (i = 0; i < nsteps; i++)
    parts_of("compressed in parts", &d, &in, msg, SZ, 8192, steps[i]);
  /* max_message counts the whole message, not the part held */
  ctx = "max_message across parts";
  o.max_message = SZ - 1;
  ws = chc_ws_new(&o, NULL);
  CHECK(ws != NULL);
  chc_ws_set_part(ws, 1000);
  chc_buf_reset(&in);
  frame(&in, 0x02, msg, SZ / 2);
  frame(&in, 0x80, msg + SZ / 2, SZ - SZ / 2);
  {
    size_t off = 0;
    ssize_t r = 0;
    while (off < in.len && (r = chc_ws_feed(ws, in.data + off, 4096)) >= 0) {
      off += (size_t)r;
      if (chc_ws_message(ws, &kind, &p, &n)) chc_ws_message_release(ws);
    }
    CHECK(r < 0 && chc_ws_fail_code(ws) == 1009);
  }
  chc_ws_free(ws);
  /* invalid UTF-8 after parts went out still fails the message (1007) */
  ctx = "bad UTF-8 behind parts";
  ws = chc_ws_new(&o, NULL);
  CHECK(ws != NULL);
  chc_ws_set_part(ws, 100);
  chc_buf_reset(&in);
  msg[5000] = (char)0xff;
  frame(&in, 0x81, msg, 10000);
  {
    size_t off = 0, parts = 0;
    ssize_t r = 0;
    while (off < in.len && (r = chc_ws_feed(ws, in.data + off, 1000)) >= 0) {
      off += (size_t)r;
      if (chc_ws_message(ws, &kind, &p, &n)) {
        parts++;
        chc_ws_message_release(ws);
      }
    }
    CHECK(r < 0 && chc_ws_fail_code(ws) == 1007 && parts >= 4);
  }
  chc_ws_free(ws);
  /* a part held, then whole messages asked: the rest joins it */
  ctx = "part un-held";
  o.max_message = 0;
  ws = chc_ws_new(&o, NULL);
  CHECK(ws != NULL);
  chc_ws_set_part(ws, 10);
  chc_buf_reset(&in);
  frame(&in, 0x82, "0123456789abcdefghij", 20);
  /* 12 payload bytes offered: a part of 10 taken, 2 left in the input */
  CHECK(chc_ws_feed(ws, in.data, 14) == 12);
  CHECK(chc_ws_message(ws, &kind, &p, &n) == 1 && n == 10 &&
        chc_ws_message_more(ws));
  CHECK(chc_ws_set_part(ws, 10) == 0); /* the same mode: nothing */
  CHECK(chc_ws_message(ws, &kind, &p, &n) == 1 && n == 10);
  CHECK(chc_ws_set_part(ws, 0) == 1);
  CHECK(chc_ws_message(ws, &kind, &p, &n) == 0 && chc_ws_want_read(ws));
  CHECK(chc_ws_feed(ws, in.data + 12, in.len - 12) == (ssize_t)(in.len - 12));
  CHECK(chc_ws_message(ws, &kind, &p, &n) == 1 && n == 20 &&
        !chc_ws_message_more(ws) && memcmp(p, "0123456789abcdefghij", 20) == 0);
  chc_ws_message_release(ws);
  /* asking for parts when enough is in already holds it at once */
  chc_ws_set_part(ws, 0);
  CHECK(chc_ws_feed(ws, in.data, 14) == 14);
  CHECK(chc_ws_message(ws, &kind, &p, &n) == 0);
  chc_ws_set_part(ws, 5);
  CHECK(chc_ws_message(ws, &kind, &p, &n) == 1 && n == 12 &&
        chc_ws_message_more(ws));
  chc_ws_free(ws);
  chc_buf_free(&in);
  chc_buf_free(&zb);
  free(msg);
}

/*
** 16 MiB as 262,144 frames of 64 bytes, fed in 64 KiB reads: the bytes
** moved into the message (appends plus growth) and the bytes checked as
** UTF-8 must stay linear in the size (a quadratic reassembly would move
** ~2^41 bytes).
*/
static void test_tiny_frames(void) {
  const size_t nf = 262144, fs = 64, total = nf * fs;
  chc_ws_opts o = opts_default();
  chc_buf in = CHC_BUF_INIT;
  char pl[64];
  size_t i, off = 0;
  int kind, got = 0;
  const char *p;
  size_t n;
  chc_ws *ws;
  const chc_ws_stats *st;
  ctx = "262,144 tiny frames";
  CHECK(chc_buf_reserve(&in, nf * (fs + 2)) == 0);
  for (i = 0; i < nf; i++) {
    unsigned b0 = (i == 0 ? 1u : 0u) | (i == nf - 1 ? 0x80u : 0u);
    memset(pl, 'a' + (int)(i % 26), sizeof pl);
    frame(&in, b0, pl, fs);
  }
  o.max_message = total;
  ws = chc_ws_new(&o, NULL);
  CHECK(ws != NULL);
  while (off < in.len) {
    size_t k = in.len - off < 65536 ? in.len - off : 65536;
    ssize_t r = chc_ws_feed(ws, in.data + off, k);
    CHECK(r >= 0);
    off += (size_t)r;
    if (chc_ws_message(ws, &kind, &p, &n)) {
      CHECK(kind == CHC_WS_TEXT && n == total);
      for (i = 0; i < nf; i++) CHECK(p[i * fs] == 'a' + (int)(i % 26));
      got = 1;
      chc_ws_message_release(ws);
    }
  }
  CHECK(got);
  st = chc_ws_stats_get(ws);
  CHECK(st->frames_in == nf);
  CHECK(st->copied <= 2 * total);
  CHECK(st->scanned == total);
  chc_ws_free(ws);
  chc_buf_free(&in);
}

/* }===================================================================== */

/* {=====================================================================
** Sending
** ====================================================================== */

static void out_is(chc_ws *ws, const char *want, size_t wl) {
  chc_buf t = CHC_BUF_INIT;
  decode_out(chc_ws_output(ws), &t);
  if (t.len != wl || memcmp(t.data, want, t.len) != 0) {
    fprintf(stderr, "want: %s\ngot:  %.*s\n", want, (int)t.len, t.data);
    CHECK(!"output differs");
  }
  chc_buf_reset(chc_ws_output(ws));
  chc_buf_free(&t);
}
#define OUT_IS(ws, lit) out_is(ws, lit, LEN(lit))

static void test_send_rfc_bytes(void) {
  chc_ws_opts o = opts_default();
  chc_ws_pmd d = pmd_on();
  chc_ws *ws;
  chc_buf *out;
  ctx = "RFC 6455 5.7 masked Hello, byte for byte";
  o.random = rnd_rfc;
  ws = chc_ws_new(&o, NULL);
  CHECK(chc_ws_send(ws, CHC_WS_TEXT, "Hello", 5, 0) == 0);
  out = chc_ws_output(ws);
  CHECK(out->len == 11 &&
        memcmp(out->data, "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58",
               11) == 0);
  chc_ws_free(ws);
  /* RFC 7692 7.2.3.1 and 7.2.3.2: zlib makes the RFC's very bytes */
  ctx = "RFC 7692 compressed Hello, twice, byte for byte";
  o.compress_min = 1;
  ws = chc_ws_new(&o, &d);
  CHECK(chc_ws_send(ws, CHC_WS_TEXT, "Hello", 5, 0) == 0);
  CHECK(chc_ws_send(ws, CHC_WS_TEXT, "Hello", 5, 0) == 0);
  OUT_IS(ws, "out 1 f z \xf2\x48\xcd\xc9\xc9\x07\x00;"
             "out 1 f z \xf2\x00\x11\x00\x00;");
  chc_ws_free(ws);
  ctx = "client_no_context_takeover: each message alone";
  d.client_no_context_takeover = 1;
  ws = chc_ws_new(&o, &d);
  CHECK(chc_ws_send(ws, CHC_WS_TEXT, "Hello", 5, 0) == 0);
  CHECK(chc_ws_send(ws, CHC_WS_TEXT, "Hello", 5, 0) == 0);
  OUT_IS(ws, "out 1 f z \xf2\x48\xcd\xc9\xc9\x07\x00;"
             "out 1 f z \xf2\x48\xcd\xc9\xc9\x07\x00;");
  chc_ws_free(ws);
}

static void test_send_rules(void) {
  chc_ws *ws = engine(NULL);
  char reason[124], big[70000];
  ctx = "send rules";
  memset(reason, 'r', sizeof reason);
  CHECK(chc_ws_send(ws, CHC_WS_TEXT, "Hel", 3, 1) == 0);
  CHECK(chc_ws_ping(ws, "x", 1) == 0);
  CHECK(chc_ws_send(ws, CHC_WS_BINARY, "l", 1, 1) == -EINVAL); /* kind */
  CHECK(chc_ws_send(ws, CHC_WS_TEXT, "l", 1, 1) == 0);
  CHECK(chc_ws_send(ws, CHC_WS_TEXT, "o", 1, 0) == 0);
  OUT_IS(ws, "out 1 Hel;out 9 f x;out 0 l;out 0 f o;");
  /* UTF-8 across parts; refused parts queue nothing */
  CHECK(chc_ws_send(ws, CHC_WS_TEXT, "\xe2", 1, 1) == 0);
  CHECK(chc_ws_send(ws, CHC_WS_TEXT, "\x28", 1, 1) == -EINVAL);
  CHECK(chc_ws_send(ws, CHC_WS_TEXT, "\x82", 1, 0) == -EINVAL); /* cut */
  CHECK(chc_ws_send(ws, CHC_WS_TEXT, "\x82\xac", 2, 0) == 0);
  OUT_IS(ws, "out 1 \xe2;out 0 f \x82\xac;");
  CHECK(chc_ws_send(ws, CHC_WS_TEXT, "\xc0\x80", 2, 0) == -EINVAL);
  CHECK(chc_ws_send(ws, CHC_WS_BINARY, "\xc0\x80", 2, 0) == 0);
  CHECK(chc_ws_send(ws, 3, "x", 1, 0) == -EINVAL);
  CHECK(chc_ws_send(ws, CHC_WS_BINARY, NULL, 0, 0) == 0);
  OUT_IS(ws, "out 2 f \xc0\x80;out 2 f ;");
  /* lengths: 7-bit, 16-bit, 64-bit forms */
  memset(big, 'b', sizeof big);
  CHECK(chc_ws_send(ws, CHC_WS_BINARY, big, 125, 0) == 0);
  CHECK(chc_ws_output(ws)->len == 2 + 4 + 125);
  chc_buf_reset(chc_ws_output(ws));
  CHECK(chc_ws_send(ws, CHC_WS_BINARY, big, 126, 0) == 0);
  CHECK(chc_ws_output(ws)->len == 4 + 4 + 126);
  chc_buf_reset(chc_ws_output(ws));
  CHECK(chc_ws_send(ws, CHC_WS_BINARY, big, 65536, 0) == 0);
  CHECK(chc_ws_output(ws)->len == 10 + 4 + 65536);
  chc_buf_reset(chc_ws_output(ws));
  CHECK(chc_ws_send(ws, CHC_WS_BINARY, big, sizeof big, 0) == 0);
  {
    chc_buf t = CHC_BUF_INIT;
    decode_out(chc_ws_output(ws), &t);
    CHECK(t.len == 8 + sizeof big + 1 && memcmp(t.data + 8, big, sizeof big) == 0);
    chc_buf_free(&t);
  }
  chc_buf_reset(chc_ws_output(ws));
  /* control frames */
  CHECK(chc_ws_ping(ws, big, 125) == 0);
  CHECK(chc_ws_ping(ws, big, 126) == -EINVAL);
  CHECK(chc_ws_pong(ws, big, 126) == -EINVAL);
  CHECK(chc_ws_pong(ws, "u", 1) == 0);
  chc_buf_reset(chc_ws_output(ws));
  /* close codes we may send */
  CHECK(chc_ws_close(ws, 1005, NULL, 0) == -EINVAL);
  CHECK(chc_ws_close(ws, 1006, NULL, 0) == -EINVAL);
  CHECK(chc_ws_close(ws, 1004, NULL, 0) == -EINVAL);
  CHECK(chc_ws_close(ws, 1015, NULL, 0) == -EINVAL);
  CHECK(chc_ws_close(ws, 999, NULL, 0) == -EINVAL);
  CHECK(chc_ws_close(ws, 2000, NULL, 0) == -EINVAL);
  CHECK(chc_ws_close(ws, 5000, NULL, 0) == -EINVAL);
  CHECK(chc_ws_close(ws, 0, "x", 1) == -EINVAL);
  CHECK(chc_ws_close(ws, 1000, reason, 124) == -EINVAL);
  CHECK(chc_ws_close(ws, 1000, "\xff", 1) == -EINVAL);
  CHECK(chc_ws_output(ws)->len == 0);
  CHECK(chc_ws_state(ws) == 0);
  CHECK(chc_ws_close(ws, 4000, reason, 123) == 0);
  CHECK(chc_ws_state(ws) == CHC_WS_CLOSE_SENT);
  CHECK(chc_ws_output(ws)->len == 2 + 4 + 125);
  chc_buf_reset(chc_ws_output(ws));
  CHECK(chc_ws_close(ws, 1000, NULL, 0) == -EPIPE);
  CHECK(chc_ws_send(ws, CHC_WS_TEXT, "x", 1, 0) == -EPIPE);
  CHECK(chc_ws_ping(ws, "x", 1) == -EPIPE);
  /* after our close: data is parsed and dropped, pings get no pong */
  CHECK(chc_ws_feed(ws, "\x89\x00\x81\x01z", 5) == 5);
  CHECK(chc_ws_events(ws) == CHC_WS_EV_PING);
  CHECK(chc_ws_feed(ws, "\x88\x02\x03\xe8", 4) == 4);
  CHECK(chc_ws_state(ws) == (CHC_WS_CLOSE_SENT | CHC_WS_CLOSE_RECEIVED));
  CHECK(chc_ws_output(ws)->len == 0); /* no second close */
  chc_ws_free(ws);
  ctx = "close without a code";
  ws = engine(NULL);
  CHECK(chc_ws_close(ws, 0, NULL, 0) == 0);
  OUT_IS(ws, "out close;");
  chc_ws_free(ws);
}

/* Inflates our compressed frames back, with a test inflater. */
static void test_send_deflate(void) {
  chc_ws_opts o = opts_default();
  chc_ws_pmd d = pmd_on();
  chc_ws *ws;
  char text[5000];
  chc_buf t = CHC_BUF_INIT;
  size_t i;
  ctx = "compressed sends";
  for (i = 0; i < sizeof text; i++) text[i] = (char)('a' + i % 7);
  ws = chc_ws_new(&o, &d);
  CHECK(chc_ws_send(ws, CHC_WS_TEXT, "short", 5, 0) == 0); /* < 64 */
  OUT_IS(ws, "out 1 f short;");
  CHECK(chc_ws_send(ws, CHC_WS_TEXT, text, sizeof text, 0) == 0);
  decode_out(chc_ws_output(ws), &t);
  CHECK(memcmp(t.data, "out 1 f z ", 10) == 0 && t.len < 200);
  chc_buf_reset(chc_ws_output(ws));
  /* a streamed message is compressed whatever its first part's size */
  CHECK(chc_ws_send(ws, CHC_WS_TEXT, "ab", 2, 1) == 0);
  CHECK(chc_ws_send(ws, CHC_WS_TEXT, "cd", 2, 0) == 0);
  chc_buf_reset(&t);
  decode_out(chc_ws_output(ws), &t);
  CHECK(memcmp(t.data, "out 1 z ", 8) == 0);
  CHECK(memmem(t.data, t.len, ";out 0 f ", 9) != NULL);
  chc_buf_reset(chc_ws_output(ws));
  CHECK(chc_ws_stats_get(ws)->deflated_out > 0);
  chc_ws_free(ws);
  /* a window of 8 is never used for compressing (see ws_deflate.c) */
  ctx = "client_max_window_bits=8: no compression";
  d.client_max_window_bits = 8;
  ws = chc_ws_new(&o, &d);
  CHECK(chc_ws_send(ws, CHC_WS_BINARY, text, 100, 0) == 0);
  CHECK((chc_ws_output(ws)->data[0] & 0x40) == 0);
  chc_ws_free(ws);
  chc_buf_free(&t);
}

/* Our compressed output, streamed and not, read back by another engine
** acting as the server's reader (with the masks removed). */
static void test_deflate_round_trip(void) {
  chc_ws_opts o = opts_default();
  static const int nct[2] = {0, 1};
  int k;
  for (k = 0; k < 2; k++) {
    chc_ws_pmd d = pmd_on();
    chc_ws *tx, *rx;
    chc_buf wire = CHC_BUF_INIT;
    char msg[3000];
    size_t i, j;
    int m, kind;
    const char *p;
    size_t n;
    ctx = "deflate round trip";
    d.client_no_context_takeover = nct[k];
    d.server_no_context_takeover = nct[k];
    tx = chc_ws_new(&o, &d);
    rx = chc_ws_new(&o, &d);
    for (m = 0; m < 20; m++) {
      chc_buf *out = chc_ws_output(tx);
      for (i = 0; i < sizeof msg; i++)
        msg[i] = (char)('A' + (i * (size_t)(m + 1) / 17) % 26);
      if (m % 4 == 3) { /* an empty last part: a flush with nothing new */
        CHECK(chc_ws_send(tx, CHC_WS_TEXT, msg, sizeof msg, 1) == 0);
        CHECK(chc_ws_send(tx, CHC_WS_TEXT, "", 0, 0) == 0);
      } else if (m % 2) {
        CHECK(chc_ws_send(tx, CHC_WS_TEXT, msg, 1000, 1) == 0);
        CHECK(chc_ws_ping(tx, "p", 1) == 0);
        CHECK(chc_ws_send(tx, CHC_WS_TEXT, msg + 1000, 1000, 1) == 0);
        CHECK(chc_ws_send(tx, CHC_WS_TEXT, msg + 2000, 1000, 0) == 0);
      } else {
        CHECK(chc_ws_send(tx, CHC_WS_TEXT, msg, sizeof msg, 0) == 0);
      }
      /* unmask into wire, clear the mask bit */
      chc_buf_reset(&wire);
      while (out->len > 0) {
        unsigned char *f = (unsigned char *)chc_buf_head(out);
        size_t hl = (f[1] & 0x7f) == 126 ? 4 : (f[1] & 0x7f) == 127 ? 10 : 2;
        size_t len = f[1] & 0x7f;
        if (hl == 4) len = (size_t)f[2] << 8 | f[3];
        f[1] &= 0x7f;
        put(&wire, f, hl);
        for (j = 0; j < len; j++) {
          char c = (char)(f[hl + 4 + j] ^ f[hl + j % 4]);
          put(&wire, &c, 1);
        }
        chc_buf_consume(out, hl + 4 + len);
      }
      for (i = 0; i < wire.len;) {
        ssize_t r = chc_ws_feed(rx, wire.data + i, wire.len - i);
        CHECK(r >= 0);
        i += (size_t)r;
        if (chc_ws_message(rx, &kind, &p, &n)) {
          CHECK(kind == CHC_WS_TEXT && n == sizeof msg);
          CHECK(memcmp(p, msg, n) == 0);
          chc_ws_message_release(rx);
        }
      }
      /* without context takeover no zlib stream is held between
      ** messages (the memory of an idle WebSocket); with it, one each */
      CHECK(chc_ws_stats_get(tx)->zstreams == (nct[k] ? 0u : 1u));
      CHECK(chc_ws_stats_get(rx)->zstreams == (nct[k] ? 0u : 1u));
    }
    chc_ws_free(tx);
    chc_ws_free(rx);
    chc_buf_free(&wire);
  }
}

static void test_random(void) {
  chc_ws_opts o = opts_default();
  chc_ws *ws;
  int i;
  ctx = "buffered random source";
  rnd_calls = 0;
  ws = chc_ws_new(&o, NULL);
  for (i = 0; i < 6400; i++) {
    CHECK(chc_ws_send(ws, CHC_WS_BINARY, "x", 1, 0) == 0);
    chc_buf_reset(chc_ws_output(ws));
  }
  CHECK(rnd_calls == 100); /* 64 masks per call */
  chc_ws_free(ws);
  ctx = "failing random source";
  o.random = rnd_fails;
  ws = chc_ws_new(&o, NULL);
  CHECK(chc_ws_send(ws, CHC_WS_BINARY, "x", 1, 0) == -EIO);
  CHECK(chc_ws_ping(ws, "x", 1) == -EIO);
  CHECK(chc_ws_close(ws, 1000, NULL, 0) == -EIO);
  CHECK(chc_ws_state(ws) == 0 && chc_ws_pending(ws) == 0);
  chc_ws_free(ws);
  o.random = NULL;
  errno = 0;
  CHECK(chc_ws_new(&o, NULL) == NULL && errno == EINVAL);
}

/* }===================================================================== */

/* {=====================================================================
** Handshake
** ====================================================================== */

static void add(chc_hlist *h, const char *n, const char *v) {
  CHECK(chc_hlist_add(h, n, strlen(n), v, strlen(v)) == 0);
}

static void fields_are(const chc_hlist *h, const char *want) {
  chc_buf t = CHC_BUF_INIT;
  size_t i;
  for (i = 0; i < h->n; i++)
    chc_buf_appendf(&t, "%s: %s\n", chc_hlist_name(h, i), chc_hlist_value(h, i));
  if (t.len != strlen(want) || memcmp(t.data, want, t.len) != 0) {
    fprintf(stderr, "want:\n%sgot:\n%.*s", want, (int)t.len, t.data);
    CHECK(!"fields differ");
  }
  chc_buf_free(&t);
}

static void test_keys(void) {
  char key[CHC_WS_KEY_LEN + 1], acc[CHC_WS_ACCEPT_LEN + 1];
  chc_ws_offer o;
  size_t at = 0;
  ctx = "RFC 6455 1.3 key and accept";
  chc_ws_key(key, (const unsigned char *)"the sample nonce");
  CHECK(strcmp(key, "dGhlIHNhbXBsZSBub25jZQ==") == 0);
  chc_ws_accept(acc, key, strlen(key));
  CHECK(strcmp(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0);
  memset(&o, 0, sizeof o);
  CHECK(chc_ws_offer_key(&o, rnd_count, &at) == 0);
  CHECK(strlen(o.key) == 24 && at == 16);
  CHECK(chc_ws_offer_key(&o, rnd_fails, NULL) == -1);
}

static void test_request_fields(void) {
  static const char *const protos[] = {"chat", "superchat"};
  static const char *const badp[] = {"chat", "bad proto"};
  chc_ws_offer o;
  chc_hlist h = CHC_HLIST_INIT;
  chc_error e;
  ctx = "request fields";
  memset(&o, 0, sizeof o);
  strcpy(o.key, "dGhlIHNhbXBsZSBub25jZQ==");
  CHECK(chc_ws_request_fields(&o, &h, &e) == 0);
  fields_are(&h, "Upgrade: websocket\nConnection: Upgrade\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\n"
                 "Sec-WebSocket-Version: 13\n");
  chc_hlist_reset(&h);
  o.protocols = protos;
  o.nprotocols = 2;
  o.deflate = 1;
  CHECK(chc_ws_request_fields(&o, &h, &e) == 0);
  fields_are(&h, "Upgrade: websocket\nConnection: Upgrade\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\n"
                 "Sec-WebSocket-Version: 13\n"
                 "Sec-WebSocket-Protocol: chat, superchat\n"
                 "Sec-WebSocket-Extensions: permessage-deflate; "
                 "client_max_window_bits\n");
  chc_hlist_reset(&h);
  o.h2 = 1;
  o.server_no_context_takeover = o.client_no_context_takeover = 1;
  o.server_max_window_bits = 10;
  CHECK(chc_ws_request_fields(&o, &h, &e) == 0);
  fields_are(&h, "sec-websocket-version: 13\n"
                 "sec-websocket-protocol: chat, superchat\n"
                 "sec-websocket-extensions: permessage-deflate; "
                 "client_max_window_bits; server_no_context_takeover; "
                 "client_no_context_takeover; server_max_window_bits=10\n");
  chc_hlist_reset(&h);
  o.server_max_window_bits = 16;
  chc_err_clear(&e);
  CHECK(chc_ws_request_fields(&o, &h, &e) == -1 && h.n == 0);
  CHECK(e.code == CHC_ELOCAL_PROTO && strstr(e.msg, "server_max_window_bits"));
  o.server_max_window_bits = 0;
  o.protocols = badp;
  chc_err_clear(&e);
  CHECK(chc_ws_request_fields(&o, &h, &e) == -1 && h.n == 0);
  CHECK(e.code == CHC_ELOCAL_PROTO && strstr(e.msg, "not a token"));
  chc_hlist_free(&h);
}

/* Checks an answer made of "Name: value\n" lines (after the standard
** 101 fields unless bare). Returns 0 or -1; *a filled. */
static int answer(const chc_ws_offer *o, int status, int bare,
                  const char *lines, chc_ws_accepted *a, chc_error *e) {
  chc_hlist h = CHC_HLIST_INIT;
  char acc[CHC_WS_ACCEPT_LEN + 1];
  const char *p = lines;
  int r;
  if (!bare) {
    chc_ws_accept(acc, o->key, strlen(o->key));
    add(&h, "upgrade", "WebSocket");
    add(&h, "Connection", "keep-alive, upgrade");
    add(&h, "Sec-WebSocket-Accept", acc);
  }
  while (*p) {
    const char *c = strchr(p, ':'), *nl = strchr(p, '\n');
    CHECK(c && nl && c < nl);
    CHECK(chc_hlist_add(&h, p, (size_t)(c - p), c + 2, (size_t)(nl - c - 2)) ==
          0);
    p = nl + 1;
  }
  chc_err_clear(e);
  r = chc_ws_check_response(o, status, &h, a, e);
  chc_hlist_free(&h);
  return r;
}

static void refused(const chc_ws_offer *o, int status, int bare,
                    const char *lines, const char *msg) {
  chc_ws_accepted a;
  chc_error e;
  ctx = lines[0] ? lines : msg;
  CHECK(answer(o, status, bare, lines, &a, &e) == -1);
  CHECK(e.code == CHC_EREMOTE_PROTO);
  if (!strstr(e.msg, msg)) fprintf(stderr, "got: %s\n", e.msg);
  CHECK(strstr(e.msg, msg) != NULL);
}

static void accepted(const chc_ws_offer *o, const char *lines, int proto,
                     int snct, int cnct, int sbits, int cbits) {
  chc_ws_accepted a;
  chc_error e;
  ctx = lines;
  if (answer(o, o->h2 ? 200 : 101, o->h2, lines, &a, &e) != 0)
    fprintf(stderr, "got: %s\n", e.msg);
  CHECK(e.code == CHC_OK);
  CHECK(a.protocol == proto);
  CHECK(a.pmd.enabled == (sbits != 0));
  if (sbits) {
    CHECK(a.pmd.server_no_context_takeover == snct);
    CHECK(a.pmd.client_no_context_takeover == cnct);
    CHECK(a.pmd.server_max_window_bits == sbits);
    CHECK(a.pmd.client_max_window_bits == cbits);
  }
}

static void test_check_response(void) {
  static const char *const protos[] = {"chat", "superchat"};
  chc_ws_offer o, plain;
  const char *pm = "permessage-deflate";
  memset(&plain, 0, sizeof plain);
  strcpy(plain.key, "dGhlIHNhbXBsZSBub25jZQ==");
  o = plain;
  o.protocols = protos;
  o.nprotocols = 2;
  o.deflate = 1;
  /* status, Upgrade, Connection, Accept */
  accepted(&plain, "", -1, 0, 0, 0, 0);
  refused(&plain, 200, 0, "", "status 200 (expected 101)");
  refused(&plain, 101, 1, "Connection: upgrade\n", "Upgrade is not");
  refused(&plain, 101, 1, "Upgrade: h2c\nConnection: upgrade\n",
          "Upgrade is not");
  refused(&plain, 101, 1, "Upgrade: websocket\nConnection: close\n",
          "Connection does not name Upgrade");
  refused(&plain, 101, 1, "Upgrade: websocket\nConnection: Upgrade\n",
          "no Sec-WebSocket-Accept");
  refused(&plain, 101, 1,
          "Upgrade: websocket\nConnection: Upgrade\n"
          "Sec-WebSocket-Accept: dGhlIHNhbXBsZSBub25jZQ==\n",
          "does not match");
  {
    chc_ws_accepted a;
    chc_error e;
    CHECK(answer(&plain, 101, 1,
                 "Upgrade: websocket\nConnection: Upgrade\n"
                 "Sec-WebSocket-Accept:  s3pPLMBiTxaQ9kYGzzhZRbK+xOo= \n",
                 &a, &e) == 0);
  }
  refused(&plain, 101, 0,
          "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\n",
          "does not match"); /* twice */
  /* subprotocols */
  accepted(&o, "Sec-WebSocket-Protocol: superchat\n", 1, 0, 0, 0, 0);
  accepted(&o, "", -1, 0, 0, 0, 0);
  refused(&o, 101, 0, "Sec-WebSocket-Protocol: other\n", "\"other\", which");
  refused(&o, 101, 0, "Sec-WebSocket-Protocol: Chat\n", "not offered");
  refused(&plain, 101, 0, "Sec-WebSocket-Protocol: chat\n", "not offered");
  refused(&o, 101, 0,
          "Sec-WebSocket-Protocol: chat\nSec-WebSocket-Protocol: chat\n",
          "not offered");
  /* extensions */
  accepted(&o, "Sec-WebSocket-Extensions: permessage-deflate\n", -1, 0, 0, 15,
           15);
  accepted(&o,
           "Sec-WebSocket-Extensions: permessage-deflate; "
           "server_no_context_takeover;client_no_context_takeover ; "
           "server_max_window_bits=8; client_max_window_bits=\"9\"\n",
           -1, 1, 1, 8, 9);
  accepted(&o, "Sec-WebSocket-Extensions: , Permessage-Deflate ;"
               "client_max_window_bits=15,\n", -1, 0, 0, 15, 15);
  refused(&plain, 101, 0, "Sec-WebSocket-Extensions: permessage-deflate\n",
          "which was not offered");
  refused(&o, 101, 0, "Sec-WebSocket-Extensions: x-webkit-deflate-frame\n",
          "\"x-webkit-deflate-frame\", which was not offered");
  refused(&o, 101, 0,
          "Sec-WebSocket-Extensions: permessage-deflate, permessage-deflate\n",
          "accepted twice");
  refused(&o, 101, 0,
          "Sec-WebSocket-Extensions: permessage-deflate\n"
          "Sec-WebSocket-Extensions: permessage-deflate\n",
          "accepted twice");
  refused(&o, 101, 0, "Sec-WebSocket-Extensions: permessage-deflate; foo\n",
          "unknown permessage-deflate parameter \"foo\"");
  refused(&o, 101, 0,
          "Sec-WebSocket-Extensions: permessage-deflate; "
          "server_no_context_takeover; server_no_context_takeover\n",
          "given twice");
  refused(&o, 101, 0,
          "Sec-WebSocket-Extensions: permessage-deflate; "
          "server_no_context_takeover=1\n",
          "invalid value");
  refused(&o, 101, 0,
          "Sec-WebSocket-Extensions: permessage-deflate; "
          "client_max_window_bits\n",
          "invalid value");
  {
    static const char *const bad[] = {"7", "16", "08", "010", "1a", "\"\"",
                                      "\"8 \""};
    size_t i;
    char line[128];
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      snprintf(line, sizeof line,
               "Sec-WebSocket-Extensions: %s; server_max_window_bits=%s\n", pm,
               bad[i]);
      refused(&o, 101, 0, line, i < 5 ? "invalid value" : "malformed");
    }
  }
  refused(&o, 101, 0, "Sec-WebSocket-Extensions: permessage-deflate;\n",
          "malformed");
  refused(&o, 101, 0, "Sec-WebSocket-Extensions: permessage-deflate x\n",
          "malformed");
  refused(&o, 101, 0, "Sec-WebSocket-Extensions: ;permessage-deflate\n",
          "malformed");
  /* what we asked for must be granted */
  o.server_no_context_takeover = 1;
  refused(&o, 101, 0, "Sec-WebSocket-Extensions: permessage-deflate\n",
          "does not grant");
  accepted(&o,
           "Sec-WebSocket-Extensions: permessage-deflate; "
           "server_no_context_takeover\n",
           -1, 1, 0, 15, 15);
  o.server_no_context_takeover = 0;
  o.server_max_window_bits = 10;
  refused(&o, 101, 0, "Sec-WebSocket-Extensions: permessage-deflate\n",
          "does not grant");
  refused(&o, 101, 0,
          "Sec-WebSocket-Extensions: permessage-deflate; "
          "server_max_window_bits=11\n",
          "does not grant");
  accepted(&o,
           "Sec-WebSocket-Extensions: permessage-deflate; "
           "server_max_window_bits=10\n",
           -1, 0, 0, 10, 15);
  accepted(&o, "", -1, 0, 0, 0, 0); /* declined: fine */
  /* RFC 8441: 2xx, no Upgrade/Accept */
  o.server_max_window_bits = 0;
  o.h2 = 1;
  accepted(&o, "sec-websocket-protocol: chat\n", 0, 0, 0, 0, 0);
  refused(&o, 101, 1, "", "status 101 (expected 2xx)");
}

/* }===================================================================== */

int main(void) {
  test_rfc6455_examples();
  test_fragments_and_control();
  test_violations();
  test_close();
  test_utf8();
  test_limits();
  test_rfc7692_examples();
  test_deflate_fragments();
  test_window_8();
  test_bomb();
  test_hold();
  test_close_drops_messages();
  test_parts();
  test_tiny_frames();
  test_send_rfc_bytes();
  test_send_rules();
  test_send_deflate();
  test_deflate_round_trip();
  test_random();
  test_keys();
  test_request_fields();
  test_check_response();
  printf("test_ws: %d checks passed\n", nchecks);
  return 0;
}
