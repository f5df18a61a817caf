/*
** h2_interop.c: the HTTP/2 engine against a real nghttpd (h2c, prior
** knowledge) over a loopback socket. Starts its own nghttpd child on a
** free port with a temporary document root, drives the engine with
** poll(), and stops the child (by its pid) at the end.
**   make -C tests/c interop-h2
** Checks: 100 concurrent GETs on one connection, an 8 MiB body read
** slowly (bounded buffer), HEAD, 404, trailers (--trailer), a 1 MiB
** producer upload echoed back (--echo-upload), PING, GOAWAY on close.
*/
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "h2.h"

/* CHECK: what assert() would say, but never compiled out (NDEBUG has no
** effect), so the calls with side effects inside it always run. A failed
** check ends the program with its file, line and expression. */
_Noreturn static void check_failed(const char *file, int line, const char *e) {
  fprintf(stderr, "%s:%d: check failed: %s\n", file, line, e);
  exit(1);
}
#define CHECK(c) ((c) ? (void)0 : check_failed(__FILE__, __LINE__, #c))

#define NSMALL 100
#define BIG (8u * 1024 * 1024)
#define UPLOAD (1024u * 1024 + 7)

enum { R_SMALL = 0, R_BIG = NSMALL, R_HEAD, R_404, R_UP, NR };

typedef struct rec {
  chc_h2_stream *st;
  int ended, failed, slow;
  chc_buf body;
  size_t max_buffered;
} rec;

static rec R[NR];
static int acks;
static char root[64] = "/tmp/chc_h2_interop_XXXXXX";
static const char small[] = "small file served by nghttpd\n";

static uint8_t pat(size_t i) {
  return (uint8_t)((i * 131u + 17u) % 251u);
}

static void on_end(chc_h2_stream *st, void *ud) {
  (void)st;
  ((rec *)ud)->ended = 1;
}

static void on_error(chc_h2_stream *st, void *ud) {
  fprintf(stderr, "stream %d failed: %s\n", (int)chc_h2_stream_id(st),
          chc_h2_stream_error(st)->msg);
  ((rec *)ud)->failed = 1;
}

static void on_data(chc_h2_stream *st, void *ud, size_t n) {
  rec *r = ud;
  (void)n;
  if (chc_h2_stream_buffered(st) > r->max_buffered)
    r->max_buffered = chc_h2_stream_buffered(st);
}

static void on_ack(chc_h2 *h2, void *cud) {
  (void)h2;
  (void)cud;
  acks++;
}

static void write_file(const char *name, const void *p, size_t n) {
  char path[128];
  FILE *f;
  snprintf(path, sizeof path, "%s/%s", root, name);
  f = fopen(path, "wb");
  CHECK(f != NULL && fwrite(p, 1, n, f) == n);
  fclose(f);
}

static int free_port(void) {
  struct sockaddr_in a;
  socklen_t al = sizeof a;
  int fd = socket(AF_INET, SOCK_STREAM, 0), port;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
  CHECK(getsockname(fd, (struct sockaddr *)&a, &al) == 0);
  port = ntohs(a.sin_port);
  close(fd);
  return port;
}

static int connect_to(int port) {
  struct sockaddr_in a;
  int i, one = 1;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (i = 0; i < 100; i++) { /* nghttpd needs a moment to listen */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
      return fd;
    }
    close(fd);
    usleep(50000);
  }
  return -1;
}

static void submit(chc_h2 *h2, int i, const char *method, const char *path,
                   int kind, const chc_hlist *h) {
  chc_h2_request rq;
  chc_error e = {0, ""};
  memset(&rq, 0, sizeof rq);
  rq.method = method;
  rq.scheme = "http";
  rq.authority = "127.0.0.1";
  rq.path = path;
  rq.headers = h;
  rq.body_kind = kind;
  R[i].st = chc_h2_submit(h2, &rq, &R[i], &e);
  if (R[i].st == NULL) {
    fprintf(stderr, "submit: %s\n", e.msg);
    exit(1);
  }
}

static int all_done(void) {
  int i;
  for (i = 0; i < NR; i++)
    if (!(R[i].ended || R[i].failed) ||
        (R[i].st && chc_h2_stream_buffered(R[i].st) > 0))
      return 0;
  return 1;
}

/* Reads what the readers want: everything, or 64 KiB a turn when slow. */
static void readers(void) {
  int i;
  for (i = 0; i < NR; i++) {
    const char *p;
    size_t n, budget = R[i].slow ? 64 * 1024 : (size_t)-1;
    while (budget > 0 && chc_h2_stream_peek(R[i].st, &p, &n) == 1) {
      if (n > budget) n = budget;
      CHECK(chc_buf_append(&R[i].body, p, n) == 0);
      chc_h2_stream_consume(R[i].st, n);
      budget -= n;
    }
  }
}

static void produce(size_t *sent) {
  uint8_t chunk[7000];
  while (*sent < UPLOAD && chc_h2_stream_writable(R[R_UP].st) == 1) {
    size_t n = UPLOAD - *sent < sizeof chunk ? UPLOAD - *sent : sizeof chunk;
    size_t i;
    for (i = 0; i < n; i++) chunk[i] = pat(*sent + i);
    CHECK(chc_h2_stream_write(R[R_UP].st, chunk, n) == 0);
    *sent += n;
    if (*sent == UPLOAD) CHECK(chc_h2_stream_write_end(R[R_UP].st) == 0);
  }
}

/* One connection's life: flush/write, poll, read/feed, read bodies. */
static int run(int fd, chc_h2 *h2, int (*done)(void), size_t *sent) {
  chc_buf out = CHC_BUF_INIT;
  char buf[65536];
  time_t start = time(NULL);
  int rc = 0;
  while (!done()) {
    struct pollfd pfd;
    ssize_t n;
    if (time(NULL) - start > 30) {
      fprintf(stderr, "timeout\n");
      rc = -1;
      break;
    }
    if (sent) produce(sent);
    if (out.len < 256 * 1024) CHECK(chc_h2_flush(h2, &out, 256 * 1024) == 0);
    while (out.len > 0) {
      n = write(fd, chc_buf_head(&out), out.len);
      if (n <= 0) break;
      chc_buf_consume(&out, (size_t)n);
    }
    pfd.fd = fd;
    pfd.events = POLLIN | (out.len ? POLLOUT : 0);
    if (poll(&pfd, 1, 100) < 0 && errno != EINTR) {
      rc = -1;
      break;
    }
    for (;;) {
      n = read(fd, buf, sizeof buf);
      if (n > 0) {
        if (chc_h2_feed(h2, (const uint8_t *)buf, (size_t)n) < 0) {
          fprintf(stderr, "feed: %s\n", chc_h2_error(h2)->msg);
          rc = -1;
          goto out;
        }
        continue;
      }
      if (n == 0) {
        chc_h2_abort(h2, CHC_EREAD, "connection closed by nghttpd");
        goto out;
      }
      break; /* EAGAIN */
    }
    readers();
  }
out:
  chc_buf_free(&out);
  return rc;
}

static int pinged(void) {
  return acks > 0;
}

int main(void) {
  static const chc_h2_callbacks cbs = {NULL, on_data, on_end, on_error, NULL,
                                       NULL, NULL,    NULL,   on_ack};
  chc_error e = {0, ""};
  chc_h2 *h2;
  chc_hlist te = CHC_HLIST_INIT;
  uint8_t *big = malloc(BIG);
  size_t i, sent = 0;
  int port, fd, fails = 0, status;
  char portstr[16], want[64];
  pid_t pid;
  setvbuf(stdout, NULL, _IOLBF, 0);
  CHECK(big != NULL && mkdtemp(root) != NULL);
  for (i = 0; i < BIG; i++) big[i] = pat(i);
  write_file("small.txt", small, sizeof small - 1);
  write_file("big.bin", big, BIG);
  port = free_port();
  snprintf(portstr, sizeof portstr, "%d", port);
  pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    int dn = open("/dev/null", O_WRONLY);
    dup2(dn, 1);
    dup2(dn, 2);
    execlp("nghttpd", "nghttpd", "--no-tls", "-a", "127.0.0.1", "-d", root,
           "--echo-upload", "--trailer", "x-trailer: yes", portstr,
           (char *)NULL);
    _exit(127);
  }
  fd = connect_to(port);
  if (fd < 0) {
    fprintf(stderr, "cannot connect to nghttpd on %d\n", port);
    kill(pid, SIGTERM);
    return 1;
  }
  h2 = chc_h2_new(NULL, &cbs, NULL, &e);
  CHECK(h2 != NULL);
  CHECK(chc_hlist_add(&te, "TE", 2, "trailers", 8) == 0);
  for (i = 0; i < NSMALL; i++)
    submit(h2, (int)i, "GET", "/small.txt", CHC_H2_BODY_NONE, &te);
  R[R_BIG].slow = 1;
  submit(h2, R_BIG, "GET", "/big.bin", CHC_H2_BODY_NONE, NULL);
  submit(h2, R_HEAD, "HEAD", "/small.txt", CHC_H2_BODY_NONE, NULL);
  submit(h2, R_404, "GET", "/nope", CHC_H2_BODY_NONE, NULL);
  submit(h2, R_UP, "POST", "/small.txt", CHC_H2_BODY_STREAM, NULL);
  if (run(fd, h2, all_done, &sent) < 0) fails++;
  for (i = 0; i < NSMALL; i++) {
    chc_hlist *tr = chc_h2_stream_trailers(R[i].st);
    if (!R[i].ended || chc_h2_stream_status(R[i].st) != 200 ||
        R[i].body.len != sizeof small - 1 ||
        memcmp(R[i].body.data, small, R[i].body.len) != 0 || tr == NULL ||
        chc_hlist_get(tr, "x-trailer", NULL) == NULL) {
      fprintf(stderr, "small %zu wrong\n", i);
      fails++;
    }
  }
  printf("%s - %d GETs on one connection (max streams %u), with trailers\n",
         fails ? "not ok" : "ok", NSMALL, chc_h2_max_streams(h2));
  if (!R[R_BIG].ended || R[R_BIG].body.len != BIG ||
      memcmp(R[R_BIG].body.data, big, BIG) != 0 ||
      R[R_BIG].max_buffered > 256 * 1024) {
    fprintf(stderr, "big wrong: %zu bytes, peak %zu\n", R[R_BIG].body.len,
            R[R_BIG].max_buffered);
    fails++;
  } else {
    printf("ok - 8 MiB read slowly, peak buffer %zu bytes\n",
           R[R_BIG].max_buffered);
  }
  if (!R[R_HEAD].ended || chc_h2_stream_status(R[R_HEAD].st) != 200 ||
      R[R_HEAD].body.len != 0 || !R[R_404].ended ||
      chc_h2_stream_status(R[R_404].st) != 404) {
    fprintf(stderr, "HEAD or 404 wrong\n");
    fails++;
  } else {
    printf("ok - HEAD and 404\n");
  }
  snprintf(want, sizeof want, "%u", UPLOAD);
  if (!R[R_UP].ended || chc_h2_stream_status(R[R_UP].st) != 200 ||
      R[R_UP].body.len != UPLOAD ||
      memcmp(R[R_UP].body.data, big, UPLOAD) != 0) {
    fprintf(stderr, "upload echo wrong: %zu bytes\n", R[R_UP].body.len);
    fails++;
  } else {
    printf("ok - %u-byte producer upload echoed back\n", UPLOAD);
  }
  CHECK(chc_h2_ping(h2) == 0);
  if (run(fd, h2, pinged, NULL) < 0) fails++;
  printf("%s - PING acknowledged\n", acks == 1 ? "ok" : "not ok");
  fails += acks != 1;
  chc_h2_shutdown(h2);
  {
    chc_buf out = CHC_BUF_INIT;
    CHECK(chc_h2_flush(h2, &out, 0) == 0 && out.len == 17);
    CHECK(write(fd, out.data, out.len) == (ssize_t)out.len);
    chc_buf_free(&out);
  }
  close(fd);
  for (i = 0; i < NR; i++) {
    chc_h2_stream_release(R[i].st);
    chc_buf_free(&R[i].body);
  }
  chc_h2_free(h2);
  chc_hlist_free(&te);
  kill(pid, SIGTERM);
  waitpid(pid, &status, 0);
  {
    char path[128];
    snprintf(path, sizeof path, "%s/small.txt", root);
    unlink(path);
    snprintf(path, sizeof path, "%s/big.bin", root);
    unlink(path);
    rmdir(root);
  }
  free(big);
  printf(fails ? "interop FAILED\n" : "interop with nghttpd passed\n");
  return fails ? 1 : 0;
}
