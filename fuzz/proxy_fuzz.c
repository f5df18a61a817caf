/*
** proxy_fuzz.c: libFuzzer driver for the proxy reply parsers (proxy.c):
** the HTTP proxy's answer to CONNECT and the three SOCKS5 replies.
**
** Input: one byte choosing the parser (0: CONNECT reply, 1: SOCKS5 method
** reply, 2: SOCKS5 auth reply, 3: SOCKS5 request reply, by value % 4),
** then the proxy's bytes. conn_proxy.c calls a parser again each time
** more bytes arrive, on the whole prefix received so far, so the driver
** does the same for every prefix and checks: a prefix never gets an
** answer that a longer prefix contradicts (0 "need more" until the answer,
** then the same answer for every longer prefix), a length used is within
** the bytes given, the reason phrase lies inside the head.
**
**   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc \
**     fuzz/proxy_fuzz.c src/proxy.c src/crypto.c src/buf.c src/common.c \
**     -lmbedcrypto -o /tmp/proxy_fuzz
**   /tmp/proxy_fuzz -max_total_time=600 fuzz/corpus/proxy
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"
#include "tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The parsers need no TLS; chc_proxy_new/free (linked, unused) do. */
void chc_tls_conf_free(chc_tls_conf *cf) { (void)cf; }
unsigned chc_tls_conf_id(const chc_tls_conf *cf) { (void)cf; return 0; }

typedef struct answer {
  int rc, v;
  size_t used;
  const char *reason;
  size_t rlen;
} answer;

/* Parses p[0..n) in a block of exactly n bytes so ASan sees overreads. */
static answer parse(int which, const uint8_t *in, size_t n) {
  answer a = {0};
  unsigned char *p = malloc(n ? n : 1);
  memcpy(p, in, n);
  switch (which) {
    case 0:
      a.rc = proxy_http_reply((const char *)p, n, &a.used, &a.v, &a.reason,
                              &a.rlen);
      if (a.rc == 1) {
        if (a.used == 0 || a.used > n) abort();
        if (a.v < 0 || a.v > 999) abort();
        if (a.rlen && ((const unsigned char *)a.reason < p ||
                       (const unsigned char *)a.reason + a.rlen > p + a.used))
          abort();
        a.reason = (const char *)((const unsigned char *)a.reason - p);
      }
      break;
    case 1:
      a.rc = socks5_method_reply(p, n, &a.v);
      break;
    case 2:
      a.rc = socks5_auth_reply(p, n, &a.v);
      break;
    default:
      a.rc = socks5_reply(p, n, &a.v);
      if (a.rc > 0 && !socks5_reply_str(a.v)) abort();
      break;
  }
  if (which && a.rc > 0) {
    if ((size_t)a.rc > n) abort();
    a.used = (size_t)a.rc;
    a.rc = 1;
  }
  free(p);
  return a;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int which;
  size_t n;
  answer first = {0};
  if (size < 1 || size > PROXY_MAX_HEAD + 64) return 0;
  which = data[0] % 4;
  data++, size--;
  for (n = 0; n <= size; n++) {
    answer a = parse(which, data, n);
    if (a.rc < -1 || a.rc > 1) abort();
    if (first.rc == 0) {
      first = a;
      continue;
    }
    /* once decided, more bytes never change the answer */
    if (a.rc != first.rc) abort();
    if (a.rc == 1 && (a.used != first.used || a.v != first.v ||
                      a.reason != first.reason || a.rlen != first.rlen))
      abort();
  }
  return 0;
}
