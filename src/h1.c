/*
** h1.c: the HTTP/1.1 client engine's response side: responses are parsed
** by llhttp 8.1, whose callbacks only record into the chc_h1_resp. The
** request side (heads and chunked framing, written by hand) is h1_req.c.
*/
#include "h1.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* {=====================================================================
** Response side
** ====================================================================== */

/* Where the parser is (r->state). */
enum {
  H1_IDLE,     /* no byte yet */
  H1_STATUS,   /* in the status line */
  H1_FIELDS,   /* in the header section */
  H1_INTERIM,  /* a 1xx head ended; the feed loop starts the next head */
  H1_BODY,     /* final head done: body (and chunk framing) */
  H1_TRAILERS, /* in the trailer section */
  H1_DONE,
  H1_ERROR
};

#define H1_MAX_HEAD_DEFAULT 65536
/* "HTTP/1.1 200 " + CRLF: the status line without its reason phrase */
#define H1_STATUS_LINE 15
/* ": " + CRLF around each field line */
#define H1_FIELD_LINE 4
/* Memory kept across responses by init; anything bigger is released, so an
** idle kept-alive connection does not pin the largest head it ever saw. */
#define H1_KEEP_MEM 16384

_Static_assert(offsetof(chc_h1_resp, parser) == 0,
               "llhttp_t must be the first member of chc_h1_resp");

static chc_h1_resp *resp_of(llhttp_t *p) {
  return (chc_h1_resp *)p;
}

/* Out of memory inside a callback: report it as a failed read. */
static int oom(chc_h1_resp *r) {
  chc_seterr(&r->err, CHC_EREAD, "out of memory while parsing the response");
  errno = ENOMEM;
  return -1;
}

/*
** Counts n more bytes of the current head (or trailer section). The count
** is the status line and field lines as a server normally formats them:
** llhttp does not report optional whitespace, so padding is not counted
** (XXX: a server can stream whitespace for as long as our timeouts allow;
** that costs CPU, never memory). The same limit applies to the trailers.
*/
static int count(chc_h1_resp *r, size_t n) {
  if (r->head_bytes > r->max_head || n > r->max_head - r->head_bytes) {
    if (r->ninterim > 0 && r->state != H1_TRAILERS)
      chc_seterr(&r->err, CHC_EREMOTE_PROTO, "response head and the %d "
                 "interim (1xx) responses before it larger than %zu bytes",
                 r->ninterim, r->max_head);
    else
      chc_seterr(&r->err, CHC_EREMOTE_PROTO, "response %s larger than %zu "
                 "bytes", r->state == H1_TRAILERS ? "trailers" : "head",
                 r->max_head);
    return -1;
  }
  r->head_bytes += n;
  return 0;
}

static int on_message_begin(llhttp_t *p) {
  chc_h1_resp *r = resp_of(p);
  r->state = H1_STATUS;
  /* interim responses count against the head limit: a server cannot
  ** send 1xx heads for ever */
  r->head_bytes = r->interim_bytes;
  return count(r, H1_STATUS_LINE);
}

static int on_status(llhttp_t *p, const char *at, size_t n) {
  chc_h1_resp *r = resp_of(p);
  if (count(r, n) < 0) return -1;
  if (chc_buf_append(&r->reason, at, n) < 0) return oom(r);
  return 0;
}

static int on_status_complete(llhttp_t *p) {
  chc_h1_resp *r = resp_of(p);
  /* HTTP/2 and HTTP/0.9 status lines are not HTTP/1.x responses */
  if (p->http_major != 1) {
    chc_seterr(&r->err, CHC_EREMOTE_PROTO,
               "malformed status line (unsupported version HTTP/%d.%d)",
               p->http_major, p->http_minor);
    return -1;
  }
  /* RFC 9110 15: "All valid status codes are within the range of 100 to
  ** 599, inclusive." 600-999 pass: some servers use them, and they are
  ** still final responses. */
  if (p->status_code < 100) {
    chc_seterr(&r->err, CHC_EREMOTE_PROTO,
               "malformed status line (status code %03d)", p->status_code);
    return -1;
  }
  r->state = H1_FIELDS;
  return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n) {
  chc_h1_resp *r = resp_of(p);
  if (r->state == H1_BODY) { /* the first trailer field */
    r->state = H1_TRAILERS;
    r->head_bytes = 0;
  }
  if (r->name.len == 0 && count(r, H1_FIELD_LINE) < 0) return -1;
  if (count(r, n) < 0) return -1;
  if (chc_buf_append(&r->name, at, n) < 0) return oom(r);
  return 0;
}

/*
** llhttp 8.1 (unless built in strict mode) lets spaces into field names:
** "Bad Name: x" and "Name : x" would reach the user. RFC 9112 5.1: "No
** whitespace is allowed between the field name and colon. In the past,
** differences in the handling of such whitespace have led to security
** vulnerabilities in request routing and response handling."
*/
static int on_header_field_complete(llhttp_t *p) {
  chc_h1_resp *r = resp_of(p);
  const char *name = r->name.len ? chc_buf_head(&r->name) : ""; /* no data */
  char tmp[80];
  if (!chc_h1_is_token(name, r->name.len)) {
    chc_seterr(&r->err, CHC_EREMOTE_PROTO,
               "invalid character in %s field name '%s'",
               r->state == H1_TRAILERS ? "trailer" : "header",
               chc_printable(tmp, sizeof tmp, name, r->name.len));
    return -1;
  }
  return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n) {
  chc_h1_resp *r = resp_of(p);
  if (count(r, n) < 0) return -1;
  if (chc_buf_append(&r->value, at, n) < 0) return oom(r);
  return 0;
}

/*
** RFC 9112 5: "A field line value might be preceded and/or followed by
** optional whitespace (OWS) ... excluded by parsers when extracting the
** field line value". llhttp drops the leading OWS but keeps the trailing.
** An obs-fold arrives as separate spans without its CRLF, so the value is
** already joined by the continuation line's own whitespace (RFC 9112 5.2:
** "replace each received obs-fold with one or more SP octets").
*/
static int on_header_value_complete(llhttp_t *p) {
  chc_h1_resp *r = resp_of(p);
  chc_hlist *h = r->state == H1_TRAILERS ? &r->trailers : &r->fields;
  const char *v = r->value.len ? chc_buf_head(&r->value) : "";
  size_t vl = r->value.len;
  while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
  if (chc_hlist_add(h, chc_buf_head(&r->name), r->name.len, v, vl) < 0)
    return oom(r);
  chc_buf_reset(&r->name);
  chc_buf_reset(&r->value);
  return 0;
}

/*
** Returning 1 tells llhttp that the message has no body. RFC 9112 6.3:
** "Any response to a HEAD request and any response with a 1xx
** (Informational), 204 (No Content), or 304 (Not Modified) status code is
** always terminated by the first empty line after the header fields,
** regardless of the header fields present in the message". llhttp 8.1
** would otherwise read a 204's Content-Length worth of body.
*/
static int on_headers_complete(llhttp_t *p) {
  chc_h1_resp *r = resp_of(p);
  int st = p->status_code;
  if (st < 200 && st != 101) { /* interim: its end restarts the parser */
    r->state = H1_INTERIM;
    return 1;
  }
  /* the reason is NUL-terminated even when empty */
  if (chc_buf_reserve(&r->reason, 1) < 0) return oom(r);
  *chc_buf_tail(&r->reason) = '\0';
  r->status = st;
  r->major = p->http_major;
  r->minor = p->http_minor;
  r->events |= CHC_H1_HEAD;
  r->state = H1_BODY;
  /* 101: what follows the head belongs to the new protocol */
  if (r->no_body || st == 101 || st == 204 || st == 304) return 1;
  if (p->flags & F_CHUNKED) { /* the first chunk-size line is next */
    r->size_line = 1;
    return HPE_PAUSED;
  }
  return 0;
}

/* A chunk and its CRLF ended: the next chunk-size line follows (unless
** this was the last chunk: trailers follow). */
static int on_chunk_complete(llhttp_t *p) {
  if (p->flags & F_TRAILING) return 0;
  resp_of(p)->size_line = 1;
  return HPE_PAUSED;
}

/*
** XXX: llhttp 8.1, unless built in strict mode, skips the two bytes after
** each chunk's data without looking at them, so "2\r\nabXX0\r\n\r\n"
** would parse. RFC 9112 7.1: "chunk = chunk-size [ chunk-ext ] CRLF
** chunk-data CRLF". We check those bytes ourselves, here for the ones in
** this feed and at the start of the next feed for the rest.
*/
static int check_crlf(chc_h1_resp *r, const char *from) {
  while (r->crlf_left > 0 && from < r->in_end) {
    if (*from++ != (r->crlf_left == 2 ? '\r' : '\n')) {
      chc_seterr(&r->err, CHC_EREMOTE_PROTO,
                 "malformed chunked body (no CRLF after the chunk data)");
      return -1;
    }
    r->crlf_left--;
  }
  return 0;
}

/*
** Each feed's body spans are packed into one region that starts at the
** feed's first body byte. The destination never passes the source
** (dst <= at), and everything between them has already been parsed; the
** bytes after the span (the chunk's CRLF) are never written.
*/
static int on_body(llhttp_t *p, const char *at, size_t n) {
  chc_h1_resp *r = resp_of(p);
  char *src = r->in + (at - r->in); /* at points into the caller's buffer */
  if ((p->flags & F_CHUNKED) && p->content_length == 0) { /* chunk ends */
    r->crlf_left = 2;
    if (check_crlf(r, at + n) < 0) return -1; /* before the move, see below */
  }
  if (r->body == NULL) {
    r->body = src;
  } else if (r->body + r->body_len != src) {
    memmove(r->body + r->body_len, src, n);
  }
  r->body_len += n;
  r->events |= CHC_H1_BODY;
  return 0;
}

/*
** Pausing stops llhttp right after the message's last byte, so the bytes
** after it stay with the caller, and llhttp's flags (still those of this
** message) give the keep-alive decision.
*/
static int on_message_complete(llhttp_t *p) {
  chc_h1_resp *r = resp_of(p);
  if (r->state == H1_INTERIM) return HPE_PAUSED;
  r->done = 1;
  r->events |= CHC_H1_DONE;
  r->keep_alive = r->status == 101 ? 0 : llhttp_should_keep_alive(p);
  r->state = H1_DONE;
  return HPE_PAUSED;
}

/*
** XXX: llhttp 8.1 swallows the ';' that ends an unquoted chunk extension
** value and then fails on the next extension ("3;a=1;b=2" is an "invalid
** chunk size"), though RFC 9112 7.1.1 allows any number of them:
**   chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
** Pausing here lets the feed loop hand that ';' back to llhttp (see
** resume_ext).
*/
static int on_chunk_extension_value_complete(llhttp_t *p) {
  resp_of(p)->ext_paused = 1;
  return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_status = on_status,
    .on_status_complete = on_status_complete,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
    .on_chunk_extension_value_complete = on_chunk_extension_value_complete,
    .on_chunk_complete = on_chunk_complete,
};

static void trim_buf(chc_buf *b) {
  if (b->cap > H1_KEEP_MEM) chc_buf_free(b);
  chc_buf_reset(b);
}

static void trim_hlist(chc_hlist *h) {
  if (h->store.cap > H1_KEEP_MEM) chc_hlist_free(h);
  chc_hlist_reset(h);
}

void chc_h1_resp_init(chc_h1_resp *r, size_t max_head, int no_body) {
  llhttp_init(&r->parser, HTTP_RESPONSE, &settings);
  r->parser.data = r;
  r->max_head = max_head ? max_head : H1_MAX_HEAD_DEFAULT;
  r->no_body = no_body;
  r->status = r->major = r->minor = 0;
  trim_buf(&r->reason);
  trim_hlist(&r->fields);
  trim_hlist(&r->trailers);
  r->keep_alive = 0;
  r->body = NULL;
  r->body_len = 0;
  r->events = 0;
  r->done = 0;
  chc_err_clear(&r->err);
  trim_buf(&r->name);
  trim_buf(&r->value);
  r->head_bytes = 0;
  r->state = H1_IDLE;
  r->ext_paused = 0;
  r->crlf_left = 0;
  r->size_line = 0;
  trim_buf(&r->line);
  r->interim_bytes = 0;
  r->ninterim = 0;
  r->in = r->in_end = NULL;
}

void chc_h1_resp_free(chc_h1_resp *r) {
  chc_buf_free(&r->reason);
  chc_hlist_free(&r->fields);
  chc_hlist_free(&r->trailers);
  chc_buf_free(&r->name);
  chc_buf_free(&r->value);
  chc_buf_free(&r->line);
  memset(r, 0, sizeof *r);
}

/* Names the part of the response the parser was in, for messages. */
static const char *where(const chc_h1_resp *r) {
  switch (r->state) {
    case H1_IDLE:
    case H1_STATUS:
      return "status line";
    case H1_BODY:
      return r->parser.flags & F_CHUNKED ? "chunked body" : "body";
    case H1_TRAILERS:
      return "trailer section";
    default:
      return "header section";
  }
}

/*
** Turns an llhttp error into a RemoteProtocolError that says what was wrong
** in words, then llhttp's own code and reason for whoever debugs it. A
** callback that failed has already set r->err; chc_seterr keeps that one.
*/
static void parse_error(chc_h1_resp *r, llhttp_errno_t en) {
  const char *reason = llhttp_get_error_reason(&r->parser);
  char what[64];
  switch (en) {
    case HPE_INVALID_STATUS:
    case HPE_INVALID_VERSION:
      snprintf(what, sizeof what, "malformed status line");
      break;
    case HPE_INVALID_CHUNK_SIZE:
      snprintf(what, sizeof what, "invalid chunk size");
      break;
    case HPE_INVALID_CONTENT_LENGTH:
      snprintf(what, sizeof what, "invalid Content-Length");
      break;
    case HPE_UNEXPECTED_CONTENT_LENGTH:
      snprintf(what, sizeof what, "%s",
               reason && strstr(reason, "Duplicate")
                   ? "more than one Content-Length field"
                   : "Content-Length together with Transfer-Encoding");
      break;
    case HPE_INVALID_TRANSFER_ENCODING:
      snprintf(what, sizeof what, "invalid Transfer-Encoding");
      break;
    case HPE_INVALID_HEADER_TOKEN:
      snprintf(what, sizeof what, "invalid character in a %s field",
               r->state == H1_TRAILERS ? "trailer" : "header");
      break;
    default:
      snprintf(what, sizeof what, "malformed %s", where(r));
      break;
  }
  chc_seterr(&r->err, CHC_EREMOTE_PROTO, "%s (%s: %s)", what,
             llhttp_errno_name(en), reason ? reason : "no reason given");
}

/* A 1xx head ended: forget it and parse the next head from scratch. */
static void next_head(chc_h1_resp *r) {
  llhttp_reset(&r->parser); /* keeps settings, data and lenient flags */
  chc_buf_reset(&r->reason);
  chc_hlist_reset(&r->fields);
  r->interim_bytes = r->head_bytes;
  r->ninterim++;
  r->head_bytes = 0;
  r->state = H1_STATUS;
}

/*
** Where to resume after the chunk-extension pause: one byte back when the
** byte llhttp just consumed is the ';' it should have kept. That can only
** happen within this execute call (pos > start); the other two paths to
** the callback stop at a CR or after a closing quote, never after ';'.
*/
static const char *resume_ext(const char *start, const char *pos) {
  return pos > start && pos[-1] == ';' ? pos - 1 : pos;
}

static ssize_t feed_error(chc_h1_resp *r) {
  if (r->err.code == CHC_EREAD) errno = ENOMEM; /* see oom() */
  r->state = H1_ERROR;
  r->body = NULL;
  r->body_len = 0;
  r->in = r->in_end = NULL;
  return -1;
}

/*
** An HTTP/2-only server answers an HTTP/1.1 request with its SETTINGS frame
** (RFC 9113 3.4): a 9-byte frame header of type 0x4 on stream 0. Seeing one
** where a status line should be means the pool asked the wrong protocol.
*/
static int h2_settings_frame(const char *at, const char *end) {
  const unsigned char *u = (const unsigned char *)at;
  if (end - at < 9) return 0;
  return u[3] == 0x04 && (u[5] & 0x7f) == 0 && u[6] == 0 && u[7] == 0 &&
         u[8] == 0;
}

/*
** Runs llhttp over [at, end) through its pauses. Returns where it stopped:
** end, the end of the message, or the start of a chunk-size line
** (r->size_line); NULL on an error (r->err set).
*/
static const char *run(chc_h1_resp *r, const char *at, const char *end) {
  for (;;) {
    llhttp_errno_t en = llhttp_execute(&r->parser, at, (size_t)(end - at));
    const char *pos;
    if (en == HPE_OK) return end;
    if (en != HPE_PAUSED) {
      if (r->state == H1_STATUS && h2_settings_frame(at, end))
        chc_seterr(&r->err, CHC_EREMOTE_PROTO,
                   "the server answered with an HTTP/2 SETTINGS frame, not "
                   "HTTP/1.1: it speaks only HTTP/2 (h2c) on this port; make "
                   "the pool with http2 = true, http1 = false");
      parse_error(r, en);
      return NULL;
    }
    pos = llhttp_get_error_pos(&r->parser);
    if (r->done) return pos;
    if (r->state == H1_INTERIM) {
      next_head(r);
    } else if (r->ext_paused) {
      pos = resume_ext(at, pos);
      r->ext_paused = 0;
      llhttp_resume(&r->parser);
    } else if (r->size_line) {
      llhttp_resume(&r->parser);
      return pos;
    } else { /* no other callback pauses */
      chc_seterr(&r->err, CHC_EREMOTE_PROTO, "unexpected llhttp pause");
      return NULL;
    }
    at = pos;
  }
}

static int is_bws(char c) { return c == ' ' || c == '\t'; }

static int is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
         (c >= 'A' && c <= 'F');
}

/*
** XXX: llhttp 8.1 rejects the optional whitespace RFC 9112 7.1.1 allows
** in a chunk-size line:
**   chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
** ("5 ;a=b", "5; a = b"). Removes exactly that whitespace from the line
** (ending in LF) in place, and returns its new length. Whitespace
** anywhere else (inside the size, before the CRLF, inside a quoted value)
** is left for llhttp to judge, so the chunk size is never changed.
*/
static size_t strip_bws(char *l, size_t n) {
  size_t i = 0, w, j;
  while (i < n && is_hex(l[i])) i++;
  if (i == 0) return n;
  w = i;
  for (;;) {
    j = i;
    while (j < n && is_bws(l[j])) j++;
    if (j >= n || l[j] != ';') break; /* CRLF (or garbage) after the size */
    l[w++] = ';';
    for (i = j + 1; i < n && is_bws(l[i]); i++) {}
    while (i < n && !is_bws(l[i]) && l[i] != ';' && l[i] != '=' &&
           l[i] != '\r' && l[i] != '\n')
      l[w++] = l[i++]; /* the name */
    for (j = i; j < n && is_bws(l[j]); j++) {}
    if (j >= n || l[j] != '=') continue;
    l[w++] = '=';
    for (i = j + 1; i < n && is_bws(l[i]); i++) {}
    if (i < n && l[i] == '"') { /* quoted-string, escapes included */
      l[w++] = l[i++];
      while (i < n && l[i] != '"') {
        if (l[i] == '\\' && i + 1 < n) l[w++] = l[i++];
        l[w++] = l[i++];
      }
      if (i < n) l[w++] = l[i++];
    } else {
      while (i < n && !is_bws(l[i]) && l[i] != ';' && l[i] != '\r' &&
             l[i] != '\n')
        l[w++] = l[i++];
    }
  }
  while (i < n) l[w++] = l[i++]; /* the rest as it was */
  return w;
}

/*
** A chunk-size line is gathered (across feeds if need be) until its LF,
** cleaned of optional whitespace, and only then given to llhttp. The
** line counts against the head limit like a field line.
*/
/* A CR anywhere in a chunk-size line but right before its LF: llhttp's
** lenient mode would end the line there and take what follows as body
** bytes (which, from the gathered copy, would point into r->line). */
static int bare_cr(const char *l, size_t n) {
  return n > 2 && memchr(l, '\r', n - 2) != NULL;
}

static const char *bad_size_line(chc_h1_resp *r) {
  chc_seterr(&r->err, CHC_EREMOTE_PROTO, "malformed chunked body (a CR "
             "inside a chunk-size line)");
  return NULL;
}

static const char *size_line(chc_h1_resp *r, const char *at,
                             const char *end) {
  const char *lf = memchr(at, '\n', (size_t)(end - at));
  size_t k = lf ? (size_t)(lf + 1 - at) : (size_t)(end - at);
  if (r->line.len + k > r->max_head) {
    chc_seterr(&r->err, CHC_EREMOTE_PROTO, "malformed chunked body (a "
               "chunk-size line longer than %zu bytes)", r->max_head);
    return NULL;
  }
  if (lf && r->line.len == 0 && !memchr(at, ' ', k) && !memchr(at, '\t', k)) {
    /* the usual line: whole in this feed, nothing to strip: no copy */
    if (bare_cr(at, k)) return bad_size_line(r);
    r->size_line = 0;
    return run(r, at, at + k) == NULL ? NULL : at + k;
  }
  if (chc_buf_append(&r->line, at, k) < 0) {
    oom(r);
    return NULL;
  }
  if (lf) {
    char *l = chc_buf_head(&r->line);
    size_t len;
    if (bare_cr(l, r->line.len)) return bad_size_line(r);
    len = strip_bws(l, r->line.len);
    r->size_line = 0;
    if (run(r, l, l + len) == NULL) return NULL;
    chc_buf_reset(&r->line);
  }
  return at + k;
}

ssize_t chc_h1_resp_feed(chc_h1_resp *r, char *p, size_t n) {
  const char *at = p, *end = p + n;
  r->events = 0;
  r->body = NULL;
  r->body_len = 0;
  if (r->state == H1_ERROR) return -1;
  if (r->done || n == 0) return 0;
  r->in = p;
  r->in_end = p + n;
  if (r->state == H1_IDLE) r->state = H1_STATUS;
  if (check_crlf(r, p) < 0) return feed_error(r);
  while (at < end && !r->done) {
    at = r->size_line ? size_line(r, at, end) : run(r, at, end);
    if (at == NULL) return feed_error(r);
  }
  r->in = r->in_end = NULL;
  return (ssize_t)(at - p);
}

/*
** RFC 9112 6.3, item 8: "Otherwise, this is a response message without a
** declared message body length, so the message body length is determined
** by the number of octets received prior to the server closing the
** connection." Anything else cut short is incomplete (RFC 9112 8).
*/
int chc_h1_resp_eof(chc_h1_resp *r) {
  r->events = 0;
  r->body = NULL;
  r->body_len = 0;
  if (r->state == H1_ERROR) return -1;
  if (r->done) return 0;
  if (r->state == H1_BODY && llhttp_message_needs_eof(&r->parser)) {
    llhttp_errno_t en = llhttp_finish(&r->parser);
    if (en != HPE_OK && en != HPE_PAUSED) {
      parse_error(r, en);
      r->state = H1_ERROR;
      return -1;
    }
    if (!r->done) { /* llhttp had nothing left to call back */
      r->done = 1;
      r->events |= CHC_H1_DONE;
      r->state = H1_DONE;
    }
    r->keep_alive = 0;
    return 1;
  }
  switch (r->state) {
    case H1_IDLE:
      chc_seterr(&r->err, CHC_EREMOTE_PROTO,
                 "connection closed before any response");
      break;
    case H1_BODY:
      if (!(r->parser.flags & F_CHUNKED) &&
          (r->parser.flags & F_CONTENT_LENGTH)) {
        chc_seterr(&r->err, CHC_EREMOTE_PROTO,
                   "connection closed before the end of the response body: "
                   "%llu bytes missing",
                   (unsigned long long)r->parser.content_length);
      } else {
        chc_seterr(&r->err, CHC_EREMOTE_PROTO,
                   "connection closed before the end of the chunked "
                   "response body");
      }
      break;
    case H1_TRAILERS:
      chc_seterr(&r->err, CHC_EREMOTE_PROTO,
                 "connection closed before the end of the response trailers");
      break;
    default:
      chc_seterr(&r->err, CHC_EREMOTE_PROTO,
                 "connection closed before a complete response head");
      break;
  }
  r->state = H1_ERROR;
  return -1;
}

/* }===================================================================== */
