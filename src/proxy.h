/*
** proxy.h: a pool's proxy (proxy.c) and the sans-I/O halves of the two
** proxy handshakes: the HTTP CONNECT request and its answer, and the
** SOCKS5 messages (RFC 1928, with RFC 1929 username/password). Nothing
** here touches a socket: conn_proxy.c runs these as steps of a
** connection's chain (conn.h), and fuzz drivers can feed the parsers
** bytes.
*/
#ifndef CHC_PROXY_H
#define CHC_PROXY_H

#include <stddef.h>

#include "buf.h"
#include "common.h"
#include "tls.h"

enum {
  CHC_PROXY_HTTP = 1, /* forward http://, CONNECT the rest */
  CHC_PROXY_HTTPS,    /* the same, over TLS to the proxy */
  CHC_PROXY_SOCKS5,   /* names resolved here */
  CHC_PROXY_SOCKS5H   /* names resolved by the proxy */
};

/* A pool's proxy: read-only once made, owned by the pool. */
typedef struct chc_proxy {
  int kind;
  char *host; /* bare (IPv6 without brackets) */
  int port;
  char *user, *pass; /* NULL: no credentials */
  /* header lines sent to an HTTP proxy, with the CONNECT and with every
  ** forwarded request: "Proxy-Authorization: Basic ...\r\n" (from the
  ** credentials) and the caller's proxy headers, each ending in CRLF */
  chc_buf hdrs;
  chc_tls_conf *tls; /* CHC_PROXY_HTTPS: TLS to the proxy itself */
  char name[80];     /* "proxy host:port", for messages */
  char key[400];     /* what sets it apart in a pool's origin keys */
} chc_proxy;

/* Makes a proxy; user/pass may be NULL, headers (copied) may be NULL. On
** success takes ownership of tls; on failure (NULL, e set) frees it. */
chc_proxy *chc_proxy_new(int kind, const char *host, int port,
                         const char *user, const char *pass,
                         const chc_hlist *headers, chc_tls_conf *tls,
                         chc_error *e);
void chc_proxy_free(chc_proxy *px);

/* Appends "CONNECT hostport HTTP/1.1" with Host and the proxy's header
** lines to out. 0, or -1 out of memory. */
int proxy_connect_request(chc_buf *out, const chc_proxy *px,
                          const char *hostport);

/*
** Parses the proxy's answer to a CONNECT in p[0..n): 1 when the head is
** complete (*head_len: its length with the blank line; *status; the
** reason phrase in reason[0..*rlen)), 0 when more bytes are needed, -1
** when it is not an HTTP/1.x status line (or the head exceeds 16 KiB).
*/
#define PROXY_MAX_HEAD 16384
int proxy_http_reply(const char *p, size_t n, size_t *head_len, int *status,
                     const char **reason, size_t *rlen);

/* SOCKS5. Builders return the message length (0: does not fit / too long
** a name or credential); parsers return the length used (> 0), 0 for more
** bytes, -1 for a malformed message. */
size_t socks5_greeting(unsigned char *out, int with_auth);
int socks5_method_reply(const unsigned char *p, size_t n, int *method);
size_t socks5_auth(unsigned char *out, size_t cap, const char *user,
                   const char *pass);
int socks5_auth_reply(const unsigned char *p, size_t n, int *status);
/* host: an IPv4 or IPv6 literal is sent as an address, anything else as a
** domain name (the proxy resolves it). */
size_t socks5_request(unsigned char *out, size_t cap, const char *host,
                      int port);
int socks5_reply(const unsigned char *p, size_t n, int *rep);
const char *socks5_reply_str(int rep); /* RFC 1928 section 6 */

#endif
