/*
** test_proxy.c: the proxy handshakes' messages (src/proxy.c), sans-I/O:
** the CONNECT request, the CONNECT answer parser and the SOCKS5
** builders and parsers, each answer fed at every length short of
** complete (a parser must ask for more, never misread a prefix).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

static int failures, checks;

static void fail(const char *file, int line, const char *what) {
  fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
  failures++;
}
#define CHECK(c) (checks++, (c) ? (void)0 : fail(__FILE__, __LINE__, #c))

static void test_connect_request(void) {
  chc_error e = {CHC_OK, ""};
  chc_hlist h;
  chc_buf b = CHC_BUF_INIT;
  chc_proxy *px;
  static const char want[] =
      "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n"
      "Proxy-Authorization: Basic YWxpY2U6czNjcmV0\r\nX-Team: web\r\n\r\n";
  memset(&h, 0, sizeof h);
  chc_hlist_add(&h, "X-Team", 6, "web", 3);
  px = chc_proxy_new(CHC_PROXY_HTTP, "127.0.0.1", 3128, "alice", "s3cret", &h,
                     NULL, &e);
  CHECK(px != NULL);
  CHECK(strcmp(px->name, "proxy 127.0.0.1:3128") == 0);
  CHECK(proxy_connect_request(&b, px, "example.com:443") == 0);
  CHECK(b.len == sizeof want - 1 && memcmp(chc_buf_head(&b), want, b.len) == 0);
  chc_buf_free(&b);
  chc_hlist_free(&h);
  chc_proxy_free(px);
  px = chc_proxy_new(CHC_PROXY_SOCKS5, "::1", 1080, NULL, NULL, NULL, NULL, &e);
  CHECK(px && strcmp(px->name, "proxy [::1]:1080") == 0 && px->hdrs.len == 0);
  chc_proxy_free(px);
}

static void test_http_reply(void) {
  static const char ok[] =
      "HTTP/1.1 200 Connection established\r\nVia: x\r\n\r\nREST";
  static const char refused[] = "HTTP/1.0 407 Proxy Authentication Required\n\n";
  size_t hl = 0, rl = 0, n, end = sizeof ok - 1 - 4;
  int st = 0;
  const char *reason = NULL;
  for (n = 0; n < end; n++)
    CHECK(proxy_http_reply(ok, n, &hl, &st, &reason, &rl) == 0);
  for (n = end; n <= sizeof ok - 1; n++) {
    CHECK(proxy_http_reply(ok, n, &hl, &st, &reason, &rl) == 1);
    CHECK(hl == end && st == 200 && rl == 22 &&
          memcmp(reason, "Connection established", rl) == 0);
  }
  CHECK(proxy_http_reply(refused, sizeof refused - 1, &hl, &st, &reason,
                         &rl) == 1);
  CHECK(st == 407 && hl == sizeof refused - 1);
  CHECK(proxy_http_reply("SSH-2.0-x", 9, &hl, &st, &reason, &rl) == -1);
  CHECK(proxy_http_reply("HTTP/1.1 2x0 OK\r\n\r\n", 19, &hl, &st, &reason,
                         &rl) == -1);
  CHECK(proxy_http_reply("HTTP/1.1 200\r\n\r\n", 16, &hl, &st, &reason,
                         &rl) == 1 && st == 200 && rl == 0);
}

static void test_socks(void) {
  unsigned char m[600];
  static const unsigned char v4[] = {5, 0, 0, 1, 127, 0, 0, 1, 0x1f, 0x90};
  static const unsigned char v6[] = {5, 5, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0,
                                     0, 0, 0, 0, 0, 0, 0, 1, 0, 80};
  static const unsigned char dn[] = {5, 0, 0, 3, 3, 'a', '.', 'b', 1, 0};
  static const unsigned char *const replies[] = {v4, v6, dn};
  static const size_t lens[] = {sizeof v4, sizeof v6, sizeof dn};
  size_t i, n;
  int v = -1;
  CHECK(socks5_greeting(m, 0) == 3 && memcmp(m, "\5\1\0", 3) == 0);
  CHECK(socks5_greeting(m, 1) == 4 && memcmp(m, "\5\2\0\2", 4) == 0);
  CHECK(socks5_method_reply((const unsigned char *)"\5", 1, &v) == 0);
  CHECK(socks5_method_reply((const unsigned char *)"\5\2", 2, &v) == 2 &&
        v == 2);
  CHECK(socks5_method_reply((const unsigned char *)"\4", 1, &v) == -1);
  CHECK(socks5_auth(m, sizeof m, "al", "pw") == 7 &&
        memcmp(m, "\1\2al\2pw", 7) == 0);
  CHECK(socks5_auth(m, sizeof m, "", "pw") == 0);
  CHECK(socks5_auth_reply((const unsigned char *)"\1\1", 2, &v) == 2 && v == 1);
  CHECK(socks5_request(m, sizeof m, "10.1.2.3", 443) == 10 &&
        memcmp(m, "\5\1\0\1\12\1\2\3\1\273", 10) == 0);
  CHECK(socks5_request(m, sizeof m, "::1", 80) == 22 && m[3] == 4 &&
        m[19] == 1 && m[21] == 80);
  CHECK(socks5_request(m, sizeof m, "example.com", 80) == 18 && m[3] == 3 &&
        m[4] == 11 && memcmp(m + 5, "example.com", 11) == 0);
  for (i = 0; i < 3; i++) {
    for (n = 0; n < lens[i]; n++)
      CHECK(socks5_reply(replies[i], n, &v) == 0);
    CHECK(socks5_reply(replies[i], lens[i], &v) == (int)lens[i]);
  }
  CHECK(socks5_reply(v6, sizeof v6, &v) == 22 && v == 5);
  CHECK(strcmp(socks5_reply_str(5), "connection refused") == 0);
  CHECK(socks5_reply((const unsigned char *)"\5\0\0\7\0", 5, &v) == -1);
  CHECK(socks5_reply((const unsigned char *)"HTTP", 4, &v) == -1);
}

int main(void) {
  test_connect_request();
  test_http_reply();
  test_socks();
  printf("test_proxy: %d checks, %d failed\n", checks, failures);
  return failures != 0;
}
