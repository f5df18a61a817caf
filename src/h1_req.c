/*
** h1_req.c: the request side of the HTTP/1.1 engine (h1.h): the request
** head, checked and written by hand with one reservation, and chunked
** framing. The response side (llhttp) is h1.c.
*/
#include "h1.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* {=====================================================================
** Request side
** ====================================================================== */

/*
** RFC 9110 5.6.2:
**   token = 1*tchar
**   tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
**           "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
*/
/* clang-format off */
static const unsigned char tchar[128] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0,
};
/* clang-format on */

int chc_h1_is_token(const char *p, size_t n) {
  size_t i;
  if (n == 0) return 0;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c >= 128 || !tchar[c]) return 0;
  }
  return 1;
}

/*
** RFC 9110 5.5: "Field values containing CR, LF, or NUL characters are
** invalid and dangerous, due to the varying ways that implementations might
** parse and interpret those characters". Other CTLs (HTAB above all) and
** obs-text pass: servers accept them and rejecting would break users.
*/
int chc_h1_is_field_value(const char *p, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    char c = p[i];
    if (c == '\r' || c == '\n' || c == '\0') return 0;
  }
  return 1;
}

/* Why a field value failed chc_h1_is_field_value, for the message. */
static const char *value_fault(const char *p, size_t n) {
  return memchr(p, '\0', n) != NULL ? "NUL" : "CR or LF";
}

static int is_target_char(unsigned char c) {
  return c > 0x20 && c != 0x7f;
}

/* Digits of v (>= 0) in base 10 or 16 into buf, most significant first. */
static size_t fmt_uint(char *buf, unsigned long long v, unsigned base) {
  char tmp[24];
  size_t n = 0, i;
  do {
    tmp[n++] = "0123456789abcdef"[v % base];
    v /= base;
  } while (v > 0);
  for (i = 0; i < n; i++) buf[i] = tmp[n - 1 - i];
  return n;
}

static int name_is(const char *name, size_t nl, const char *lit, size_t ll) {
  return nl == ll && strncasecmp(name, lit, ll) == 0;
}

#define LIT(s) s, sizeof(s) - 1
#define PUT(w, p, n) (memcpy((w), (p), (n)), (w) += (n))
#define PUTS(w, s) PUT(w, s, sizeof(s) - 1)

/*
** Two passes: the first validates everything and computes the exact size,
** the second copies into space reserved once. So an error appends nothing
** and the hot path costs at most one realloc.
*/
/* The request line's parts and the Host value: 0, or -1 with e set. */
static int check_line(const char *method, size_t ml, const char *target,
                      size_t tl, const char *host, size_t hl, long long body,
                      chc_error *e) {
  char tmp[80];
  size_t i;
  if (!chc_h1_is_token(method, ml)) {
    chc_seterr(e, CHC_ELOCAL_PROTO, "invalid method token '%s'",
               chc_printable(tmp, sizeof tmp, method ? method : "", ml));
    return -1;
  }
  if (tl == 0) {
    chc_seterr(e, CHC_ELOCAL_PROTO, "empty request target");
    return -1;
  }
  for (i = 0; i < tl; i++) {
    if (!is_target_char((unsigned char)target[i])) {
      chc_seterr(e, CHC_ELOCAL_PROTO,
                 "invalid request target '%s' (space or control character)",
                 chc_printable(tmp, sizeof tmp, target, tl));
      return -1;
    }
  }
  if (host != NULL && !chc_h1_is_field_value(host, hl)) {
    chc_seterr(e, CHC_ELOCAL_PROTO, "invalid character in Host '%s' (%s)",
               chc_printable(tmp, sizeof tmp, host, hl), value_fault(host, hl));
    return -1;
  }
  if (body < CHC_H1_BODY_CHUNKED) {
    chc_seterr(e, CHC_ELOCAL_PROTO, "invalid body length %lld", body);
    return -1;
  }
  return 0;
}

/* The caller's fields: checked, their size added to *total; whether they
** carry Host or the framing themselves. 0, or -1 with e set. */
static int check_fields(const chc_hlist *fields, int *want_host,
                        int *framing, size_t *total, chc_error *e) {
  char tmp[80];
  size_t i, nf = fields ? fields->n : 0;
  for (i = 0; i < nf; i++) {
    const char *n = chc_hlist_name(fields, i), *v = chc_hlist_value(fields, i);
    size_t nl = fields->f[i].name_len, vl = fields->f[i].value_len;
    if (!chc_h1_is_token(n, nl)) {
      chc_seterr(e, CHC_ELOCAL_PROTO, "invalid header name '%s'",
                 chc_printable(tmp, sizeof tmp, n, nl));
      return -1;
    }
    if (!chc_h1_is_field_value(v, vl)) {
      chc_seterr(e, CHC_ELOCAL_PROTO,
                 "invalid character in header '%s' value (%s)",
                 chc_printable(tmp, sizeof tmp, n, nl), value_fault(v, vl));
      return -1;
    }
    if (name_is(n, nl, LIT("host"))) *want_host = 0;
    /* RFC 9112 6.2: "A sender MUST NOT send a Content-Length header field
    ** in any message that contains a Transfer-Encoding header field."
    ** The user's framing wins; the caller frames the body to match. */
    if (name_is(n, nl, LIT("content-length")) ||
        name_is(n, nl, LIT("transfer-encoding")))
      *framing = 0;
    *total += nl + vl + 4; /* ": " and CRLF */
  }
  return 0;
}

int chc_h1_write_head(chc_buf *out, const char *method, const char *target,
                      const char *host, const chc_hlist *fields, long long body,
                      chc_error *e) {
  char clen[24];
  size_t ml = method ? strlen(method) : 0, tl = target ? strlen(target) : 0;
  size_t hl = host ? strlen(host) : 0, cll = 0, total, i;
  size_t nf = fields ? fields->n : 0;
  int want_host = host != NULL, framing = 1;
  char *w, *start;
  if (check_line(method, ml, target, tl, host, hl, body, e) < 0) return -1;
  /* "GET" SP target SP "HTTP/1.1" CRLF ... CRLF */
  total = ml + 1 + tl + sizeof(" HTTP/1.1\r\n") - 1 + 2;
  if (check_fields(fields, &want_host, &framing, &total, e) < 0) return -1;
  /* RFC 9110 7.2: "A user agent that sends Host SHOULD send it as the first
  ** field in the header section of a request." */
  if (want_host) total += sizeof("Host: \r\n") - 1 + hl;
  if (framing && body >= 0) {
    cll = fmt_uint(clen, (unsigned long long)body, 10);
    total += sizeof("Content-Length: \r\n") - 1 + cll;
  } else if (framing && body == CHC_H1_BODY_CHUNKED) {
    total += sizeof("Transfer-Encoding: chunked\r\n") - 1;
  }
  if (chc_buf_reserve(out, total) < 0) {
    errno = ENOMEM;
    return -1;
  }
  w = start = chc_buf_tail(out);
  PUT(w, method, ml);
  *w++ = ' ';
  PUT(w, target, tl);
  PUTS(w, " HTTP/1.1\r\n");
  if (want_host) {
    PUTS(w, "Host: ");
    PUT(w, host, hl);
    PUTS(w, "\r\n");
  }
  for (i = 0; i < nf; i++) {
    PUT(w, chc_hlist_name(fields, i), fields->f[i].name_len);
    PUTS(w, ": ");
    PUT(w, chc_hlist_value(fields, i), fields->f[i].value_len);
    PUTS(w, "\r\n");
  }
  if (framing && body >= 0) {
    PUTS(w, "Content-Length: ");
    PUT(w, clen, cll);
    PUTS(w, "\r\n");
  } else if (framing && body == CHC_H1_BODY_CHUNKED) {
    PUTS(w, "Transfer-Encoding: chunked\r\n");
  }
  PUTS(w, "\r\n");
  chc_buf_commit(out, (size_t)(w - start));
  return 0;
}

int chc_h1_write_chunk_head(chc_buf *out, size_t n) {
  char *w;
  if (n == 0) { /* "0\r\n" would be the last chunk */
    errno = EINVAL;
    return -1;
  }
  if (chc_buf_reserve(out, 2 * sizeof n + 2) < 0) {
    errno = ENOMEM;
    return -1;
  }
  w = chc_buf_tail(out);
  w += fmt_uint(w, n, 16);
  PUTS(w, "\r\n");
  chc_buf_commit(out, (size_t)(w - chc_buf_tail(out)));
  return 0;
}

int chc_h1_write_chunk(chc_buf *out, const void *p, size_t n) {
  char *w;
  if (n == 0) {
    errno = EINVAL;
    return -1;
  }
  if (n > SIZE_MAX - 2 * sizeof n - 4 ||
      chc_buf_reserve(out, 2 * sizeof n + 4 + n) < 0) {
    errno = ENOMEM;
    return -1;
  }
  w = chc_buf_tail(out);
  w += fmt_uint(w, n, 16);
  PUTS(w, "\r\n");
  PUT(w, p, n);
  PUTS(w, "\r\n");
  chc_buf_commit(out, (size_t)(w - chc_buf_tail(out)));
  return 0;
}

int chc_h1_write_last_chunk(chc_buf *out) {
  if (chc_buf_append(out, LIT("0\r\n\r\n")) < 0) {
    errno = ENOMEM;
    return -1;
  }
  return 0;
}

/* }===================================================================== */
