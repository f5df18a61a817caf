/*
** proxy.c: a pool's proxy settings and the sans-I/O halves of the proxy
** handshakes (see proxy.h). The steps that run them over a connection are
** in conn_proxy.c.
*/
#include "proxy.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"

/* {===================================================================
** The proxy object
** ==================================================================== */

static char *dup_or_null(const char *s, int *oom) {
  char *d;
  if (s == NULL) return NULL;
  d = strdup(s);
  if (d == NULL) *oom = 1;
  return d;
}

/* "Proxy-Authorization: Basic base64(user:pass)" (RFC 7617). */
static int add_basic(chc_buf *b, const char *user, const char *pass) {
  size_t ul = strlen(user), pl = strlen(pass), n = ul + 1 + pl;
  char *raw = malloc(n + 1), *enc = malloc(4 * ((n + 2) / 3) + 1);
  int r = -1;
  if (raw && enc) {
    snprintf(raw, n + 1, "%s:%s", user, pass);
    chc_base64(enc, 4 * ((n + 2) / 3) + 1, raw, n);
    r = chc_buf_appendf(b, "Proxy-Authorization: Basic %s\r\n", enc);
  }
  free(raw);
  free(enc);
  return r;
}

chc_proxy *chc_proxy_new(int kind, const char *host, int port,
                         const char *user, const char *pass,
                         const chc_hlist *headers, chc_tls_conf *tls,
                         chc_error *e) {
  chc_proxy *px = calloc(1, sizeof *px);
  int oom = 0;
  size_t i;
  if (px == NULL) {
    chc_tls_conf_free(tls);
    chc_seterr(e, CHC_ELOCAL_PROTO, "out of memory");
    return NULL;
  }
  px->kind = kind;
  px->port = port;
  px->tls = tls;
  px->host = dup_or_null(host, &oom);
  px->user = dup_or_null(user, &oom);
  px->pass = dup_or_null(pass ? pass : (user ? "" : NULL), &oom);
  if (!oom && (kind == CHC_PROXY_HTTP || kind == CHC_PROXY_HTTPS)) {
    if (user && add_basic(&px->hdrs, user, px->pass) < 0) oom = 1;
    for (i = 0; headers && i < headers->n && !oom; i++)
      if (chc_buf_appendf(&px->hdrs, "%.*s: %.*s\r\n",
                          (int)headers->f[i].name_len,
                          chc_hlist_name(headers, i),
                          (int)headers->f[i].value_len,
                          chc_hlist_value(headers, i)) < 0)
        oom = 1;
  }
  if (oom || px->host == NULL) {
    chc_proxy_free(px);
    chc_seterr(e, CHC_ELOCAL_PROTO, "out of memory");
    return NULL;
  }
  snprintf(px->name, sizeof px->name,
           strchr(host, ':') ? "proxy [%s]:%d" : "proxy %s:%d", host, port);
  snprintf(px->key, sizeof px->key, "%d|%s|%d|%s|%u", kind, host, port,
           user ? user : "", tls ? chc_tls_conf_id(tls) : 0u);
  return px;
}

void chc_proxy_free(chc_proxy *px) {
  if (px == NULL) return;
  free(px->host);
  free(px->user);
  free(px->pass);
  chc_buf_free(&px->hdrs);
  chc_tls_conf_free(px->tls);
  free(px);
}

/* }=================================================================== */

/* {===================================================================
** HTTP CONNECT (RFC 9110 9.3.6)
** ==================================================================== */

int proxy_connect_request(chc_buf *out, const chc_proxy *px,
                          const char *hostport) {
  if (chc_buf_appendf(out, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n", hostport,
                      hostport) < 0 ||
      (px->hdrs.len > 0 &&
       chc_buf_append(out, chc_buf_head(&px->hdrs), px->hdrs.len) < 0) ||
      chc_buf_append(out, "\r\n", 2) < 0)
    return -1;
  return 0;
}

/* The end of the head: after "\r\n\r\n" (or a bare "\n\n"), or 0. */
static size_t head_end(const char *p, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    if (p[i] != '\n') continue;
    if (i + 1 < n && p[i + 1] == '\n') return i + 2;
    if (i + 2 < n && p[i + 1] == '\r' && p[i + 2] == '\n') return i + 3;
  }
  return 0;
}

int proxy_http_reply(const char *p, size_t n, size_t *head_len, int *status,
                     const char **reason, size_t *rlen) {
  size_t end, i;
  /* "HTTP/1.x NNN" is enough to refuse garbage before the head ends */
  static const char pre[] = "HTTP/1.";
  for (i = 0; i < n && i < sizeof pre - 1; i++)
    if (p[i] != pre[i]) return -1;
  end = head_end(p, n);
  if (end == 0) return n >= PROXY_MAX_HEAD ? -1 : 0;
  if (n < 12 || (p[7] != '0' && p[7] != '1') || p[8] != ' ' ||
      p[9] < '1' || p[9] > '9' || p[10] < '0' || p[10] > '9' ||
      p[11] < '0' || p[11] > '9' || (p[12] != ' ' && p[12] != '\r' &&
                                     p[12] != '\n'))
    return -1;
  *status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
  *reason = p + 12 + (p[12] == ' ');
  for (i = (size_t)(*reason - p); i < end && p[i] != '\r' && p[i] != '\n';)
    i++;
  *rlen = i - (size_t)(*reason - p);
  *head_len = end;
  return 1;
}

/* }=================================================================== */

/* {===================================================================
** SOCKS5 (RFC 1928, RFC 1929)
** ==================================================================== */

size_t socks5_greeting(unsigned char *out, int with_auth) {
  out[0] = 5;
  out[1] = with_auth ? 2 : 1;
  out[2] = 0; /* no authentication */
  out[3] = 2; /* username/password */
  return with_auth ? 4 : 3;
}

int socks5_method_reply(const unsigned char *p, size_t n, int *method) {
  if (n < 2) return n > 0 && p[0] != 5 ? -1 : 0;
  if (p[0] != 5) return -1;
  *method = p[1];
  return 2;
}

size_t socks5_auth(unsigned char *out, size_t cap, const char *user,
                   const char *pass) {
  size_t ul = strlen(user), pl = strlen(pass);
  if (ul == 0 || ul > 255 || pl > 255 || cap < 3 + ul + pl) return 0;
  out[0] = 1;
  out[1] = (unsigned char)ul;
  memcpy(out + 2, user, ul);
  out[2 + ul] = (unsigned char)pl;
  memcpy(out + 3 + ul, pass, pl);
  return 3 + ul + pl;
}

int socks5_auth_reply(const unsigned char *p, size_t n, int *status) {
  if (n < 2) return n > 0 && p[0] != 1 ? -1 : 0;
  if (p[0] != 1) return -1;
  *status = p[1];
  return 2;
}

size_t socks5_request(unsigned char *out, size_t cap, const char *host,
                      int port) {
  unsigned char a[16];
  size_t n = 4, hl = strlen(host);
  out[0] = 5;
  out[1] = 1; /* CONNECT */
  out[2] = 0;
  if (inet_pton(AF_INET, host, a) == 1) {
    if (cap < 10) return 0;
    out[3] = 1;
    memcpy(out + 4, a, 4);
    n += 4;
  } else if (inet_pton(AF_INET6, host, a) == 1) {
    if (cap < 22) return 0;
    out[3] = 4;
    memcpy(out + 4, a, 16);
    n += 16;
  } else {
    if (hl == 0 || hl > 255 || cap < 7 + hl) return 0;
    out[3] = 3;
    out[4] = (unsigned char)hl;
    memcpy(out + 5, host, hl);
    n += 1 + hl;
  }
  out[n++] = (unsigned char)(port >> 8);
  out[n++] = (unsigned char)(port & 0xff);
  return n;
}

int socks5_reply(const unsigned char *p, size_t n, int *rep) {
  size_t need;
  if (n >= 1 && p[0] != 5) return -1;
  if (n >= 3 && p[2] != 0) return -1;
  if (n < 5) return 0;
  switch (p[3]) {
    case 1: need = 4 + 4 + 2; break;
    case 4: need = 4 + 16 + 2; break;
    case 3: need = 4 + 1 + (size_t)p[4] + 2; break;
    default: return -1;
  }
  if (n < need) return 0;
  *rep = p[1];
  return (int)need;
}

const char *socks5_reply_str(int rep) {
  static const char *const s[] = {
      "succeeded",
      "general SOCKS server failure",
      "connection not allowed by ruleset",
      "network unreachable",
      "host unreachable",
      "connection refused",
      "TTL expired",
      "command not supported",
      "address type not supported"};
  return rep >= 0 && rep < 9 ? s[rep] : "unassigned reply code";
}

/* }=================================================================== */
