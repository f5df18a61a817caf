/*
** bench/curlbench.c: the libcurl peer of bench/run.sh (built only when the
** libcurl headers are there; nothing is installed for it).
**
**   curlbench easy  URL N [opt...]     one easy handle, N sequential GETs
**                                      (its connection is reused)
**   curlbench close URL N [opt...]     N GETs, CURLOPT_FORBID_REUSE: a new
**                                      connection (and TLS handshake) each
**   curlbench multi URL N C [opt...]   multi interface, C transfers in
**                                      flight until N are done
** opts: h1 (force HTTP/1.1), h2 (HTTP/2 over TLS by ALPN), mux (HTTP/2
** multiplexing on ONE connection: CURLPIPE_MULTIPLEX, 1 connection per host)
**
** Every response must be 200 with a 13-byte body ("Hello, World!"), else it
** counts as an error (exit 1). Certificates are not verified (self-signed
** test cert), as with curl -k. Prints the same RESULT line as bench/chc.lua.
*/
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BODY_LEN 13

typedef struct xfer {
  CURL *e;
  size_t got;
} xfer;

static int opt_h1, opt_h2, opt_mux;
static long errors;
static unsigned long long total_bytes;

static double mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
  xfer *x = ud;
  (void)p;
  x->got += sz * n;
  return sz * n;
}

static void prepare(xfer *x, const char *url) {
  CURL *e = x->e;
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT, 60L);
  if (opt_h2)
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
  else if (opt_h1)
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
  if (opt_mux) curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
}

/* checks a finished transfer and counts it */
static void finish(xfer *x, CURLcode rc) {
  long code = 0;
  curl_easy_getinfo(x->e, CURLINFO_RESPONSE_CODE, &code);
  if (rc != CURLE_OK || code != 200 || x->got != BODY_LEN) {
    if (errors++ == 0)
      fprintf(stderr, "curlbench: %s, status %ld, %zu body bytes\n",
              curl_easy_strerror(rc), code, x->got);
  }
  total_bytes += x->got;
  x->got = 0;
}

static long run_seq(const char *url, long n, int forbid_reuse) {
  xfer x = {curl_easy_init(), 0};
  long i;
  prepare(&x, url);
  if (forbid_reuse) curl_easy_setopt(x.e, CURLOPT_FORBID_REUSE, 1L);
  for (i = 0; i < n; i++) finish(&x, curl_easy_perform(x.e));
  curl_easy_cleanup(x.e);
  return n;
}

static long run_multi(const char *url, long n, long c) {
  CURLM *m = curl_multi_init();
  xfer *xs = calloc((size_t)c, sizeof *xs);
  long started = 0, done = 0, i;
  int running = 0;
  if (!xs) return 0;
  curl_multi_setopt(m, CURLMOPT_PIPELINING, opt_mux ? CURLPIPE_MULTIPLEX : 0L);
  curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, c + 8);
  if (opt_mux) {
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, 1L);
    curl_multi_setopt(m, CURLMOPT_MAX_CONCURRENT_STREAMS, c);
  }
  for (i = 0; i < c && started < n; i++, started++) {
    xs[i].e = curl_easy_init();
    prepare(&xs[i], url);
    curl_easy_setopt(xs[i].e, CURLOPT_PRIVATE, &xs[i]);
    curl_multi_add_handle(m, xs[i].e);
  }
  do {
    CURLMsg *msg;
    int left;
    curl_multi_perform(m, &running);
    while ((msg = curl_multi_info_read(m, &left)) != NULL) {
      xfer *x;
      if (msg->msg != CURLMSG_DONE) continue;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
      finish(x, msg->data.result);
      done++;
      curl_multi_remove_handle(m, x->e);
      if (started < n) { /* the handle goes round again */
        started++;
        curl_multi_add_handle(m, x->e);
        running = 1;
      }
    }
    if (running) curl_multi_poll(m, NULL, 0, 1000, NULL);
  } while (running || done < started);
  for (i = 0; i < c; i++)
    if (xs[i].e) curl_easy_cleanup(xs[i].e);
  free(xs);
  curl_multi_cleanup(m);
  return done;
}

int main(int argc, char **argv) {
  const char *mode, *url;
  long n, c = 1, done;
  int i = 4;
  double t0, secs;
  if (argc < 4) {
    fprintf(stderr, "usage: curlbench easy|close|multi URL N [C] [h1|h2|mux]...\n");
    return 2;
  }
  mode = argv[1];
  url = argv[2];
  n = atol(argv[3]);
  if (strcmp(mode, "multi") == 0) {
    if (argc < 5) return 2;
    c = atol(argv[4]);
    i = 5;
  }
  for (; i < argc; i++) {
    if (strcmp(argv[i], "h1") == 0) opt_h1 = 1;
    else if (strcmp(argv[i], "h2") == 0) opt_h2 = 1;
    else if (strcmp(argv[i], "mux") == 0) opt_mux = 1;
    else { fprintf(stderr, "curlbench: unknown option %s\n", argv[i]); return 2; }
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  t0 = mono();
  if (strcmp(mode, "easy") == 0) done = run_seq(url, n, 0);
  else if (strcmp(mode, "close") == 0) done = run_seq(url, n, 1);
  else if (strcmp(mode, "multi") == 0) done = run_multi(url, n, c);
  else { fprintf(stderr, "curlbench: unknown mode %s\n", mode); return 2; }
  secs = mono() - t0;
  curl_global_cleanup();
  if (done != n) errors++;
  printf("RESULT requests=%ld bytes=%llu secs=%.4f rate=%.1f unit=req/s errors=%ld\n",
         done, total_bytes, secs, done / secs, errors);
  return errors ? 1 : 0;
}
