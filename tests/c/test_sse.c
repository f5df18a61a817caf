/*
** test_sse.c: the SSE parser fed with byte strings, no sockets.
**
** A table of byte-exact cases (WHATWG HTML 9.2.5/9.2.6 "event stream
** interpretation", Encoding 4.1.1 "UTF-8 decoder"): each input is parsed
** whole, split in two at every offset, in three at every pair of offsets
** (short inputs), and byte by byte; every run must give the expected
** events, dispatched at the same stream offsets, and the same final state.
** Each piece sits in its own exact-size malloc'd block, so ASan and
** valgrind see any read past the bytes given.
**
**   ./test_sse          run everything
**   ./test_sse --dump   print the table as JSON lines (input and expected
**                       rendering in hex) for tools/sse_crosscheck.mjs,
**                       which runs the npm eventsource parser over it
**
** Rendering of a run, one line per event and one at the end:
**   <type>|<data>|<id>[|r=<retry>]
**   end|<last_id>|<retry>|<1 if eof discarded something, else 0>
** or "error|<kind>" in place of the end line. Bytes outside printable
** ASCII, '|' and '\' are written \xHH, \n, \r, \|, \\.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sse.h"

static const char *ctx = ""; /* the case being run, for failures */
static const char *ctx_how = "";

static void fail(const char *file, int line, const char *what) {
  fprintf(stderr, "%s:%d: check failed: %s\n  case: %s (%s)\n", file, line,
          what, ctx, ctx_how);
  abort();
}

/* An if, not assert: cannot be compiled out by NDEBUG. */
#define CHECK(c) ((c) ? (void)0 : fail(__FILE__, __LINE__, #c))
#define LEN(s) (sizeof(s) - 1)
#define LIT_(s) s, LEN(s)

static void esc(chc_buf *o, const char *p, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c == '\\' || c == '|') {
      char e[2] = {'\\', (char)c};
      CHECK(chc_buf_append(o, e, 2) == 0);
    } else if (c == '\n') {
      CHECK(chc_buf_append(o, "\\n", 2) == 0);
    } else if (c == '\r') {
      CHECK(chc_buf_append(o, "\\r", 2) == 0);
    } else if (c >= 0x20 && c < 0x7f) {
      CHECK(chc_buf_append(o, p + i, 1) == 0);
    } else {
      CHECK(chc_buf_appendf(o, "\\x%02x", c) == 0);
    }
  }
}

static void render_event(chc_buf *o, const chc_sse_event *ev) {
  esc(o, ev->type, ev->type_len);
  CHECK(chc_buf_append(o, "|", 1) == 0);
  esc(o, ev->data, ev->data_len);
  CHECK(chc_buf_append(o, "|", 1) == 0);
  esc(o, ev->id, ev->id_len);
  if (ev->retry >= 0) CHECK(chc_buf_appendf(o, "|r=%lld", ev->retry) == 0);
  CHECK(chc_buf_append(o, "\n", 1) == 0);
}

/* The checks every ready event must pass. */
static void check_event(const chc_sse_event *ev) {
  CHECK(ev->type != NULL && ev->data != NULL && ev->id != NULL);
  CHECK(ev->type[ev->type_len] == '\0');
  CHECK(ev->data[ev->data_len] == '\0');
  CHECK(ev->id[ev->id_len] == '\0');
}

typedef struct run_out {
  chc_buf text; /* the rendering */
  chc_buf pos;  /* the stream offset after each dispatch, as text */
} run_out;

/*
** Feeds the pieces in order (each copied into its own block), taking each
** event as it comes, then eof. cuts[0..ncut) are increasing offsets.
*/
static void run(chc_sse *s, const char *in, size_t n, const size_t *cuts,
                size_t ncut, run_out *o) {
  size_t a = 0, k, base = 0;
  int failed = 0;
  for (k = 0; k <= ncut && !failed; k++) {
    size_t b = k < ncut ? cuts[k] : n, len = b - a, off = 0;
    char *piece = malloc(len ? len : 1);
    CHECK(piece != NULL);
    if (len) memcpy(piece, in + a, len);
    do { /* a zero-length feed too: it must be harmless */
      ssize_t r = chc_sse_feed(s, piece + off, len - off);
      if (r < 0) {
        CHECK(s->err.code != CHC_OK && !s->ready);
        /* sticky until reset */
        CHECK(chc_sse_feed(s, "\n\n", 2) == -1);
        CHC_UNUSED(chc_buf_appendf(&o->text, "error|%s\n",
                                   chc_err_kind(s->err.code)));
        failed = 1;
        break;
      }
      CHECK((size_t)r <= len - off);
      off += (size_t)r;
      if (s->ready) {
        CHECK(r > 0);
        check_event(&s->ev);
        /* the event points into the parser, not into the piece */
        CHECK(s->ev.data < piece || s->ev.data >= piece + len);
        render_event(&o->text, &s->ev);
        CHECK(chc_buf_appendf(&o->pos, "%zu ", base + off) == 0);
      } else {
        CHECK(off == len); /* stops early only with an event */
      }
    } while (off < len);
    free(piece);
    base += len;
    a = b;
  }
  if (!failed) {
    int pend = chc_sse_eof(s);
    size_t idl;
    const char *id = chc_sse_last_id(s, &idl);
    CHECK(pend == 0 || pend == 1);
    CHECK(!s->ready);
    CHECK(id[idl] == '\0');
    CHECK(chc_buf_append(&o->text, "end|", 4) == 0);
    esc(&o->text, id, idl);
    CHECK(chc_buf_appendf(&o->text, "|%lld|%d\n", s->retry, pend) == 0);
  }
}

/* {=====================================================================
** The table
** ====================================================================== */

typedef struct tcase {
  const char *name;
  const char *in;
  size_t in_len;
  const char *want;
  size_t max_event; /* 0: the default */
} tcase;

#define T(name, in, want) {name, in, LEN(in), want, 0}
#define TM(name, in, max, want) {name, in, LEN(in), want, max}
#define FFFD "\\xef\\xbf\\xbd"

static const tcase cases[] = {
    /* dispatch and line ends */
    T("empty stream", "", "end||-1|0"),
    T("one event LF", "data: hello\n\n", "message|hello|\nend||-1|0"),
    T("one event CR", "data: hello\r\r", "message|hello|\nend||-1|0"),
    T("one event CRLF", "data: hello\r\n\r\n", "message|hello|\nend||-1|0"),
    T("LF then CR", "data: a\n\r", "message|a|\nend||-1|0"),
    T("CR then LF is one line end", "data: a\r\n", "end||-1|1"),
    T("LF CRLF", "data: a\n\r\n", "message|a|\nend||-1|0"),
    T("CR CR LF: the LF after the blank CR line is skipped",
      "data: a\r\r\ndata: b\n\n", "message|a|\nmessage|b|\nend||-1|0"),
    T("CR CR LF LF: one more blank line, no event", "data: a\r\r\n\n",
      "message|a|\nend||-1|0"),
    T("LF LF LF: no empty extra event", "data: a\n\n\n\n",
      "message|a|\nend||-1|0"),
    T("blank lines first", "\r\n\n\rdata: a\n\n", "message|a|\nend||-1|0"),
    T("two events", "data: a\n\ndata: b\n\n",
      "message|a|\nmessage|b|\nend||-1|0"),
    T("mixed line ends in one event", "data: a\rdata: b\ndata: c\r\n\r",
      "message|a\\nb\\nc|\nend||-1|0"),
    T("CR inside, LF only after CR skipped once", "data: a\r\n\ndata: b\r\r",
      "message|a|\nmessage|b|\nend||-1|0"),
    /* unfinished event at the end of the stream */
    T("no blank line at the end", "data: a\n", "end||-1|1"),
    T("no line end at the end", "data: a", "end||-1|1"),
    T("finished then unfinished", "data: a\n\ndata: b\n",
      "message|a|\nend||-1|1"),
    T("an unfinished comment is discarded too", "data: a\n\n: x",
      "message|a|\nend||-1|1"),
    /* data */
    T("data lines joined with LF", "data: a\ndata: b\ndata: c\n\n",
      "message|a\\nb\\nc|\nend||-1|0"),
    T("no space after the colon", "data:a\n\n", "message|a|\nend||-1|0"),
    T("only one space removed", "data:  a \n\n", "message| a |\nend||-1|0"),
    T("a tab is not removed", "data:\ta\n\n", "message|\\x09a|\nend||-1|0"),
    T("colon in the value", "data: a:b: c\n\n",
      "message|a:b: c|\nend||-1|0"),
    T("empty data value gives an event with empty data", "data:\n\n",
      "message||\nend||-1|0"),
    T("data without colon is an empty data line", "data\n\n",
      "message||\nend||-1|0"),
    T("two empty data lines give one LF", "data\ndata\n\n",
      "message|\\n|\nend||-1|0"),
    T("data with only a space", "data: \n\n", "message||\nend||-1|0"),
    T("trailing empty data line keeps one LF", "data: a\ndata:\n\n",
      "message|a\\n|\nend||-1|0"),
    T("NUL in data is kept", "data: a\0b\n\n",
      "message|a\\x00b|\nend||-1|0"),
    T("no data, no event", "event: x\n\n", "end||-1|0"),
    /* comments and unknown fields */
    T("comment only", ": hello\n\n", "end||-1|0"),
    T("empty comment", ":\n\n", "end||-1|0"),
    T("comment inside an event", "data: a\n: c\ndata: b\n\n",
      "message|a\\nb|\nend||-1|0"),
    T("comment with CR", ":x\rdata: a\r\r", "message|a|\nend||-1|0"),
    T("unknown field ignored", "foo: bar\ndata: a\n\n",
      "message|a|\nend||-1|0"),
    T("unknown field without colon ignored", "foo\ndata: a\n\n",
      "message|a|\nend||-1|0"),
    T("field names are case-sensitive", "Data: a\nDATA: b\n\n", "end||-1|0"),
    T("leading space makes another name", " data: a\n\n", "end||-1|0"),
    T("space before colon makes another name", "data : a\n\n", "end||-1|0"),
    T("longer names", "datas: a\nidx: 1\nevents: e\nretryy: 1\n\n",
      "end||-1|0"),
    T("a long unknown name", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa: 1\n\n",
      "end||-1|0"),
    /* event */
    T("event type", "event: add\ndata: 1\n\n", "add|1|\nend||-1|0"),
    T("event type reset after dispatch", "event: add\ndata: 1\n\ndata: 2\n\n",
      "add|1|\nmessage|2|\nend||-1|0"),
    T("event type reset by a dispatch without data",
      "event: add\n\ndata: 2\n\n", "message|2|\nend||-1|0"),
    T("empty event type is message", "event:\ndata: 1\n\n",
      "message|1|\nend||-1|0"),
    T("event without colon is message", "event\ndata: 1\n\n",
      "message|1|\nend||-1|0"),
    T("last event field wins", "event: a\nevent: b\ndata: 1\n\n",
      "b|1|\nend||-1|0"),
    T("event after data", "data: 1\nevent: late\n\n", "late|1|\nend||-1|0"),
    T("event type with spaces", "event:  a b \ndata: 1\n\n",
      " a b |1|\nend||-1|0"),
    /* id */
    T("id", "id: 1\ndata: a\n\n", "message|a|1\nend|1|-1|0"),
    T("id persists across events", "id: 1\ndata: a\n\ndata: b\n\n",
      "message|a|1\nmessage|b|1\nend|1|-1|0"),
    T("id changes", "id: 1\ndata: a\n\nid: 2\ndata: b\n\n",
      "message|a|1\nmessage|b|2\nend|2|-1|0"),
    T("empty id resets", "id: 1\ndata: a\n\nid\ndata: b\n\n",
      "message|a|1\nmessage|b|\nend||-1|0"),
    T("empty id with colon resets", "id: 1\ndata: a\n\nid:\ndata: b\n\n",
      "message|a|1\nmessage|b|\nend||-1|0"),
    T("id without data is set at the blank line", "id: 7\n\n",
      "end|7|-1|0"),
    T("id without data, then an event", "id: 7\n\ndata: a\n\n",
      "message|a|7\nend|7|-1|0"),
    T("id of an unfinished event is not set", "id: 7\ndata: a\n",
      "end||-1|1"),
    T("id of an unfinished event after a set one",
      "id: 7\n\nid: 8\ndata: x", "end|7|-1|1"),
    T("id with NUL ignored", "id: 1\ndata: a\n\nid: 2\0\ndata: b\n\n",
      "message|a|1\nmessage|b|1\nend|1|-1|0"),
    T("id of only NUL ignored", "id: \0\ndata: b\n\n",
      "message|b|\nend||-1|0"),
    T("id after data in the same event", "data: a\nid: 3\n\n",
      "message|a|3\nend|3|-1|0"),
    T("last id field wins", "id: 1\nid: 2\ndata: a\n\n",
      "message|a|2\nend|2|-1|0"),
    T("id with spaces and colon", "id:  a:b \ndata: a\n\n",
      "message|a| a:b \nend| a:b |-1|0"),
    T("id with NUL then a good one in the same event",
      "id: x\0\nid: y\ndata: a\n\n", "message|a|y\nend|y|-1|0"),
    /* retry */
    T("retry", "retry: 3000\n", "end||3000|0"),
    T("retry needs no dispatch", "retry: 3000\ndata: x", "end||3000|1"),
    T("retry in an event", "retry: 5\ndata: a\n\n",
      "message|a||r=5\nend||5|0"),
    T("retry per event only", "retry: 5\ndata: a\n\ndata: b\n\n",
      "message|a||r=5\nmessage|b|\nend||5|0"),
    T("retry zero", "retry: 0\n", "end||0|0"),
    T("retry leading zeros", "retry: 0012\n", "end||12|0"),
    T("retry not digits ignored", "retry: 30a\nretry: -1\nretry: 1.5\n",
      "end||-1|0"),
    T("retry with a space more ignored", "retry:  100\n", "end||-1|0"),
    T("retry with trailing space ignored", "retry: 100 \n", "end||-1|0"),
    T("retry empty ignored", "retry:\nretry\n", "end||-1|0"),
    T("retry non-ASCII digit ignored", "retry: \xd9\xa3\n", "end||-1|0"),
    T("retry invalid keeps the previous", "retry: 10\nretry: x\n",
      "end||10|0"),
    T("retry too large is held at the maximum",
      "retry: 99999999999999999999\n", "end||9223372036854775807|0"),
    T("retry at the maximum", "retry: 9223372036854775807\n",
      "end||9223372036854775807|0"),
    /* BOM */
    T("BOM skipped", "\xEF\xBB\xBF" "data: a\n\n", "message|a|\nend||-1|0"),
    T("BOM then blank line", "\xEF\xBB\xBF\ndata: a\n\n",
      "message|a|\nend||-1|0"),
    T("only one BOM skipped", "\xEF\xBB\xBF\xEF\xBB\xBF" "data: a\n\n",
      "end||-1|0"),
    T("second BOM as a field name",
      "\xEF\xBB\xBF\xEF\xBB\xBF" "data: a\n\ndata: b\n\n",
      "message|b|\nend||-1|0"),
    T("BOM later is text", "data: \xEF\xBB\xBF" "a\n\n",
      "message|\\xef\\xbb\\xbfa|\nend||-1|0"),
    T("BOM on a later line is a name", "\n\xEF\xBB\xBF" "data: a\n\n",
      "end||-1|0"),
    T("half a BOM is one U+FFFD in the name",
      "\xEF\xBB" "data: a\n\ndata: b\n\n", "message|b|\nend||-1|0"),
    T("half a BOM then a line end", "\xEF\xBB\ndata: b\n\n",
      "message|b|\nend||-1|0"),
    T("BOM only", "\xEF\xBB\xBF", "end||-1|0"),
    T("half a BOM only", "\xEF\xBB", "end||-1|1"),
    /* UTF-8 decoding: one U+FFFD per maximal subpart */
    T("valid multibyte", "data: \xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\n\n",
      "message|\\xc3\\xa9\\xe2\\x82\\xac\\xf0\\x9f\\x98\\x80|\nend||-1|0"),
    T("lone continuation bytes", "data: \x80\xBF\n\n",
      "message|" FFFD FFFD "|\nend||-1|0"),
    T("C0 C1 F5 FF are errors alone", "data: \xC0\xAF\xC1\xF5\xFF\n\n",
      "message|" FFFD FFFD FFFD FFFD FFFD "|\nend||-1|0"),
    T("overlong E0 80", "data: \xE0\x80\xAF\n\n",
      "message|" FFFD FFFD FFFD "|\nend||-1|0"),
    T("E0 A0 80 is the lowest 3-byte", "data: \xE0\xA0\x80\n\n",
      "message|\\xe0\\xa0\\x80|\nend||-1|0"),
    T("surrogate ED A0 80", "data: \xED\xA0\x80\n\n",
      "message|" FFFD FFFD FFFD "|\nend||-1|0"),
    T("ED 9F BF is fine", "data: \xED\x9F\xBF\n\n",
      "message|\\xed\\x9f\\xbf|\nend||-1|0"),
    T("overlong F0 80", "data: \xF0\x80\x80\x80\n\n",
      "message|" FFFD FFFD FFFD FFFD "|\nend||-1|0"),
    T("above U+10FFFF", "data: \xF4\x90\x80\x80\n\n",
      "message|" FFFD FFFD FFFD FFFD "|\nend||-1|0"),
    T("U+10FFFF", "data: \xF4\x8F\xBF\xBF\n\n",
      "message|\\xf4\\x8f\\xbf\\xbf|\nend||-1|0"),
    T("truncated 2-byte at line end", "data: \xC3\n\n",
      "message|" FFFD "|\nend||-1|0"),
    T("truncated 3-byte at line end", "data: \xE2\x82\n\n",
      "message|" FFFD "|\nend||-1|0"),
    T("truncated 4-byte at line end", "data: \xF0\x9F\x98\n\n",
      "message|" FFFD "|\nend||-1|0"),
    T("truncated 4-byte before CR", "data: \xF0\x9F\x98\r\r",
      "message|" FFFD "|\nend||-1|0"),
    T("truncated then ASCII", "data: \xF0\x9F\x98x\xE2y\n\n",
      "message|" FFFD "x" FFFD "y|\nend||-1|0"),
    T("truncated then a new lead", "data: \xE2\xE2\x82\xAC\n\n",
      "message|" FFFD "\\xe2\\x82\\xac|\nend||-1|0"),
    T("Unicode table 3-8",
      "data: \x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64\n\n",
      "message|a" FFFD FFFD FFFD "b" FFFD "c" FFFD FFFD "d|\nend||-1|0"),
    T("invalid bytes before the colon: an unknown field",
      "dat\xE1: a\ndata: b\n\n", "message|b|\nend||-1|0"),
    T("invalid UTF-8 in event type", "event: a\xFF\ndata: 1\n\n",
      "a" FFFD "|1|\nend||-1|0"),
    T("invalid UTF-8 in id", "id: \xE2\x82\ndata: 1\n\n",
      "message|1|" FFFD "\nend|" FFFD "|-1|0"),
    T("invalid UTF-8 in a comment is nothing", ": \xFF\xC0\ndata: 1\n\n",
      "message|1|\nend||-1|0"),
    T("U+FFFD itself passes", "data: \xEF\xBF\xBD\n\n",
      "message|" FFFD "|\nend||-1|0"),
    T("truncated at the end of the stream", "data: a\xE2\x82", "end||-1|1"),
    /* max_event */
    TM("data at max_event", "data: 1234\n\n", 4, "message|1234|\nend||-1|0"),
    TM("data over max_event", "data: a\n\ndata: 12345\n\n", 4,
       "message|a|\nerror|RemoteProtocolError"),
    TM("joined data at max_event", "data: 12\ndata: 3\n\n", 4,
       "message|12\\n3|\nend||-1|0"),
    TM("joined data over max_event", "data: 12\ndata: 34\n\n", 4,
       "error|RemoteProtocolError"),
    TM("replacement characters count", "data: \xFF\xFF\n\n", 4,
       "error|RemoteProtocolError"),
    TM("replacement characters at the limit", "data: \xFF\xFF\n\n", 6,
       "message|" FFFD FFFD "|\nend||-1|0"),
    TM("event type over max_event", "event: 12345\n", 4,
       "error|RemoteProtocolError"),
    TM("id over max_event", "id: 12345\n", 4, "error|RemoteProtocolError"),
    TM("comments and ignored fields are not bounded",
       ": 1234567890\nfoo: 1234567890\ndata: 1\n\n", 4,
       "message|1|\nend||-1|0"),
};

/* {=====================================================================
** Running the table
** ====================================================================== */

static void expect(const tcase *t, const run_out *o, const run_out *whole) {
  size_t wl = strlen(t->want);
  /* the table omits the final newline */
  if (!(o->text.len == wl + 1 &&
        memcmp(chc_buf_head(&o->text), t->want, wl) == 0)) {
    fprintf(stderr, "want:\n%s\ngot:\n%.*s", t->want, (int)o->text.len,
            chc_buf_head(&o->text));
    CHECK(!"the rendering differs");
  }
  if (whole != NULL) {
    CHECK(o->pos.len == whole->pos.len);
    CHECK(o->pos.len == 0 || memcmp(chc_buf_head(&o->pos),
                                    chc_buf_head(&whole->pos),
                                    o->pos.len) == 0);
  }
}

static void out_free(run_out *o) {
  chc_buf_free(&o->text);
  chc_buf_free(&o->pos);
}

static void run_case(const tcase *t, const size_t *cuts, size_t ncut,
                     const run_out *whole, run_out *keep) {
  chc_sse s = {0};
  run_out o = {CHC_BUF_INIT, CHC_BUF_INIT};
  chc_sse_init(&s, t->max_event);
  run(&s, t->in, t->in_len, cuts, ncut, &o);
  expect(t, &o, whole);
  chc_sse_free(&s);
  if (keep != NULL) *keep = o;
  else out_free(&o);
}

static void test_table(void) {
  size_t c, i, j, runs = 0;
  for (c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    const tcase *t = &cases[c];
    size_t n = t->in_len, cuts[2];
    size_t *every = malloc((n ? n : 1) * sizeof *every);
    run_out whole;
    CHECK(every != NULL);
    ctx = t->name;
    ctx_how = "whole";
    run_case(t, NULL, 0, NULL, &whole);
    runs++;
    for (i = 0; i <= n; i++) { /* two pieces, empty ones included */
      ctx_how = "split in two";
      cuts[0] = i;
      run_case(t, cuts, 1, &whole, NULL);
      runs++;
    }
    if (n <= 48) {
      for (i = 1; i < n; i++)
        for (j = i + 1; j < n; j++) {
          ctx_how = "split in three";
          cuts[0] = i;
          cuts[1] = j;
          run_case(t, cuts, 2, &whole, NULL);
          runs++;
        }
    }
    for (i = 0; i + 1 < n; i++) every[i] = i + 1;
    ctx_how = "byte by byte";
    run_case(t, every, n ? n - 1 : 0, &whole, NULL);
    runs++;
    out_free(&whole);
    free(every);
  }
  printf("  table: %zu cases, %zu runs\n", sizeof cases / sizeof cases[0],
         runs);
}

/* {=====================================================================
** The API around the table
** ====================================================================== */

/* Feeds all of p (one block), returning the number of events. */
static size_t feed_all(chc_sse *s, const char *p, size_t n, chc_buf *o) {
  size_t off = 0, events = 0;
  while (off < n) {
    ssize_t r = chc_sse_feed(s, p + off, n - off);
    CHECK(r >= 0);
    off += (size_t)r;
    if (s->ready) {
      events++;
      if (o != NULL) render_event(o, &s->ev);
    }
  }
  return events;
}

static int rendered(const chc_buf *o, const char *want) {
  return o->len == strlen(want) && memcmp(chc_buf_head(o), want, o->len) == 0;
}

static void test_reset_and_last_id(void) {
  chc_sse s = {0};
  chc_buf o = CHC_BUF_INIT;
  size_t n;
  ctx = "reset";
  ctx_how = "";
  chc_sse_init(&s, 0);
  CHECK(strcmp(chc_sse_last_id(&s, &n), "") == 0 && n == 0);
  feed_all(&s, LIT_("id: 5\nretry: 100\ndata: a\n\nid: 6\ndata: b\n"), &o);
  CHECK(rendered(&o, "message|a|5|r=100\n"));
  /* the connection breaks: the unfinished event goes, id 6 with it */
  chc_sse_reset(&s);
  CHECK(strcmp(chc_sse_last_id(&s, NULL), "5") == 0);
  CHECK(s.retry == 100);
  /* a new stream: BOM allowed again; an event without id reports 5 */
  o.len = 0;
  feed_all(&s, LIT_("\xEF\xBB\xBF" "data: c\n\n"), &o);
  CHECK(rendered(&o, "message|c|5\n"));
  /* eof then a new stream behaves the same */
  o.len = 0;
  feed_all(&s, LIT_("id: 9\ndata: d\n\ndata: e\n"), &o);
  CHECK(chc_sse_eof(&s) == 1);
  CHECK(chc_sse_eof(&s) == 0);
  feed_all(&s, LIT_("\xEF\xBB\xBF" "data: f\n\n"), &o);
  CHECK(rendered(&o, "message|d|9\nmessage|f|9\n"));
  /* a reset mid-BOM and mid-UTF-8 leaves nothing behind */
  o.len = 0;
  feed_all(&s, LIT_("\xEF\xBB"), NULL);
  chc_sse_reset(&s);
  feed_all(&s, LIT_("\xEF\xBB\xBF" "data: \xE2\x82"), NULL);
  chc_sse_reset(&s);
  feed_all(&s, LIT_("data: g\n\n"), &o);
  CHECK(rendered(&o, "message|g|9\n"));
  /* a caller's saved id */
  CHECK(chc_sse_set_last_id(&s, "abc", 3) == 0);
  CHECK(strcmp(chc_sse_last_id(&s, &n), "abc") == 0 && n == 3);
  o.len = 0;
  feed_all(&s, LIT_("data: h\n\nid\n\n"), &o);
  CHECK(rendered(&o, "message|h|abc\n"));
  CHECK(strcmp(chc_sse_last_id(&s, NULL), "") == 0);
  /* errors stay until reset */
  chc_sse_free(&s);
  chc_sse_init(&s, 3);
  CHECK(chc_sse_feed(&s, LIT_("data: 1234\n\n")) == -1);
  CHECK(s.err.code == CHC_EREMOTE_PROTO);
  CHECK(strstr(s.err.msg, "data of an event is larger than max_event "
                          "(3 bytes)") != NULL);
  CHECK(chc_sse_feed(&s, LIT_("data: 1\n\n")) == -1);
  CHECK(chc_sse_eof(&s) == -1);
  chc_sse_reset(&s);
  CHECK(s.err.code == CHC_OK);
  o.len = 0;
  feed_all(&s, LIT_("data: 1\n\n"), &o);
  CHECK(rendered(&o, "message|1|\n"));
  chc_sse_free(&s);
  chc_buf_free(&o);
}

/*
** 1,000 events in one block: 1,000 feeds, each consuming exactly its own
** event's bytes (so no byte is fed, or scanned, twice), each event taken
** before the next is parsed.
*/
static void test_many_events_one_chunk(void) {
  chc_sse s = {0};
  chc_buf in = CHC_BUF_INIT;
  size_t i, off = 0, events = 0;
  ctx = "1000 events in one chunk";
  chc_sse_init(&s, 0);
  for (i = 0; i < 1000; i++)
    CHECK(chc_buf_appendf(&in, "id: %zu\ndata: event %zu\n\n", i, i) == 0);
  while (off < in.len) {
    char want[64];
    int wl;
    ssize_t r = chc_sse_feed(&s, chc_buf_head(&in) + off, in.len - off);
    CHECK(r > 0 && s.ready);
    wl = snprintf(want, sizeof want, "id: %zu\ndata: event %zu\n\n", events,
                  events);
    CHECK(r == wl && memcmp(chc_buf_head(&in) + off, want, (size_t)wl) == 0);
    wl = snprintf(want, sizeof want, "event %zu", events);
    CHECK(s.ev.data_len == (size_t)wl && memcmp(s.ev.data, want, (size_t)wl) == 0);
    events++;
    off += (size_t)r;
  }
  CHECK(events == 1000);
  CHECK(strcmp(chc_sse_last_id(&s, NULL), "999") == 0);
  chc_sse_free(&s);
  chc_buf_free(&in);
}

/*
** A 1 MiB event (the default max_event exactly) fed byte by byte, and
** one byte more: linear work per byte (a re-scanning parser would take
** minutes here), and the bound holds.
*/
static void test_big_event(void) {
  chc_sse s = {0};
  size_t max = CHC_SSE_MAX_EVENT_DEFAULT, n, i, events = 0;
  char *in = malloc(max + 16);
  int extra;
  CHECK(in != NULL);
  ctx = "1 MiB event byte by byte";
  for (extra = 0; extra <= 1; extra++) {
    chc_sse_init(&s, 0);
    memcpy(in, "data:", 5);
    memset(in + 5, 'x', max + (size_t)extra);
    in[5 + 10] = '\xC3'; /* some multibyte too: 2 bytes either way */
    in[5 + 11] = '\xA9';
    n = 5 + max + (size_t)extra;
    in[n++] = '\n';
    in[n++] = '\n';
    events = 0;
    for (i = 0; i < n; i++) {
      ssize_t r = chc_sse_feed(&s, in + i, 1);
      if (r < 0) break;
      CHECK(r == 1);
      if (s.ready) {
        events++;
        CHECK(s.ev.data_len == max);
      }
    }
    if (extra) {
      CHECK(i < n && events == 0 && s.err.code == CHC_EREMOTE_PROTO);
    } else {
      CHECK(i == n && events == 1);
    }
    chc_sse_free(&s);
  }
  free(in);
}

/* An event is valid until the next call; data may hold NUL bytes. */
static void test_event_lifetime(void) {
  chc_sse s = {0};
  const char in[] = "event: t\ndata: a\0b\n\ndata: c\n\n";
  ssize_t r;
  ctx = "event lifetime";
  chc_sse_init(&s, 0);
  r = chc_sse_feed(&s, in, LEN(in));
  CHECK(r == 20 && s.ready);
  CHECK(s.ev.type_len == 1 && strcmp(s.ev.type, "t") == 0);
  CHECK(s.ev.data_len == 3 && memcmp(s.ev.data, "a\0b", 4) == 0);
  CHECK(chc_sse_feed(&s, NULL, 0) == 0 && !s.ready);
  CHECK(s.ev.data == NULL);
  r = chc_sse_feed(&s, in + r, LEN(in) - (size_t)r);
  CHECK(r == 9 && s.ready && strcmp(s.ev.type, "message") == 0);
  chc_sse_free(&s);
  chc_sse_free(&s); /* free leaves it zeroed: twice is harmless */
}

/* A CR ends its line at once: the event is out in the feed that brought
** the CR, and an LF at the start of the next feed is the CR's. */
static void test_cr_dispatches_at_once(void) {
  chc_sse s = {0};
  ctx = "CR dispatches at once";
  chc_sse_init(&s, 0);
  CHECK(chc_sse_feed(&s, LIT_("data: a\r")) == 8 && !s.ready);
  CHECK(chc_sse_feed(&s, LIT_("\r")) == 1 && s.ready);
  CHECK(s.ev.data_len == 1 && s.ev.data[0] == 'a');
  CHECK(chc_sse_feed(&s, LIT_("\n")) == 1 && !s.ready); /* skipped */
  CHECK(chc_sse_feed(&s, LIT_("\n")) == 1 && !s.ready); /* a blank line */
  CHECK(chc_sse_eof(&s) == 0);
  chc_sse_free(&s);
}

/* {=====================================================================
** --dump: the table for tools/sse_crosscheck.mjs
** ====================================================================== */

static void hex(const char *p, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) printf("%02x", (unsigned char)p[i]);
}

static void dump(void) {
  size_t c;
  for (c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    const tcase *t = &cases[c];
    printf("{\"name\":\"");
    hex(t->name, strlen(t->name));
    printf("\",\"in\":\"");
    hex(t->in, t->in_len);
    printf("\",\"want\":\"");
    hex(t->want, strlen(t->want));
    printf("\",\"max_event\":%zu}\n", t->max_event);
  }
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--dump") == 0) {
    dump();
    return 0;
  }
  test_table();
  test_reset_and_last_id();
  test_many_events_one_chunk();
  test_big_event();
  test_event_lifetime();
  test_cr_dispatches_at_once();
  printf("test_sse: all passed\n");
  return 0;
}
