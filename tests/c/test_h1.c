/*
** test_h1.c: the h1 engine fed with byte strings, no sockets.
**
** Every valid response is parsed whole, split in two at every offset, and
** byte by byte; all runs must give the same head, body, trailers and
** consumed count. Each piece sits in its own exact-size malloc'd block, so
** ASan and valgrind see any read past the bytes given.
**
** Build and run (llhttp's generated C is compiled apart, with -w):
**   L=/usr/share/llhttp; I=/usr/share/include/llhttp; O=/tmp/llhttp-obj
**   mkdir -p $O && for f in llhttp api http; do
**     gcc -std=c11 -g -w -I$I -c $L/$f.c -o $O/$f.o; done
**   gcc -std=c11 -D_GNU_SOURCE -g -Wall -Wextra -Werror -Isrc -I$I \
**     tests/c/test_h1.c src/h1.c src/buf.c src/common.c \
**     $O/llhttp.o $O/api.o $O/http.o -o /tmp/test_h1
**   /tmp/test_h1 && valgrind -q --leak-check=full --error-exitcode=1 \
**     /tmp/test_h1
** and once more with -fsanitize=address,undefined on every file (llhttp's
** included).
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h1.h"

static const char *ctx = ""; /* the case being run, for failures */
static size_t ctx_cut;       /* its split, for failures */

static void fail(const char *file, int line, const char *what) {
  fprintf(stderr, "%s:%d: check failed: %s\n  case: %s (split %zu)\n", file,
          line, what, ctx, ctx_cut);
  abort();
}

#define CHECK(c) ((c) ? (void)0 : fail(__FILE__, __LINE__, #c))
#define LEN(s) (sizeof(s) - 1)

static int contains(const char *hay, const char *needle) {
  return strstr(hay, needle) != NULL;
}

/* {=====================================================================
** Request side
** ====================================================================== */

static void add(chc_hlist *h, const char *n, const char *v) {
  CHECK(chc_hlist_add(h, n, strlen(n), v, strlen(v)) == 0);
}

/* Writes a head into a fresh buffer and compares it with want. */
static void head_is(const char *method, const char *target, const char *host,
                    const chc_hlist *f, long long body, const char *want) {
  chc_buf out = CHC_BUF_INIT;
  chc_error e;
  chc_err_clear(&e);
  ctx = want;
  CHECK(chc_h1_write_head(&out, method, target, host, f, body, &e) == 0);
  CHECK(e.code == CHC_OK);
  CHECK(out.len == strlen(want));
  CHECK(memcmp(chc_buf_head(&out), want, out.len) == 0);
  chc_buf_free(&out);
}

/* Expects a validation error naming the problem, and nothing appended. */
static void head_fails(const char *method, const char *target, const char *host,
                       const chc_hlist *f, long long body, const char *msg) {
  chc_buf out = CHC_BUF_INIT;
  chc_error e;
  chc_err_clear(&e);
  ctx = msg;
  CHECK(chc_buf_append(&out, "previous", 8) == 0);
  CHECK(chc_h1_write_head(&out, method, target, host, f, body, &e) == -1);
  CHECK(e.code == CHC_ELOCAL_PROTO);
  if (!contains(e.msg, msg)) fprintf(stderr, "got: %s\n", e.msg);
  CHECK(contains(e.msg, msg));
  CHECK(out.len == 8 && memcmp(chc_buf_head(&out), "previous", 8) == 0);
  chc_buf_free(&out);
}

static void test_request_heads(void) {
  chc_hlist f = CHC_HLIST_INIT;
  head_is("GET", "/", "example.com", NULL, CHC_H1_BODY_NONE,
          "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
  /* no host and no Host field: none sent (the caller's choice) */
  head_is("GET", "/", NULL, NULL, CHC_H1_BODY_NONE, "GET / HTTP/1.1\r\n\r\n");
  head_is("POST", "/x?y=1", "h:8080", NULL, 0,
          "POST /x?y=1 HTTP/1.1\r\nHost: h:8080\r\nContent-Length: 0\r\n\r\n");
  head_is("PUT", "/", "h", NULL, 1234567890123LL,
          "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 1234567890123\r\n\r\n");
  head_is("POST", "/", "h", NULL, CHC_H1_BODY_CHUNKED,
          "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
  head_is("OPTIONS", "*", "h", NULL, CHC_H1_BODY_NONE,
          "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");

  /* fields in order, duplicates kept; Host first; TAB and spaces pass */
  add(&f, "Accept", "*/*");
  add(&f, "X-Dup", "1");
  add(&f, "X-Dup", " 2\t");
  add(&f, "X-Empty", "");
  head_is("GET", "/", "h", &f, 3,
          "GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nX-Dup: 1\r\n"
          "X-Dup:  2\t\r\nX-Empty: \r\nContent-Length: 3\r\n\r\n");

  /* a user Host (any case) replaces ours, where the user put it */
  chc_hlist_reset(&f);
  add(&f, "Accept", "*/*");
  add(&f, "hOsT", "other");
  head_is("GET", "/", "h", &f, CHC_H1_BODY_NONE,
          "GET / HTTP/1.1\r\nAccept: */*\r\nhOsT: other\r\n\r\n");

  /* user framing headers are kept and ours is left out */
  chc_hlist_reset(&f);
  add(&f, "content-length", "7");
  head_is("POST", "/", "h", &f, 7,
          "POST / HTTP/1.1\r\nHost: h\r\ncontent-length: 7\r\n\r\n");
  head_is("POST", "/", "h", &f, CHC_H1_BODY_CHUNKED,
          "POST / HTTP/1.1\r\nHost: h\r\ncontent-length: 7\r\n\r\n");
  chc_hlist_reset(&f);
  add(&f, "Transfer-Encoding", "gzip, chunked");
  head_is("POST", "/", "h", &f, 10,
          "POST / HTTP/1.1\r\nHost: h\r\n"
          "Transfer-Encoding: gzip, chunked\r\n\r\n");

  /* validation */
  head_fails("GE T", "/", "h", NULL, 0, "invalid method token 'GE T'");
  head_fails("", "/", "h", NULL, 0, "invalid method token ''");
  head_fails("GET\r\n", "/", "h", NULL, 0, "invalid method token 'GET\\r\\n'");
  head_fails("G(T", "/", "h", NULL, 0, "invalid method token");
  head_fails("GET", "", "h", NULL, 0, "empty request target");
  head_fails("GET", "/a b", "h", NULL, 0, "invalid request target '/a b'");
  head_fails("GET", "/a\x7f", "h", NULL, 0, "invalid request target");
  head_fails("GET", "/a\tb", "h", NULL, 0, "invalid request target");
  head_fails("GET", "/", "h\r\nX: y", NULL, 0, "invalid character in Host");
  head_fails("GET", "/", "h", NULL, -3, "invalid body length -3");

  chc_hlist_reset(&f);
  add(&f, "X-Foo", "a\r\nEvil: 1");
  head_fails("GET", "/", "h", &f, 0,
             "invalid character in header 'X-Foo' value (CR or LF)");
  chc_hlist_reset(&f);
  add(&f, "X-Foo", "a\nb");
  head_fails("GET", "/", "h", &f, 0,
             "invalid character in header 'X-Foo' value (CR or LF)");
  chc_hlist_reset(&f);
  CHECK(chc_hlist_add(&f, "X-Nul", 5, "a\0b", 3) == 0);
  head_fails("GET", "/", "h", &f, 0,
             "invalid character in header 'X-Nul' value (NUL)");
  chc_hlist_reset(&f);
  add(&f, "X Foo", "1");
  head_fails("GET", "/", "h", &f, 0, "invalid header name 'X Foo'");
  chc_hlist_reset(&f);
  add(&f, "X-Foo\r\nEvil", "1");
  head_fails("GET", "/", "h", &f, 0, "invalid header name 'X-Foo\\r\\nEvil'");
  chc_hlist_reset(&f);
  add(&f, "", "1");
  head_fails("GET", "/", "h", &f, 0, "invalid header name ''");
  chc_hlist_reset(&f);
  add(&f, "X-Ok", "1");
  add(&f, "X:Bad", "1");
  head_fails("GET", "/", "h", &f, 0, "invalid header name 'X:Bad'");
  chc_hlist_free(&f);

  /* long garbage is cut short in the message */
  {
    char m[300];
    chc_buf out = CHC_BUF_INIT;
    chc_error e;
    memset(m, 'A', sizeof m - 1);
    m[sizeof m - 1] = '\0';
    m[5] = ' ';
    chc_err_clear(&e);
    CHECK(chc_h1_write_head(&out, m, "/", "h", NULL, 0, &e) == -1);
    CHECK(contains(e.msg, "...") && strlen(e.msg) < 120);
    CHECK(out.len == 0);
    chc_buf_free(&out);
  }
}

static void test_chunks(void) {
  chc_buf out = CHC_BUF_INIT;
  char big[300];
  ctx = "chunks";
  memset(big, 'x', sizeof big);
  CHECK(chc_h1_write_chunk(&out, "abc", 3) == 0);
  CHECK(chc_h1_write_chunk_head(&out, 4096) == 0);
  CHECK(chc_h1_write_last_chunk(&out) == 0);
  CHECK(out.len == LEN("3\r\nabc\r\n1000\r\n0\r\n\r\n"));
  CHECK(memcmp(chc_buf_head(&out), "3\r\nabc\r\n1000\r\n0\r\n\r\n", out.len) ==
        0);
  chc_buf_reset(&out);
  CHECK(chc_h1_write_chunk(&out, big, 255) == 0);
  CHECK(out.len == 4 + 255 + 2);
  CHECK(memcmp(chc_buf_head(&out), "ff\r\nx", 5) == 0);
  CHECK(memcmp(chc_buf_head(&out) + 259, "\r\n", 2) == 0);
  chc_buf_reset(&out);
  CHECK(chc_h1_write_chunk_head(&out, (size_t)0xABCDEF12) == 0);
  CHECK(out.len == 10 && memcmp(chc_buf_head(&out), "abcdef12\r\n", 10) == 0);
  chc_buf_reset(&out);
  errno = 0;
  CHECK(chc_h1_write_chunk(&out, "", 0) == -1 && errno == EINVAL);
  errno = 0;
  CHECK(chc_h1_write_chunk_head(&out, 0) == -1 && errno == EINVAL);
  CHECK(out.len == 0);
  chc_buf_free(&out);
}

/* Against a plain reading of the RFC grammar, byte by byte. */
static void test_validators(void) {
  int c;
  ctx = "validators";
  for (c = 0; c < 256; c++) {
    char ch = (char)c;
    int tok = c > 0 && c < 128 &&
              (strchr("!#$%&'*+-.^_`|~", c) != NULL || (c >= '0' && c <= '9') ||
               (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
    int val = c != '\r' && c != '\n' && c != 0;
    CHECK(chc_h1_is_token(&ch, 1) == tok);
    CHECK(chc_h1_is_field_value(&ch, 1) == val);
  }
  CHECK(chc_h1_is_token("", 0) == 0);
  CHECK(chc_h1_is_field_value("", 0) == 1);
  CHECK(chc_h1_is_token("X-Foo", 5) == 1);
  CHECK(chc_h1_is_field_value("a\tb c\x80", 6) == 1);
}

/* }===================================================================== */

/* {=====================================================================
** Response side
** ====================================================================== */

/* What one run of the parser over a response produced. */
typedef struct outcome {
  int rc; /* 0, or -1 when a feed or eof failed */
  int errcode;
  char err[CHC_ERRMSG_MAX];
  int eof_rc; /* chc_h1_resp_eof's result, 9 if not called */
  int status, major, minor, keep_alive, done;
  int heads, dones; /* events seen over all feeds */
  size_t consumed;  /* where the message ended in the input */
  chc_buf reason, body, fields, trailers;
} outcome;

static void outcome_free(outcome *o) {
  chc_buf_free(&o->reason);
  chc_buf_free(&o->body);
  chc_buf_free(&o->fields);
  chc_buf_free(&o->trailers);
}

/* "name=value|..." so that lists compare as strings */
static void dump(chc_buf *d, const chc_hlist *h) {
  size_t i;
  for (i = 0; i < h->n; i++) {
    CHECK(strlen(chc_hlist_name(h, i)) == h->f[i].name_len);
    CHECK(chc_buf_appendf(d, "%s=%s|", chc_hlist_name(h, i),
                          chc_hlist_value(h, i)) == 0);
  }
  CHECK(chc_buf_append(d, "", 1) == 0); /* NUL-terminated, also when empty */
}

/* One parser reused by every run: init on a used struct must reset it. */
static chc_h1_resp R;

/*
** Feeds in[0..len) cut at cuts[0..ncuts) (increasing, inside (0, len)),
** each piece in its own block, the way a connection would: a feed that
** does not finish the message consumes everything.
*/
static void run(const char *in, size_t len, const size_t *cuts, size_t ncuts,
                size_t max_head, int no_body, int eof, outcome *o) {
  size_t k, a = 0;
  memset(o, 0, sizeof *o);
  o->eof_rc = 9;
  chc_h1_resp_init(&R, max_head, no_body);
  for (k = 0; k <= ncuts; k++) {
    size_t b = k < ncuts ? cuts[k] : len, plen = b - a;
    char *buf = malloc(plen ? plen : 1);
    ssize_t got;
    CHECK(buf != NULL);
    memcpy(buf, in + a, plen);
    got = chc_h1_resp_feed(&R, buf, plen);
    if (got >= 0) {
      CHECK((size_t)got <= plen);
      if (R.events & CHC_H1_BODY) {
        CHECK(R.body_len > 0 && R.body >= buf &&
              R.body + R.body_len <= buf + got);
        CHECK(chc_buf_append(&o->body, R.body, R.body_len) == 0);
      } else {
        CHECK(R.body_len == 0);
      }
      if (R.events & CHC_H1_HEAD) o->heads++;
      if (R.events & CHC_H1_DONE) o->dones++;
      CHECK(!(R.events & CHC_H1_DONE) == !R.done);
      if (!R.done) CHECK((size_t)got == plen);
    }
    free(buf);
    if (got < 0) {
      CHECK(R.err.code != CHC_OK);
      o->rc = -1;
      break;
    }
    o->consumed = a + (size_t)got;
    if (R.done) {
      /* further feeds: nothing consumed, no events */
      char more[4] = "HTTP";
      CHECK(chc_h1_resp_feed(&R, more, 4) == 0 && R.events == 0);
      break;
    }
    a = b;
  }
  if (o->rc == 0 && eof) {
    o->eof_rc = chc_h1_resp_eof(&R);
    if (o->eof_rc < 0) o->rc = -1;
    if (o->eof_rc == 1) CHECK(R.done && (R.events & CHC_H1_DONE));
    if (R.events & CHC_H1_DONE) o->dones++;
  }
  if (o->rc < 0) {
    char more[4] = "HTTP";
    CHECK(R.err.code != CHC_OK);
    CHECK(chc_h1_resp_feed(&R, more, 4) == -1); /* errors stick */
    CHECK(chc_h1_resp_eof(&R) == -1);
  }
  o->errcode = R.err.code;
  snprintf(o->err, sizeof o->err, "%s", R.err.msg);
  o->status = R.status;
  o->major = R.major;
  o->minor = R.minor;
  o->keep_alive = R.keep_alive;
  o->done = R.done;
  if (R.events & CHC_H1_HEAD || o->heads) {
    CHECK(R.reason.data != NULL && R.reason.data[R.reason.len] == '\0');
  }
  CHECK(chc_buf_append(&o->reason, R.reason.data ? R.reason.data : "",
                       R.reason.len) == 0);
  CHECK(chc_buf_append(&o->reason, "", 1) == 0);
  dump(&o->fields, &R.fields);
  dump(&o->trailers, &R.trailers);
}

static int same_buf(const chc_buf *x, const chc_buf *y) {
  return x->len == y->len &&
         (x->len == 0 || memcmp(chc_buf_head(x), chc_buf_head(y), x->len) == 0);
}

static void same(const outcome *x, const outcome *y) {
  CHECK(x->rc == y->rc && x->errcode == y->errcode);
  if (strcmp(x->err, y->err) != 0)
    fprintf(stderr, "whole: %s\nsplit: %s\n", x->err, y->err);
  CHECK(strcmp(x->err, y->err) == 0);
  CHECK(x->eof_rc == y->eof_rc);
  CHECK(x->status == y->status && x->major == y->major && x->minor == y->minor);
  CHECK(x->keep_alive == y->keep_alive && x->done == y->done);
  CHECK(x->heads == y->heads && x->dones == y->dones);
  CHECK(x->consumed == y->consumed);
  CHECK(same_buf(&x->reason, &y->reason));
  CHECK(same_buf(&x->body, &y->body));
  CHECK(same_buf(&x->fields, &y->fields));
  CHECK(same_buf(&x->trailers, &y->trailers));
}

/* A response case and what it must give. */
typedef struct rcase {
  const char *name;
  const char *in;
  size_t len;
  size_t max_head; /* 0: the default */
  int no_body;
  int eof; /* call eof after the input */
  /* expected */
  int status, major, minor;
  const char *reason, *body, *fields, *trailers;
  int keep_alive;
  size_t msg_len; /* bytes of the message (the rest is not consumed) */
  int eof_rc;     /* when eof */
} rcase;

/* Parses c whole, then split in two at every offset and byte by byte,
** and checks every run against the expectation. */
static void check_case(const rcase *c) {
  outcome whole, o;
  size_t i, *cuts = malloc(c->len * sizeof *cuts);
  ctx = c->name;
  ctx_cut = 0;
  CHECK(cuts != NULL);
  run(c->in, c->len, NULL, 0, c->max_head, c->no_body, c->eof, &whole);
  if (whole.rc != 0) fprintf(stderr, "error: %s\n", whole.err);
  CHECK(whole.rc == 0 && whole.errcode == CHC_OK);
  CHECK(whole.done == 1 && whole.heads == 1 && whole.dones == 1);
  CHECK(whole.status == c->status && whole.major == c->major &&
        whole.minor == c->minor);
  CHECK(strcmp(whole.reason.data, c->reason) == 0);
  CHECK(whole.body.len == strlen(c->body) &&
        memcmp(whole.body.data ? whole.body.data : "", c->body,
               whole.body.len) == 0);
  if (strcmp(whole.fields.data, c->fields) != 0)
    fprintf(stderr, "fields: %s\n", whole.fields.data);
  CHECK(strcmp(whole.fields.data, c->fields) == 0);
  CHECK(strcmp(whole.trailers.data, c->trailers) == 0);
  CHECK(whole.keep_alive == c->keep_alive);
  CHECK(whole.consumed == (c->msg_len ? c->msg_len : c->len));
  if (c->eof) CHECK(whole.eof_rc == c->eof_rc);
  for (i = 1; i < c->len; i++) {
    ctx_cut = i;
    run(c->in, c->len, &i, 1, c->max_head, c->no_body, c->eof, &o);
    same(&whole, &o);
    outcome_free(&o);
  }
  for (i = 1; i < c->len; i++) cuts[i - 1] = i;
  ctx_cut = (size_t)-1; /* byte by byte */
  run(c->in, c->len, cuts, c->len - 1, c->max_head, c->no_body, c->eof, &o);
  same(&whole, &o);
  outcome_free(&o);
  outcome_free(&whole);
  free(cuts);
}

/* An input that must fail with msg, whole and at every split. */
static void check_error(const char *name, const char *in, size_t len,
                        size_t max_head, int no_body, int eof,
                        const char *msg) {
  outcome whole, o;
  size_t i;
  ctx = name;
  ctx_cut = 0;
  run(in, len, NULL, 0, max_head, no_body, eof, &whole);
  CHECK(whole.rc == -1 && whole.errcode == CHC_EREMOTE_PROTO);
  if (!contains(whole.err, msg)) fprintf(stderr, "got: %s\n", whole.err);
  CHECK(contains(whole.err, msg));
  for (i = 1; i < len; i++) {
    ctx_cut = i;
    run(in, len, &i, 1, max_head, no_body, eof, &o);
    CHECK(o.rc == -1 && o.errcode == CHC_EREMOTE_PROTO);
    if (!contains(o.err, msg)) fprintf(stderr, "got: %s\n", o.err);
    CHECK(contains(o.err, msg));
    outcome_free(&o);
  }
  outcome_free(&whole);
}

#define IN(s) s, LEN(s)

/* Messages followed by bytes that are not theirs (the next response, or
** the new protocol after a 101). */
#define RESP_101                                               \
  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" \
  "Connection: Upgrade\r\n\r\n"
#define RESP_204 "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"
#define RESP_304 \
  "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n"
#define RESP_10KA                                                          \
  "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\n" \
  "abc"
#define RESP_CL "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
#define NEXT "HTTP/1.1 200 OK\r\n"

static const rcase cases[] = {
    {"content-length body",
     IN("HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-A: 1\r\n\r\nhello world"),
     0, 0, 0, 200, 1, 1, "OK", "hello world", "Content-Length=11|X-A=1|", "", 1,
     0, 0},
    {"chunked with extensions and trailers",
     IN("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5;a=1;b=2\r\nhello\r\n"
        "6;q=\"x y\";r\r\n world\r\n"
        "3;n;m=v\r\n!!!\r\n"
        "A\r\n0123456789\r\n"
        "0;last=1\r\nT1: v1\r\nT2:  v2 \r\n\r\n"),
     0, 0, 0, 200, 1, 1, "OK", "hello world!!!0123456789",
     "Transfer-Encoding=chunked|", "T1=v1|T2=v2|", 1, 0, 0},
    {"chunked without trailers",
     IN("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "1\r\na\r\n2\r\nbc\r\n0\r\n\r\n"),
     0, 0, 0, 200, 1, 1, "OK", "abc", "Transfer-Encoding=chunked|", "", 1, 0,
     0},
    {"read until close",
     IN("HTTP/1.1 200 OK\r\nServer: x\r\n\r\nsome body\r\n\r\nmore"), 0, 0, 1,
     200, 1, 1, "OK", "some body\r\n\r\nmore", "Server=x|", "", 0, 0, 1},
    {"read until close, empty body", IN("HTTP/1.1 200 OK\r\n\r\n"), 0, 0, 1,
     200, 1, 1, "OK", "", "", "", 0, 0, 1},
    {"HTTP/1.0 with length",
     IN("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc"), 0, 0, 0, 200, 1, 0,
     "OK", "abc", "Content-Length=3|", "", 0, 0, 0},
    {"HTTP/1.0 keep-alive", IN(RESP_10KA NEXT), 0, 0, 0, 200, 1, 0, "OK", "abc",
     "Connection=keep-alive|Content-Length=3|", "", 1, LEN(RESP_10KA), 0},
    {"HTTP/1.0 until close", IN("HTTP/1.0 200 OK\r\n\r\nold school"), 0, 0, 1,
     200, 1, 0, "OK", "old school", "", "", 0, 0, 1},
    {"100 Continue then 200",
     IN("HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n"
        "HTTP/1.1 200 Fine\r\nContent-Length: 2\r\n\r\nok"),
     0, 0, 0, 200, 1, 1, "Fine", "ok", "Content-Length=2|", "", 1, 0, 0},
    {"103, 100 then 200",
     IN("HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
        "HTTP/1.1 100 Continue\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
     0, 0, 0, 200, 1, 1, "OK", "", "Content-Length=0|", "", 1, 0, 0},
    {"HTTP/1.0 100 then 200",
     IN("HTTP/1.0 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\n\r\nbody"), 0, 0, 1,
     200, 1, 0, "OK", "body", "", "", 0, 0, 1},
    {"1xx with framing headers has no body",
     IN("HTTP/1.1 100 Continue\r\nTransfer-Encoding: chunked\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
     0, 0, 0, 200, 1, 1, "OK", "ok", "Content-Length=2|", "", 1, 0, 0},
    {"101 switching protocols", IN(RESP_101 "\x81\x05hello"), 0, 0, 0, 101, 1,
     1, "Switching Protocols", "", "Upgrade=websocket|Connection=Upgrade|", "",
     0, LEN(RESP_101), 0},
    {"HEAD (no_body)",
     IN("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nHTTP/1.1 200 OK"), 0, 1,
     0, 200, 1, 1, "OK", "", "Content-Length=1000|", "", 1, 41, 0},
    {"HEAD (no_body), chunked",
     IN("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), 0, 1, 0, 200,
     1, 1, "OK", "", "Transfer-Encoding=chunked|", "", 1, 0, 0},
    {"204 with Content-Length", IN(RESP_204 NEXT), 0, 0, 0, 204, 1, 1,
     "No Content", "", "Content-Length=5|", "", 1, LEN(RESP_204), 0},
    {"304 with Transfer-Encoding", IN(RESP_304 NEXT), 0, 0, 0, 304, 1, 1,
     "Not Modified", "", "Transfer-Encoding=chunked|", "", 1, LEN(RESP_304), 0},
    {"Connection: close",
     IN("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi"),
     0, 0, 0, 200, 1, 1, "OK", "hi", "Connection=close|Content-Length=2|", "",
     0, 0, 0},
    {"bytes after the end", IN(RESP_CL NEXT), 0, 0, 0, 200, 1, 1, "OK", "hello",
     "Content-Length=5|", "", 1, LEN(RESP_CL), 0},
    {"empty reason with space",
     IN("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n"), 0, 0, 0, 200, 1, 1, "",
     "", "Content-Length=0|", "", 1, 0, 0},
    {"no reason", IN("HTTP/1.1 404\r\nContent-Length: 1\r\n\r\nx"), 0, 0, 0,
     404, 1, 1, "", "x", "Content-Length=1|", "", 1, 0, 0},
    {"whitespace, empty values, obs-fold, duplicates",
     IN("HTTP/1.1 200 OK\r\nA:x  \r\nB:\r\nC: \t\r\nD: 1\r\n  fold\r\n"
        "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n"),
     0, 0, 0, 200, 1, 1, "OK", "",
     "A=x|B=|C=|D=1  fold|Set-Cookie=a=1|Set-Cookie=b=2|Content-Length=0|", "",
     1, 0, 0},
    {"status 599 and long reason",
     IN("HTTP/1.1 599 Some Long Reason, With: Punctuation\r\n"
        "Content-Length: 0\r\n\r\n"),
     0, 0, 0, 599, 1, 1, "Some Long Reason, With: Punctuation", "",
     "Content-Length=0|", "", 1, 0, 0},
};

static void test_cases(void) {
  size_t i;
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(&cases[i]);
}

/* Checked apart: rcase bodies are C strings, and this one has NULs. */
static void test_binary_body(void) {
  static const char in[] =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\n\0\r\n\r\n3\r\n\xff\0\x01\r\n0\r\n\r\n";
  outcome o;
  size_t i;
  ctx = "binary body";
  for (i = 0; i < LEN(in); i++) {
    ctx_cut = i;
    run(in, LEN(in), &i, i ? 1 : 0, 0, 0, 0, &o);
    CHECK(o.rc == 0 && o.done && o.consumed == LEN(in));
    CHECK(o.body.len == 6 && memcmp(o.body.data, "\0\r\n\xff\0\x01", 6) == 0);
    outcome_free(&o);
  }
}

/* Oversized heads: the count is the status line plus the field lines as
** sent, so a canonical head of exactly max_head bytes (without the final
** CRLF) passes, and one byte more fails, however it is split. */
static void test_limits(void) {
  char head[2200], *w;
  size_t pad;
  rcase c;
  /* "HTTP/1.1 200 OK\r\n" = 17, "X: " + pad + "\r\n", "Content-Length: 0\r\n"
  ** = 19: 17 + 5 + pad + 19 = 1024 */
  pad = 1024 - 17 - 5 - 19;
  w = head;
  w += sprintf(w, "HTTP/1.1 200 OK\r\nX: ");
  memset(w, 'v', pad);
  w += pad;
  w += sprintf(w, "\r\nContent-Length: 0\r\n\r\n");
  memset(&c, 0, sizeof c);
  c.name = "head of exactly 1024 bytes";
  c.in = head;
  c.len = (size_t)(w - head);
  c.max_head = 1024;
  c.status = 200, c.major = 1, c.minor = 1;
  c.reason = "OK", c.body = "", c.trailers = "";
  c.keep_alive = 1;
  {
    static char want[1100];
    snprintf(want, sizeof want, "X=%.*s|Content-Length=0|", (int)pad,
             head + 20);
    c.fields = want;
  }
  CHECK(c.len == 1024 + 2);
  check_case(&c);

  /* one more byte of value */
  w = head + 20;
  memset(w, 'v', pad + 1);
  w += pad + 1;
  w += sprintf(w, "\r\nContent-Length: 0\r\n\r\n");
  check_error("head of 1025 bytes", head, (size_t)(w - head), 1024, 0, 0,
              "response head larger than 1024 bytes");

  /* a long reason counts too */
  w = head + sprintf(head, "HTTP/1.1 200 ");
  memset(w, 'r', 1500);
  w += 1500;
  w += sprintf(w, "\r\n\r\n");
  check_error("long reason", head, (size_t)(w - head), 1024, 0, 0,
              "response head larger than 1024 bytes");

  /* many small fields */
  w = head + sprintf(head, "HTTP/1.1 200 OK\r\n");
  while (w - head < 2000) w += sprintf(w, "A: b\r\n");
  w += sprintf(w, "\r\n");
  check_error("many fields", head, (size_t)(w - head), 1024, 0, 0,
              "response head larger than 1024 bytes");

  /* the same limit for trailers, counted apart from the head */
  w = head + sprintf(head,
                     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "1\r\na\r\n0\r\nT: ");
  memset(w, 't', 1100);
  w += 1100;
  w += sprintf(w, "\r\n\r\n");
  check_error("big trailers", head, (size_t)(w - head), 1024, 0, 0,
              "response trailers larger than 1024 bytes");
}

static void test_errors(void) {
  /* found by fuzz/h1_fuzz.c: llhttp's lenient mode ended the size line at
  ** the bare CR and took "y" as body bytes, from the gathered copy */
  check_error("bare CR in a chunk-size line",
              IN("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "5;x=\ry\0\nhello\r\n0\r\n\r\n"), 0, 0, 0,
              "malformed chunked body");
  check_error("bad status code", IN("HTTP/1.1 2x0 OK\r\n\r\n"), 0, 0, 0,
              "malformed status line (HPE_INVALID_STATUS");
  check_error("bad protocol", IN("HTTX/1.1 200 OK\r\n\r\n"), 0, 0, 0,
              "malformed status line (HPE_INVALID_CONSTANT");
  check_error("not http at all", IN("SSH-2.0-OpenSSH_9.2\r\n"), 0, 0, 0,
              "malformed status line");
  check_error("bad version", IN("HTTP/1.7 200 OK\r\n\r\n"), 0, 0, 0,
              "malformed status line (HPE_INVALID_VERSION");
  check_error("HTTP/2.0", IN("HTTP/2.0 200 OK\r\n\r\n"), 0, 0, 0,
              "malformed status line (unsupported version HTTP/2.0)");
  check_error("status 099", IN("HTTP/1.1 099 OK\r\n\r\n"), 0, 0, 0,
              "malformed status line (status code 099)");
  /* llhttp 8.1 lets spaces into names unless built in strict mode, then
  ** h1.c catches them: the message differs, the kind does not */
  check_error("space in field name",
              IN("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n"), 0, 0, 0,
              "invalid character in");
  check_error("space before colon", IN("HTTP/1.1 200 OK\r\nName : x\r\n\r\n"),
              0, 0, 0, "invalid character in");
  check_error("empty field name", IN("HTTP/1.1 200 OK\r\n: x\r\n\r\n"), 0,
              0, 0, "invalid character in");
  check_error("empty field name after a bare LF (fuzz)",
              IN("HTTP/1.1 200 \0\0\n: Tv\r\n\r\n"), 0, 0, 0,
              "invalid character in");
  check_error("bad char in field name",
              IN("HTTP/1.1 200 OK\r\nBad(Name: x\r\n\r\n"), 0, 0, 0,
              "invalid character in a header field (HPE_INVALID_HEADER_TOKEN");
  check_error("control char in field value",
              IN("HTTP/1.1 200 OK\r\nA: x\001y\r\n\r\n"), 0, 0, 0,
              "invalid character in a header field (HPE_INVALID_HEADER_TOKEN");
  check_error("NUL in field value", IN("HTTP/1.1 200 OK\r\nA: x\0y\r\n\r\n"), 0,
              0, 0, "invalid character in a header field");
  check_error("bare LF in the head", IN("HTTP/1.1 200 OK\r\nA: xy\n\r\n"), 0, 0,
              0, "invalid character in a header field");
  check_error("space in trailer name",
              IN("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "0\r\nT x: 1\r\n\r\n"),
              0, 0, 0, "invalid character in");
  check_error("bad chunk size",
              IN("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "zz\r\nhello\r\n0\r\n\r\n"),
              0, 0, 0, "invalid chunk size (HPE_INVALID_CHUNK_SIZE");
  check_error("chunk longer than its size",
              IN("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "2\r\nabc\r\n0\r\n\r\n"),
              0, 0, 0, "malformed chunked body (no CRLF after the chunk data)");
  check_error("junk instead of the chunk's CRLF",
              IN("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "2\r\nabXX0\r\n\r\n"),
              0, 0, 0, "malformed chunked body (no CRLF after the chunk data)");
  check_error("CR without LF after chunk data",
              IN("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "2\r\nab\rX0\r\n\r\n"),
              0, 0, 0, "malformed chunked body (no CRLF after the chunk data)");
  check_error("bad Content-Length",
              IN("HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n"), 0, 0, 0,
              "invalid Content-Length (HPE_INVALID_CONTENT_LENGTH");
  check_error("two Content-Lengths",
              IN("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2"
                 "\r\n\r\nab"),
              0, 0, 0, "HPE_UNEXPECTED_CONTENT_LENGTH");
  check_error("Content-Length and chunked",
              IN("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n"),
              0, 0, 0, "Content-Length together with Transfer-Encoding");
  check_error("truncated content-length body",
              IN("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"), 0, 0, 1,
              "connection closed before the end of the response body: "
              "7 bytes missing");
  check_error("truncated chunked body",
              IN("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "5\r\nhel"),
              0, 0, 1,
              "connection closed before the end of the chunked response body");
  check_error("truncated before the last chunk",
              IN("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "5\r\nhello\r\n"),
              0, 0, 1,
              "connection closed before the end of the chunked response body");
  check_error("truncated trailers",
              IN("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "0\r\nT: v\r\n"),
              0, 0, 1,
              "connection closed before the end of the response trailers");
  check_error("truncated head", IN("HTTP/1.1 200 OK\r\nContent-Le"), 0, 0, 1,
              "connection closed before a complete response head");
  check_error("truncated after 100", IN("HTTP/1.1 100 Continue\r\n\r\n"), 0, 0,
              1, "connection closed before a complete response head");
  {
    outcome o;
    ctx = "eof without bytes";
    run("", 0, NULL, 0, 0, 0, 1, &o);
    CHECK(o.rc == -1 && o.eof_rc == -1 && o.errcode == CHC_EREMOTE_PROTO);
    CHECK(strcmp(o.err, "connection closed before any response") == 0);
    outcome_free(&o);
  }
}

/* eof after a message that was already done, and reuse with moved-out
** fields (the binding takes them with chc_hlist_move). */
static void test_reuse(void) {
  chc_hlist taken = CHC_HLIST_INIT;
  char a[] = "HTTP/1.1 200 OK\r\nA: 1\r\nContent-Length: 1\r\n\r\nx";
  char b[] = "HTTP/1.1 201 Created\r\nB: 2\r\nContent-Length: 0\r\n\r\n";
  char big[40000];
  int i;
  ctx = "reuse";
  for (i = 0; i < 3; i++) {
    chc_h1_resp_init(&R, 0, 0);
    CHECK(chc_h1_resp_feed(&R, a, LEN(a)) == (ssize_t)LEN(a));
    CHECK(R.done && R.status == 200 && R.fields.n == 2);
    CHECK(R.body_len == 1 && R.body[0] == 'x');
    CHECK(chc_h1_resp_eof(&R) == 0);
    chc_hlist_move(&taken, &R.fields);
    chc_h1_resp_init(&R, 0, 0);
    CHECK(R.status == 0 && R.fields.n == 0 && R.reason.len == 0 && !R.done);
    CHECK(R.err.code == CHC_OK && R.events == 0 && R.body == NULL);
    CHECK(chc_h1_resp_feed(&R, b, LEN(b)) == (ssize_t)LEN(b));
    CHECK(R.done && R.status == 201 && R.fields.n == 2);
    CHECK(strcmp(chc_hlist_value(&R.fields, 0), "2") == 0);
    CHECK(strcmp(R.reason.data, "Created") == 0);
    CHECK(strcmp(chc_hlist_value(&taken, 0), "1") == 0);
  }
  /* after an error, init makes the struct usable again */
  chc_h1_resp_init(&R, 0, 0);
  CHECK(chc_h1_resp_feed(&R, big, (size_t)sprintf(big, "HTTP/1.1 XYZ\r\n")) ==
        -1);
  chc_h1_resp_init(&R, 0, 0);
  CHECK(R.err.code == CHC_OK);
  CHECK(chc_h1_resp_feed(&R, b, LEN(b)) == (ssize_t)LEN(b) && R.done);
  /* a big head's memory is released by the next init */
  {
    char *w = big + sprintf(big, "HTTP/1.1 200 OK\r\nX: ");
    memset(w, 'v', 30000);
    w += 30000;
    w += sprintf(w, "\r\nContent-Length: 0\r\n\r\n");
    chc_h1_resp_init(&R, 0, 0);
    CHECK(chc_h1_resp_feed(&R, big, (size_t)(w - big)) == w - big && R.done);
    CHECK(R.fields.store.cap > 30000);
    chc_h1_resp_init(&R, 0, 0);
    CHECK(R.fields.store.cap <= 16384);
  }
  chc_hlist_free(&taken);
  chc_h1_resp_free(&R);
  CHECK(R.fields.store.data == NULL && R.reason.data == NULL);
  /* free leaves it zeroed: init works again */
  chc_h1_resp_init(&R, 0, 0);
  CHECK(chc_h1_resp_feed(&R, b, LEN(b)) == (ssize_t)LEN(b) && R.done);
}

/* Two responses back to back in one buffer (pipelining, as a kept-alive
** connection sees them): the caller feeds the rest after the first. */
static void test_two_in_a_row(void) {
  char in[] =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n0\r\n\r\n"
      "HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope";
  ssize_t k1, k2;
  ctx = "two in a row";
  chc_h1_resp_init(&R, 0, 0);
  k1 = chc_h1_resp_feed(&R, in, LEN(in));
  CHECK(k1 > 0 && R.done && R.keep_alive && R.body_len == 3);
  CHECK(memcmp(R.body, "abc", 3) == 0 && R.body == strstr(in, "abc"));
  chc_h1_resp_init(&R, 0, 0);
  k2 = chc_h1_resp_feed(&R, in + k1, LEN(in) - (size_t)k1);
  CHECK(k2 == (ssize_t)(LEN(in) - (size_t)k1));
  CHECK(R.done && R.status == 404 && R.body_len == 4);
  CHECK(memcmp(R.body, "nope", 4) == 0);
}

/* The body of one feed is one region starting at its first body byte. */
static void test_body_packing(void) {
  char in[] =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "2\r\nab\r\n3;x=y\r\ncde\r\n1\r\nf\r\n";
  const char *start = strstr(in, "ab\r\n"); /* the first body byte */
  ctx = "body packing";
  chc_h1_resp_init(&R, 0, 0);
  CHECK(chc_h1_resp_feed(&R, in, LEN(in)) == (ssize_t)LEN(in));
  CHECK(R.events == (CHC_H1_HEAD | CHC_H1_BODY) && !R.done);
  CHECK(R.body == start && R.body_len == 6);
  CHECK(memcmp(R.body, "abcdef", 6) == 0);
  {
    char end[] = "0\r\n\r\n";
    CHECK(chc_h1_resp_feed(&R, end, LEN(end)) == (ssize_t)LEN(end));
    CHECK(R.events == CHC_H1_DONE && R.body == NULL && R.body_len == 0);
  }
}

/* }===================================================================== */

int main(void) {
  test_validators();
  test_request_heads();
  test_chunks();
  test_cases();
  test_binary_body();
  test_limits();
  test_errors();
  test_two_in_a_row();
  test_body_packing();
  test_reuse(); /* last: it frees R */
  chc_h1_resp_free(&R);
  printf("test_h1: ok\n");
  return 0;
}
