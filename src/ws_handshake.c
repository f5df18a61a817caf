/*
** ws_handshake.c: the client side of the WebSocket opening handshake
** (RFC 6455 4.1, 4.2.2 and 9.1; RFC 7692 5 and 7.1; RFC 8441 4): the
** request's fields and the checks of the server's answer.
*/
#include "ws.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "crypto.h"

static const char GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

void chc_ws_key(char out[CHC_WS_KEY_LEN + 1], const unsigned char nonce[16]) {
  chc_base64(out, CHC_WS_KEY_LEN + 1, nonce, 16);
}

void chc_ws_accept(char out[CHC_WS_ACCEPT_LEN + 1], const char *key,
                   size_t keylen) {
  char buf[128];
  unsigned char d[20];
  if (keylen > sizeof buf - (sizeof GUID - 1)) keylen = 0; /* never ours */
  memcpy(buf, key, keylen);
  memcpy(buf + keylen, GUID, sizeof GUID - 1);
  chc_sha1(buf, keylen + sizeof GUID - 1, d);
  chc_base64(out, CHC_WS_ACCEPT_LEN + 1, d, sizeof d);
}

int chc_ws_offer_key(chc_ws_offer *o, chc_ws_random_fn rnd, void *ud) {
  unsigned char nonce[16];
  if (rnd(ud, nonce, sizeof nonce) != 0) return -1;
  chc_ws_key(o->key, nonce);
  return 0;
}

/* RFC 9110 5.6.2 tchar */
static int tchar(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int is_token(const char *p, size_t n) {
  size_t i;
  if (n == 0) return 0;
  for (i = 0; i < n; i++)
    if (!tchar((unsigned char)p[i])) return 0;
  return 1;
}

static int add(chc_hlist *h, const char *name, const char *v, size_t vl) {
  return chc_hlist_add(h, name, strlen(name), v, vl);
}

int chc_ws_request_fields(const chc_ws_offer *o, chc_hlist *h, chc_error *e) {
  chc_buf pv = CHC_BUF_INIT, ev = CHC_BUF_INIT;
  size_t i, n0 = h->n, s0 = h->store.len;
  int bad = 0, h2 = o->h2;
  for (i = 0; i < o->nprotocols; i++) {
    const char *s = o->protocols[i];
    if (s == NULL || !is_token(s, strlen(s))) {
      chc_buf_free(&pv);
      chc_seterr(e, CHC_ELOCAL_PROTO,
                 "WebSocket subprotocol %zu is not a token", i + 1);
      return -1;
    }
    bad |= chc_buf_appendf(&pv, "%s%s", i ? ", " : "", s);
  }
  if (o->deflate) {
    int b = o->server_max_window_bits;
    if (b != 0 && (b < 8 || b > 15)) {
      chc_buf_free(&pv);
      chc_seterr(e, CHC_ELOCAL_PROTO,
                 "server_max_window_bits must be 8 to 15, not %d", b);
      return -1;
    }
    /* RFC 7692 7.1.2.2: without a value, the server may pick our window */
    bad |= chc_buf_appendf(&ev, "permessage-deflate; client_max_window_bits");
    if (o->server_no_context_takeover)
      bad |= chc_buf_appendf(&ev, "; server_no_context_takeover");
    if (o->client_no_context_takeover)
      bad |= chc_buf_appendf(&ev, "; client_no_context_takeover");
    if (b) bad |= chc_buf_appendf(&ev, "; server_max_window_bits=%d", b);
  }
  if (!h2) {
    bad |= add(h, "Upgrade", "websocket", 9);
    bad |= add(h, "Connection", "Upgrade", 7);
    bad |= add(h, "Sec-WebSocket-Key", o->key, strlen(o->key));
  }
  bad |= add(h, h2 ? "sec-websocket-version" : "Sec-WebSocket-Version", "13",
             2);
  if (pv.len)
    bad |= add(h, h2 ? "sec-websocket-protocol" : "Sec-WebSocket-Protocol",
               chc_buf_head(&pv), pv.len);
  if (ev.len)
    bad |= add(h, h2 ? "sec-websocket-extensions" : "Sec-WebSocket-Extensions",
               chc_buf_head(&ev), ev.len);
  chc_buf_free(&pv);
  chc_buf_free(&ev);
  if (bad) { /* out of memory: take back what was added */
    h->n = n0;
    h->store.len = s0;
    errno = ENOMEM;
    return -1;
  }
  return 0;
}

/* {=====================================================================
** The answer
** ====================================================================== */

static const char *skip_ows(const char *p, const char *e) {
  while (p < e && (*p == ' ' || *p == '\t')) p++;
  return p;
}

/* The value without surrounding OWS. */
static void trim(const char **p, size_t *n) {
  const char *e = *p + *n;
  *p = skip_ows(*p, e);
  while (e > *p && (e[-1] == ' ' || e[-1] == '\t')) e--;
  *n = (size_t)(e - *p);
}

static int fieldeq(const chc_hlist *h, size_t i, const char *name) {
  return h->f[i].name_len == strlen(name) &&
         strcasecmp(chc_hlist_name(h, i), name) == 0;
}

/* 1 if one of the comma-separated elements of any `name` field equals
** want (case-insensitively), else 0. */
static int list_has(const chc_hlist *h, const char *name, const char *want) {
  size_t i, wl = strlen(want);
  for (i = 0; i < h->n; i++) {
    const char *p, *e;
    if (!fieldeq(h, i, name)) continue;
    p = chc_hlist_value(h, i);
    e = p + h->f[i].value_len;
    while (p < e) {
      const char *c = memchr(p, ',', (size_t)(e - p));
      const char *s = p;
      size_t n;
      if (c == NULL) c = e;
      n = (size_t)(c - s);
      trim(&s, &n);
      if (n == wl && strncasecmp(s, want, wl) == 0) return 1;
      p = c + 1;
    }
  }
  return 0;
}

/* The only value of `name`: 1 with it (trimmed), 0 if absent, -1 if the
** field appears more than once. */
static int single(const chc_hlist *h, const char *name, const char **v,
                  size_t *vl) {
  size_t i;
  int seen = 0;
  for (i = 0; i < h->n; i++) {
    if (!fieldeq(h, i, name)) continue;
    if (seen++) return -1;
    *v = chc_hlist_value(h, i);
    *vl = h->f[i].value_len;
    trim(v, vl);
  }
  return seen;
}

/*
** Sec-WebSocket-Extensions (RFC 6455 9.1):
**   extension = extension-token *( ";" extension-param )
**   extension-param = token [ "=" (token | quoted-string) ]
** A quoted value must be a token once unescaped. A small scanner over one
** field value: tokens and separators, with OWS skipped.
*/
typedef struct scan {
  const char *p, *e;
  char val[32]; /* a parameter value, unescaped; ours are short */
  size_t vl;
} scan;

/* A token into (t, tl); 0, or -1 if none is there. */
static int scan_token(scan *s, const char **t, size_t *tl) {
  const char *b;
  s->p = skip_ows(s->p, s->e);
  b = s->p;
  while (s->p < s->e && tchar((unsigned char)*s->p)) s->p++;
  *t = b;
  *tl = (size_t)(s->p - b);
  return *tl ? 0 : -1;
}

/* A parameter value (token or quoted-string) into s->val. */
static int scan_value(scan *s) {
  const char *t;
  size_t tl;
  s->p = skip_ows(s->p, s->e);
  s->vl = 0;
  if (s->p < s->e && *s->p == '"') {
    for (s->p++; s->p < s->e && *s->p != '"'; s->p++) {
      if (*s->p == '\\' && ++s->p == s->e) return -1;
      if (s->vl == sizeof s->val - 1) return -1;
      s->val[s->vl++] = *s->p;
    }
    if (s->p == s->e) return -1;
    s->p++;
    s->val[s->vl] = '\0';
    return is_token(s->val, s->vl) ? 0 : -1;
  }
  if (scan_token(s, &t, &tl) < 0 || tl >= sizeof s->val) return -1;
  memcpy(s->val, t, tl);
  s->val[tl] = '\0';
  s->vl = tl;
  return 0;
}

/* The next separator: ';', ',' or 0 at the end; -1 for anything else. */
static int scan_sep(scan *s) {
  s->p = skip_ows(s->p, s->e);
  if (s->p == s->e) return 0;
  if (*s->p == ';' || *s->p == ',') return *s->p++;
  return -1;
}

/* RFC 7692 7.1.2: "a decimal integer without leading zeroes between 8
** and 15, inclusive" */
static int window_bits(const scan *s) {
  if (s->vl == 1 && s->val[0] >= '8' && s->val[0] <= '9')
    return s->val[0] - '0';
  if (s->vl == 2 && s->val[0] == '1' && s->val[1] >= '0' && s->val[1] <= '5')
    return 10 + s->val[1] - '0';
  return -1;
}

/* One permessage-deflate element's parameters, up to the ',' or the end.
** Returns the separator that ended it, or -1 with e set. */
static int pmd_params(scan *s, const chc_ws_offer *o, chc_ws_pmd *pmd,
                      chc_error *e) {
  int sep, seen = 0;
  pmd->enabled = 1;
  pmd->server_max_window_bits = pmd->client_max_window_bits = 15;
  while ((sep = scan_sep(s)) == ';') {
    const char *t;
    size_t tl;
    int bit, has = 0, *bits = NULL;
    if (scan_token(s, &t, &tl) < 0) goto syntax;
    if (tl == 26 && strncasecmp(t, "server_no_context_takeover", tl) == 0) {
      bit = 1;
      pmd->server_no_context_takeover = 1;
    } else if (tl == 26 &&
               strncasecmp(t, "client_no_context_takeover", tl) == 0) {
      bit = 2;
      pmd->client_no_context_takeover = 1;
    } else if (tl == 22 && strncasecmp(t, "server_max_window_bits", tl) == 0) {
      bit = 4;
      bits = &pmd->server_max_window_bits;
    } else if (tl == 22 && strncasecmp(t, "client_max_window_bits", tl) == 0) {
      bit = 8;
      bits = &pmd->client_max_window_bits;
    } else {
      chc_seterr(e, CHC_EREMOTE_PROTO,
                 "WebSocket handshake: unknown permessage-deflate parameter "
                 "\"%.*s\"", (int)(tl > 64 ? 64 : tl), t);
      return -1;
    }
    if (seen & bit) {
      chc_seterr(e, CHC_EREMOTE_PROTO,
                 "WebSocket handshake: permessage-deflate parameter \"%.*s\" "
                 "given twice", (int)tl, t);
      return -1;
    }
    seen |= bit;
    s->p = skip_ows(s->p, s->e);
    if (s->p < s->e && *s->p == '=') {
      s->p++;
      if (scan_value(s) < 0) goto syntax;
      has = 1;
    }
    if (bits ? !has || (*bits = window_bits(s)) < 0 : has) {
      chc_seterr(e, CHC_EREMOTE_PROTO,
                 "WebSocket handshake: permessage-deflate parameter \"%.*s\" "
                 "has an invalid value", (int)tl, t);
      return -1;
    }
  }
  if (sep < 0) goto syntax;
  /* what we asked for must be in the answer (RFC 7692 7.1.1.1, 7.1.2.1);
  ** client_no_context_takeover is a hint the server may ignore (7.1.1.2) */
  if ((o->server_no_context_takeover && !(seen & 1)) ||
      (o->server_max_window_bits &&
       (!(seen & 4) ||
        pmd->server_max_window_bits > o->server_max_window_bits))) {
    chc_seterr(e, CHC_EREMOTE_PROTO,
               "WebSocket handshake: permessage-deflate answer does not "
               "grant the parameters offered");
    return -1;
  }
  return sep;
syntax:
  chc_seterr(e, CHC_EREMOTE_PROTO,
             "WebSocket handshake: malformed Sec-WebSocket-Extensions");
  return -1;
}

static int check_extensions(const chc_ws_offer *o, const chc_hlist *h,
                            chc_ws_pmd *pmd, chc_error *e) {
  size_t i;
  for (i = 0; i < h->n; i++) {
    scan s;
    int sep;
    if (!fieldeq(h, i, "Sec-WebSocket-Extensions")) continue;
    s.p = chc_hlist_value(h, i);
    s.e = s.p + h->f[i].value_len;
    do {
      const char *t;
      size_t tl;
      if ((sep = scan_sep(&s)) == ',') continue; /* empty list element */
      if (sep == 0) break;
      if (sep > 0 || scan_token(&s, &t, &tl) < 0) {
        chc_seterr(e, CHC_EREMOTE_PROTO,
                   "WebSocket handshake: malformed Sec-WebSocket-Extensions");
        return -1;
      }
      if (!o->deflate || tl != 18 ||
          strncasecmp(t, "permessage-deflate", tl) != 0) {
        chc_seterr(e, CHC_EREMOTE_PROTO,
                   "WebSocket handshake: the server accepted extension "
                   "\"%.*s\", which was not offered",
                   (int)(tl > 64 ? 64 : tl), t);
        return -1;
      }
      if (pmd->enabled) {
        chc_seterr(e, CHC_EREMOTE_PROTO,
                   "WebSocket handshake: permessage-deflate accepted twice");
        return -1;
      }
      if ((sep = pmd_params(&s, o, pmd, e)) < 0) return -1;
    } while (sep == ',');
  }
  return 0;
}

int chc_ws_check_response(const chc_ws_offer *o, int status,
                          const chc_hlist *h, chc_ws_accepted *a,
                          chc_error *e) {
  const char *v;
  size_t vl, i;
  int r;
  memset(a, 0, sizeof *a);
  a->protocol = -1;
  if (o->h2 ? status < 200 || status > 299 : status != 101) {
    chc_seterr(e, CHC_EREMOTE_PROTO,
               "WebSocket handshake refused: status %d (expected %s)", status,
               o->h2 ? "2xx" : "101");
    return -1;
  }
  if (!o->h2) {
    char want[CHC_WS_ACCEPT_LEN + 1];
    /* RFC 6455 4.2.2: "Upgrade: websocket", "Connection: Upgrade" */
    if (single(h, "Upgrade", &v, &vl) != 1 || vl != 9 ||
        strncasecmp(v, "websocket", 9) != 0) {
      chc_seterr(e, CHC_EREMOTE_PROTO,
                 "WebSocket handshake: Upgrade is not \"websocket\"");
      return -1;
    }
    if (!list_has(h, "Connection", "upgrade")) {
      chc_seterr(e, CHC_EREMOTE_PROTO,
                 "WebSocket handshake: Connection does not name Upgrade");
      return -1;
    }
    chc_ws_accept(want, o->key, strlen(o->key));
    if ((r = single(h, "Sec-WebSocket-Accept", &v, &vl)) != 1 ||
        vl != CHC_WS_ACCEPT_LEN || memcmp(v, want, vl) != 0) {
      chc_seterr(e, CHC_EREMOTE_PROTO, "WebSocket handshake: %s",
                 r == 0 ? "no Sec-WebSocket-Accept"
                        : "Sec-WebSocket-Accept does not match the key");
      return -1;
    }
  }
  if ((r = single(h, "Sec-WebSocket-Protocol", &v, &vl)) != 0) {
    for (i = 0; r == 1 && i < o->nprotocols; i++)
      if (strlen(o->protocols[i]) == vl &&
          memcmp(o->protocols[i], v, vl) == 0)
        break;
    if (r < 0 || i == o->nprotocols) {
      chc_seterr(e, CHC_EREMOTE_PROTO,
                 "WebSocket handshake: the server chose subprotocol "
                 "\"%.*s\", which was not offered",
                 r < 0 ? 0 : (int)(vl > 64 ? 64 : vl), r < 0 ? "" : v);
      return -1;
    }
    a->protocol = (int)i;
  }
  return check_extensions(o, h, &a->pmd, e);
}

/* }===================================================================== */
