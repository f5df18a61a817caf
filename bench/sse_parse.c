/*
** sse_parse.c: the SSE parser alone, no I/O: how many events per second
** it turns 1,000,000 events of 64 bytes of data into, fed in 16 KiB reads
** as a socket would give them (the W10 row of `make bench` measures the
** whole client; this is its floor). Times are CPU time of the thread,
** steadier than wall time on a shared machine. Not run by CI.
**
**   cc -std=c11 -D_GNU_SOURCE -O2 -Isrc bench/sse_parse.c src/sse.c \
**     src/buf.c src/common.c -o /tmp/sse_parse && /tmp/sse_parse
**
** Shapes: "data: <64 bytes>\n\n"; the same with an "id: N" line; with
** CRLF line ends; with 64 bytes of non-ASCII text (UTF-8, 2 and 3 bytes a
** character); and one 64 MiB feed instead of 16 KiB reads.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sse.h"

#define EVENTS 1000000

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void build(chc_buf *b, int shape) {
  /* 64 bytes of data: ASCII, or 16 x "é€" (2 + 3 bytes) minus one byte */
  const char *ascii =
      "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  char text[65];
  size_t i;
  if (shape == 3) {
    size_t w = 0;
    while (w + 5 <= 64) {
      memcpy(text + w, "\xC3\xA9\xE2\x82\xAC", 5);
      w += 5;
    }
    while (w < 64) text[w++] = 'x';
    text[64] = '\0';
  } else {
    memcpy(text, ascii, 65);
  }
  b->len = 0;
  for (i = 0; i < EVENTS; i++) {
    int ok;
    if (shape == 1)
      ok = chc_buf_appendf(b, "id: %zu\ndata: %s\n\n", i, text);
    else if (shape == 2)
      ok = chc_buf_appendf(b, "data: %s\r\n\r\n", text);
    else
      ok = chc_buf_appendf(b, "data: %s\n\n", text);
    if (ok < 0) abort();
  }
}

static void bench(const char *name, const chc_buf *b, size_t read) {
  chc_sse s = {0};
  const char *p = chc_buf_head(b);
  size_t off = 0, events = 0, bytes = 0;
  double t0, t1;
  chc_sse_init(&s, 0);
  t0 = now();
  while (off < b->len) {
    size_t n = b->len - off < read ? b->len - off : read, k = 0;
    while (k < n) {
      ssize_t r = chc_sse_feed(&s, p + off + k, n - k);
      if (r < 0) abort();
      k += (size_t)r;
      if (s.ready) {
        events++;
        bytes += s.ev.data_len; /* what a binding would copy out */
      }
    }
    off += n;
  }
  t1 = now();
  if (events != EVENTS || bytes != (size_t)EVENTS * 64) abort();
  printf("%-28s %6.1f M events/s  %6.0f MB/s  (%.3f s)\n", name,
         events / (t1 - t0) / 1e6, b->len / (t1 - t0) / 1e6, t1 - t0);
  chc_sse_free(&s);
}

int main(void) {
  chc_buf b = CHC_BUF_INIT;
  build(&b, 0);
  bench("data, 16 KiB reads", &b, 16384);
  bench("data, one feed", &b, b.len);
  build(&b, 1);
  bench("id + data, 16 KiB reads", &b, 16384);
  build(&b, 2);
  bench("data CRLF, 16 KiB reads", &b, 16384);
  build(&b, 3);
  bench("UTF-8 data, 16 KiB reads", &b, 16384);
  chc_buf_free(&b);
  return 0;
}
