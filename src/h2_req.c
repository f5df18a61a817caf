/*
** h2_req.c: the request half of the HTTP/2 engine (see h2.c and
** h2_int.h): a request's fields checked and turned into nghttp2's header
** list (RFC 9113 8.2, 8.3), its submission with a data provider for a
** string or a producer body, and the stream API the caller uses
** (peek/consume, write/write_end, cancel, release).
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "h2_int.h"

/* {===================================================================
** Field checks
** ==================================================================== */

/* RFC 9110 5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" /
** "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA */
static int is_tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
      (c >= '0' && c <= '9'))
    return 1;
  return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int is_token(const char *p, size_t n) {
  size_t i;
  if (n == 0) return 0;
  for (i = 0; i < n; i++)
    if (!is_tchar((unsigned char)p[i])) return 0;
  return 1;
}

/* RFC 9113 8.2.1: "A field value MUST NOT contain the zero value (ASCII
** NUL, 0x00), line feed (ASCII LF, 0x0a), or carriage return (ASCII CR,
** 0x0d) at any position." Other CTLs pass, as on HTTP/1.1 (h1.c). */
static const char *value_fault(const char *p, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    if (p[i] == '\0') return "NUL";
    if (p[i] == '\r' || p[i] == '\n') return "CR or LF";
  }
  return NULL;
}

/* Pseudo-header values we build from the request: no controls, no space
** (a path or authority with one would be malformed on any version). */
static int is_visible(const char *p, size_t n) {
  size_t i;
  if (n == 0) return 0;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c <= 0x20 || c == 0x7f) return 0;
  }
  return 1;
}

static void trim(const char **p, size_t *n) {
  while (*n > 0 && (**p == ' ' || **p == '\t')) (*p)++, (*n)--;
  while (*n > 0 && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t')) (*n)--;
}

/* RFC 9110 7.6.1: the Connection field "lists other fields that are
** connection-specific"; those go with it. */
static int named_by_connection(const chc_hlist *h, size_t i) {
  size_t j;
  for (j = 0; j < h->n; j++)
    if (h2_name_is(h, j, "connection") &&
        h2_list_has(chc_hlist_value(h, j), h->f[j].value_len, chc_hlist_name(h, i),
                 h->f[i].name_len))
      return 1;
  return 0;
}

/* }=================================================================== */

/* {===================================================================
** Data providers (nghttp2 asks for DATA frame payloads)
** ==================================================================== */

/* BYTES bodies: copied from the caller's memory into the DATA frame. */
static ssize_t read_bytes(nghttp2_session *s, int32_t id, uint8_t *buf,
                          size_t len, uint32_t *flags, nghttp2_data_source *src,
                          void *ud) {
  chc_h2_stream *st = src->ptr;
  size_t n = st->body_len - st->body_off;
  CHC_UNUSED(s);
  CHC_UNUSED(id);
  CHC_UNUSED(ud);
  /* abandoned: its RST_STREAM goes first and closes it; never read the
  ** caller's bytes after it let go of them */
  if (st->cancelled || st->released || st->failed) return NGHTTP2_ERR_DEFERRED;
  if (n > len) n = len;
  memcpy(buf, st->body + st->body_off, n);
  st->body_off += n;
  if (st->body_off == st->body_len)
    *flags |= NGHTTP2_DATA_FLAG_EOF;
  else if (n > 0) /* the server's window let bytes through: progress */
    CB(st->h2, on_writable, st, st->ud);
  return (ssize_t)n;
}

/*
** Producer bodies: what the queue holds, or DEFERRED when it is empty
** and the producer has not ended (chc_h2_stream_write resumes us). The
** producer is woken once the queue, after being full, is half empty.
*/
static ssize_t read_up(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
                       uint32_t *flags, nghttp2_data_source *src, void *ud) {
  chc_h2_stream *st = src->ptr;
  chc_h2 *h2 = ud;
  size_t n = st->up.len < len ? st->up.len : len;
  CHC_UNUSED(s);
  CHC_UNUSED(id);
  if (st->cancelled || st->failed || (st->released && !st->finishing))
    return NGHTTP2_ERR_DEFERRED;
  if (n == 0 && !st->up_end) return NGHTTP2_ERR_DEFERRED;
  if (n > 0) { /* an empty body has no buffer at all (data is NULL) */
    memcpy(buf, chc_buf_head(&st->up), n);
    chc_buf_consume(&st->up, n);
  }
  if (n > 0 && st->up_end && st->up.len > 0 && h2_st_up_live(st))
    CB(h2, on_writable, st, st->ud); /* progress on the rest */
  if (st->up.len == 0 && st->up_end) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    chc_buf_free(&st->up);
  }
  if (st->up_blocked && st->up.len <= h2->upload_limit / 2) {
    st->up_blocked = 0;
    if (h2_st_up_live(st)) CB(h2, on_writable, st, st->ud);
  }
  return (ssize_t)n;
}

/* }=================================================================== */

/* {===================================================================
** Requests
** ==================================================================== */

static int nv_reserve(chc_h2 *h2, size_t n) {
  if (n > h2->nvcap) {
    nghttp2_nv *nv = realloc(h2->nv, n * sizeof *nv);
    if (nv == NULL) return -1;
    h2->nv = nv;
    h2->nvcap = n;
  }
  return 0;
}

static void nv_set(nghttp2_nv *nv, const char *n, size_t nl, const char *v,
                   size_t vl) {
  nv->name = (uint8_t *)(uintptr_t)n;
  nv->namelen = nl;
  nv->value = (uint8_t *)(uintptr_t)v;
  nv->valuelen = vl;
  nv->flags = NGHTTP2_NV_FLAG_NONE; /* nghttp2 copies both at submit */
}

/* What happens to a caller's field on HTTP/2. */
enum { F_SEND, F_DROP, F_HOST, F_TE };

/*
** RFC 9113 8.2.2: "An endpoint MUST NOT generate an HTTP/2 message
** containing connection-specific header fields. This includes the
** Connection header field and those listed as having connection-specific
** semantics in Section 7.6.1 of [HTTP] (that is, Proxy-Connection,
** Keep-Alive, Transfer-Encoding, and Upgrade)." ... "The only exception
** to this is the TE header field, which MAY be present in an HTTP/2
** request; when it is, it MUST NOT contain any value other than
** "trailers"."
*/
static int classify(const chc_hlist *h, size_t i, int body_kind, int has_conn) {
  static const char *const drop[] = {"connection", "keep-alive",
                                     "proxy-connection", "transfer-encoding",
                                     "upgrade"};
  size_t k;
  for (k = 0; k < sizeof drop / sizeof drop[0]; k++)
    if (h2_name_is(h, i, drop[k])) return F_DROP;
  if (h2_name_is(h, i, "host")) return F_HOST;
  if (h2_name_is(h, i, "te")) return F_TE;
  if (h2_name_is(h, i, "content-length") && body_kind != CHC_H2_BODY_STREAM)
    return F_DROP;
  if (has_conn && named_by_connection(h, i)) return F_DROP;
  return F_SEND;
}

static int method_is(const char *m, const char *x) {
  return strcmp(m, x) == 0;
}

/* Checks the request; 0 or -1 with e set. Appends nothing. */
static int check_request(const chc_h2_request *rq, int connect, chc_error *e) {
  const chc_hlist *h = rq->headers;
  char tmp[96];
  size_t i, ml = rq->method ? strlen(rq->method) : 0;
  if (!is_token(rq->method, ml)) {
    h2_seterr(e, CHC_ELOCAL_PROTO, "invalid method token '%s'",
           chc_printable(tmp, sizeof tmp, rq->method ? rq->method : "", ml));
    return -1;
  }
  if (!connect) {
    const char *sc = rq->scheme ? rq->scheme : "";
    const char *p = rq->path ? rq->path : "";
    if (strcmp(sc, "http") != 0 && strcmp(sc, "https") != 0) {
      h2_seterr(e, CHC_ELOCAL_PROTO, "invalid scheme '%s' for HTTP/2",
             chc_printable(tmp, sizeof tmp, sc, strlen(sc)));
      return -1;
    }
    if (!is_visible(p, strlen(p)) || (p[0] != '/' && strcmp(p, "*") != 0)) {
      h2_seterr(e, CHC_ELOCAL_PROTO,
             "invalid request path '%s' (empty, not starting with '/', or "
             "holding a space or control character)",
             chc_printable(tmp, sizeof tmp, p, strlen(p)));
      return -1;
    }
  }
  if ((connect || rq->protocol) &&
      (rq->authority == NULL || rq->authority[0] == '\0')) {
    h2_seterr(e, CHC_ELOCAL_PROTO, "CONNECT needs an authority");
    return -1;
  }
  if (rq->authority && rq->authority[0] &&
      !is_visible(rq->authority, strlen(rq->authority))) {
    h2_seterr(e, CHC_ELOCAL_PROTO, "invalid authority '%s'",
           chc_printable(tmp, sizeof tmp, rq->authority, strlen(rq->authority)));
    return -1;
  }
  if (rq->body_kind != CHC_H2_BODY_NONE && rq->body_kind != CHC_H2_BODY_BYTES &&
      rq->body_kind != CHC_H2_BODY_STREAM) {
    h2_seterr(e, CHC_ELOCAL_PROTO, "unknown request body kind %d", rq->body_kind);
    return -1;
  }
  if (rq->body_kind == CHC_H2_BODY_BYTES && rq->body_len > 0 &&
      rq->body == NULL) {
    h2_seterr(e, CHC_ELOCAL_PROTO, "request body bytes missing");
    return -1;
  }
  for (i = 0; h && i < h->n; i++) {
    const char *n = chc_hlist_name(h, i), *v = chc_hlist_value(h, i);
    const char *fault;
    if (!is_token(n, h->f[i].name_len)) {
      h2_seterr(e, CHC_ELOCAL_PROTO, "invalid header name '%s'%s",
             chc_printable(tmp, sizeof tmp, n, h->f[i].name_len),
             n[0] == ':' ? " (pseudo-header fields are set from the request)"
                         : "");
      return -1;
    }
    fault = value_fault(v, h->f[i].value_len);
    if (fault) {
      h2_seterr(e, CHC_ELOCAL_PROTO, "invalid character in header '%s' (%s)",
             chc_printable(tmp, sizeof tmp, n, h->f[i].name_len), fault);
      return -1;
    }
  }
  return 0;
}

/* The authority: the caller's Host field if it has one (the first that is
** not empty), else rq->authority. 0, or -1 with e set. */
static int authority(const chc_hlist *h, const chc_h2_request *rq,
                     int has_conn, const char **auth, size_t *authl,
                     chc_error *e) {
  size_t i, nf = h ? h->n : 0;
  *auth = rq->authority ? rq->authority : "";
  *authl = strlen(*auth);
  for (i = 0; i < nf; i++) {
    if (classify(h, i, rq->body_kind, has_conn) == F_HOST) {
      const char *v = chc_hlist_value(h, i);
      size_t vl = h->f[i].value_len;
      trim(&v, &vl);
      if (vl > 0) {
        char tmp[96];
        if (!is_visible(v, vl)) {
          h2_seterr(e, CHC_ELOCAL_PROTO, "invalid Host '%s'",
                    chc_printable(tmp, sizeof tmp, v, vl));
          return -1;
        }
        *auth = v;
        *authl = vl;
        return 0;
      }
    }
  }
  return 0;
}

/* The caller's fields that go (lower-cased into h2->names), after the
** pseudo-headers; k counts the entries of h2->nv. */
static void regular_fields(chc_h2 *h2, const chc_hlist *h, int body_kind,
                           int has_conn, size_t *k) {
  size_t i, nf = h ? h->n : 0;
  int te = 0;
  for (i = 0; i < nf; i++) {
    const char *v = chc_hlist_value(h, i);
    size_t vl = h->f[i].value_len, nl = h->f[i].name_len, j, noff;
    switch (classify(h, i, body_kind, has_conn)) {
      case F_TE:
        if (!te && h2_list_has(v, vl, "trailers", 8)) {
          nv_set(&h2->nv[(*k)++], "te", 2, "trailers", 8);
          te = 1;
        }
        continue;
      case F_SEND:
        break;
      default:
        continue;
    }
    /* RFC 9113 8.2: "Field names MUST be converted to lowercase when
    ** constructing an HTTP/2 message." */
    noff = h2->names.len;
    for (j = 0; j < nl; j++) {
      char c = chc_hlist_name(h, i)[j];
      h2->names.data[noff + j] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
    }
    h2->names.len += nl;
    trim(&v, &vl);
    nv_set(&h2->nv[(*k)++], h2->names.data + noff, nl, v, vl);
  }
}

/* The request's header list in h2->nv (clen: room for the
** content-length value, which must live until the submission). The
** count, or -1 with e set. */
static long build_nv(chc_h2 *h2, const chc_h2_request *rq, int connect,
                     char *clen, size_t clen_cap, chc_error *e) {
  const chc_hlist *h = rq->headers;
  const char *auth;
  size_t i, k = 0, names = 0, authl, nf = h ? h->n : 0;
  int has_conn = 0;
  /* 5 pseudo-headers + the caller's fields + te + content-length */
  if (nv_reserve(h2, 5 + nf + 2) < 0) goto nomem;
  for (i = 0; i < nf; i++) {
    names += h->f[i].name_len;
    if (h2_name_is(h, i, "connection")) has_conn = 1;
  }
  chc_buf_reset(&h2->names);
  if (chc_buf_reserve(&h2->names, names + 1) < 0) goto nomem;
  if (authority(h, rq, has_conn, &auth, &authl, e) < 0) return -1;
  /* RFC 9113 8.3.1: "All HTTP/2 requests MUST include exactly one valid
  ** value for the ":method", ":scheme", and ":path" pseudo-header
  ** fields, unless they are CONNECT requests"; clients "MUST use the
  ** ":authority" pseudo-header field to convey authority information,
  ** unless there is no authority information to convey". And 8.3: "All
  ** pseudo-header fields MUST appear in a field block before all regular
  ** field lines." */
  nv_set(&h2->nv[k++], ":method", 7, rq->method, strlen(rq->method));
  if (rq->protocol) /* RFC 8441 4: extended CONNECT */
    nv_set(&h2->nv[k++], ":protocol", 9, rq->protocol, strlen(rq->protocol));
  if (!connect)
    nv_set(&h2->nv[k++], ":scheme", 7, rq->scheme, strlen(rq->scheme));
  if (authl > 0) nv_set(&h2->nv[k++], ":authority", 10, auth, authl);
  if (!connect) nv_set(&h2->nv[k++], ":path", 5, rq->path, strlen(rq->path));
  regular_fields(h2, h, rq->body_kind, has_conn, &k);
  if (rq->body_kind == CHC_H2_BODY_BYTES ||
      (rq->body_kind == CHC_H2_BODY_NONE &&
       (method_is(rq->method, "POST") || method_is(rq->method, "PUT") ||
        method_is(rq->method, "PATCH")))) {
    size_t len = rq->body_kind == CHC_H2_BODY_BYTES ? rq->body_len : 0;
    int cl = snprintf(clen, clen_cap, "%zu", len);
    nv_set(&h2->nv[k++], "content-length", 14, clen, (size_t)cl);
  }
  return (long)k;
nomem:
  h2_seterr(e, CHC_ELOCAL_PROTO, "out of memory submitting the request");
  return -1;
}

/* RFC 8441 4: a :protocol only on a CONNECT, and only to a peer that
** enabled it ("A client MUST NOT send a :protocol pseudo-header field
** unless it has received SETTINGS_ENABLE_CONNECT_PROTOCOL with 1"). */
static int check_protocol(chc_h2 *h2, const chc_h2_request *rq,
                          chc_error *e) {
  char tmp[96];
  size_t n = strlen(rq->protocol);
  if (rq->method == NULL || !method_is(rq->method, "CONNECT")) {
    h2_seterr(e, CHC_ELOCAL_PROTO, ":protocol needs the CONNECT method");
    return -1;
  }
  if (!is_token(rq->protocol, n)) {
    h2_seterr(e, CHC_ELOCAL_PROTO, "invalid :protocol token '%s'",
              chc_printable(tmp, sizeof tmp, rq->protocol, n));
    return -1;
  }
  if (!chc_h2_connect_protocol(h2)) {
    h2_seterr(e, CHC_EUNSUPPORTED,
              "the HTTP/2 server did not enable extended CONNECT "
              "(SETTINGS_ENABLE_CONNECT_PROTOCOL)");
    return -1;
  }
  return 0;
}

chc_h2_stream *chc_h2_submit(chc_h2 *h2, const chc_h2_request *rq, void *ud,
                             chc_error *e) {
  /* an extended CONNECT is checked and sent like other methods */
  int connect = rq->method && rq->protocol == NULL &&
                method_is(rq->method, "CONNECT");
  char clen[24];
  nghttp2_data_provider prd, *pp = NULL;
  chc_h2_stream *st;
  int32_t id;
  long k;
  if (h2->dead != ALIVE || h2->goaway_recv || h2->shutting ||
      !nghttp2_session_check_request_allowed(h2->s)) {
    h2_seterr(e, CHC_ECLOSED, "the HTTP/2 connection takes no new streams");
    return NULL;
  }
  if (rq->protocol && check_protocol(h2, rq, e) < 0) return NULL;
  if (check_request(rq, connect, e) < 0) return NULL;
  k = build_nv(h2, rq, connect, clen, sizeof clen, e);
  if (k < 0) return NULL;
  st = calloc(1, sizeof *st);
  if (st == NULL) goto nomem;
  st->h2 = h2;
  st->ud = ud;
  chc_list_init(&st->node);
  st->body_kind = rq->body_kind;
  st->tunnel = rq->protocol != NULL;
  if (rq->body_kind == CHC_H2_BODY_BYTES && rq->body_len > 0) {
    st->body = rq->body;
    st->body_len = rq->body_len;
    prd.source.ptr = st;
    prd.read_callback = read_bytes;
    pp = &prd;
  } else if (rq->body_kind == CHC_H2_BODY_STREAM) {
    prd.source.ptr = st;
    prd.read_callback = read_up;
    pp = &prd;
  }
  id = nghttp2_submit_request(h2->s, NULL, h2->nv, (size_t)k, pp, st);
  if (id < 0) {
    free(st);
    if (id == NGHTTP2_ERR_NOMEM) goto nomem;
    h2_seterr(e,
           id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE ? CHC_ECLOSED
                                                     : CHC_ELOCAL_PROTO,
           "HTTP/2 request not submitted: %s", nghttp2_strerror(id));
    return NULL;
  }
  st->id = id;
  h2->nopen++;
  chc_list_insert_tail(&h2->streams, &st->node);
  return st;
nomem:
  h2_seterr(e, CHC_ELOCAL_PROTO, "out of memory submitting the request");
  return NULL;
}

/* }=================================================================== */

/* {===================================================================
** Streams
** ==================================================================== */

int32_t chc_h2_stream_id(const chc_h2_stream *st) {
  return st->id;
}

int chc_h2_stream_has_head(const chc_h2_stream *st) {
  return st->has_head;
}

int chc_h2_stream_status(const chc_h2_stream *st) {
  return st->status;
}

chc_hlist *chc_h2_stream_headers(chc_h2_stream *st) {
  return &st->fields;
}

chc_hlist *chc_h2_stream_trailers(chc_h2_stream *st) {
  return st->ended && st->trailers.n > 0 ? &st->trailers : NULL;
}

int chc_h2_stream_ended(const chc_h2_stream *st) {
  return st->ended;
}

const chc_error *chc_h2_stream_error(const chc_h2_stream *st) {
  return st->err.code != CHC_OK ? &st->err : NULL;
}

int chc_h2_stream_retryable(const chc_h2_stream *st) {
  return st->retryable;
}

size_t chc_h2_stream_buffered(const chc_h2_stream *st) {
  return st->buffered;
}

int chc_h2_stream_peek(chc_h2_stream *st, const char **p, size_t *n) {
  if (st->buffered > 0) {
    block *b = st->bhead;
    *p = b->data + b->r;
    *n = b->w - b->r;
    return 1;
  }
  *p = NULL;
  *n = 0;
  return st->ended ? -1 : 0;
}

void chc_h2_stream_consume(chc_h2_stream *st, size_t n) {
  chc_h2 *h2 = st->h2;
  if (n > st->buffered) n = st->buffered;
  if (n == 0) return;
  h2_body_drop(st, n);
  /* counts for the stream and the connection; nghttp2 queues the
  ** WINDOW_UPDATE once half a window was consumed (and only updates the
  ** connection if the stream is gone) */
  if (h2 && h2->dead == ALIVE) nghttp2_session_consume(h2->s, st->id, n);
}

int h2_st_up_live(const chc_h2_stream *st) {
  return st->tunnel && st->ended && !st->released && !st->cancelled &&
                 !st->failed
             ? 1
             : h2_st_live(st);
}

int chc_h2_stream_writable(const chc_h2_stream *st) {
  chc_h2 *h2 = st->h2;
  if (h2 == NULL || h2->dead != ALIVE || st->body_kind != CHC_H2_BODY_STREAM ||
      !h2_st_up_live(st) || st->up_end)
    return -1;
  return st->up.len < h2->upload_limit ? 1 : 0;
}

int chc_h2_stream_write(chc_h2_stream *st, const void *p, size_t n) {
  chc_h2 *h2 = st->h2;
  if (chc_h2_stream_writable(st) < 0) return -1;
  if (n == 0) return 0;
  if (chc_buf_append(&st->up, p, n) < 0) {
    /* no callback here: the caller learns it from the return value */
    st->failed = 1;
    h2_seterr(&st->err, CHC_EWRITE, "out of memory queueing the request body");
    chc_buf_free(&st->up);
    nghttp2_submit_rst_stream(h2->s, NGHTTP2_FLAG_NONE, st->id,
                              NGHTTP2_INTERNAL_ERROR);
    return -1;
  }
  if (st->up.len >= h2->upload_limit) st->up_blocked = 1;
  /* fails harmlessly when the HEADERS is still queued or the provider
  ** is not deferred: it will be asked anyway */
  nghttp2_session_resume_data(h2->s, st->id);
  return 0;
}

int chc_h2_stream_write_end(chc_h2_stream *st) {
  if (chc_h2_stream_writable(st) < 0) return -1;
  st->up_end = 1;
  nghttp2_session_resume_data(st->h2->s, st->id);
  return 0;
}

void chc_h2_stream_cancel(chc_h2_stream *st) {
  chc_h2 *h2 = st->h2;
  if (st->released || st->cancelled) return;
  if (h2 && h2->dead == ALIVE && !st->closed) {
    /* also cancels a HEADERS nghttp2 has not sent yet */
    nghttp2_submit_rst_stream(h2->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
  }
  if (!st->ended && !st->failed)
    h2_seterr(&st->err, CHC_ECANCELLED, "the request was cancelled");
  st->cancelled = 1;
  h2_st_drop_body(st);
  chc_buf_free(&st->up);
}

void chc_h2_stream_release(chc_h2_stream *st) {
  chc_h2 *h2 = st->h2;
  if (st->released) return;
  /* a tunnel both sides ended is not reset: what we queued (a WebSocket's
  ** close) and our END_STREAM go out, then nghttp2 closes it */
  st->finishing = st->tunnel && st->ended && st->up_end && !st->failed &&
                  !st->cancelled && h2 && h2->dead == ALIVE;
  if (!st->closed && !st->finishing) chc_h2_stream_cancel(st);
  h2_st_drop_body(st);
  st->released = 1;
  /* nghttp2 may still hold the pointer (queued HEADERS, RST to send):
  ** then on_stream_close or chc_h2_free frees it */
  if (h2 == NULL || st->closed || h2->dead == DEAD_HARD) h2_st_free(st);
}

/* }=================================================================== */

size_t chc_h2_stream_queued(const chc_h2_stream *st) { return st->up.len; }
