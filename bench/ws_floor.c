/*
** ws_floor.c: the floor row of W8 (bench/run.sh): the least any WebSocket
** client can do per echo on this kernel. Blocking socket, TCP_NODELAY, no
** event loop, no allocation in the loop: one write() of a masked frame and
** read() until the whole echo is in, so 2 syscalls per echo (a read may
** return part of a frame; on loopback it does not). Plain C, libc only.
** Whatever a real client (ours, npm ws, python) spends above this row is
** its own cost; what the floor itself takes is the kernel's and the
** server's. bench/run.sh builds it like bench/curlbench.c:
**
**   cc -std=c11 -O2 -o /tmp/ws_floor bench/ws_floor.c
**   /tmp/ws_floor echo url=ws://127.0.0.1:PORT/ n=50000
**
** The same arguments and RESULT line as bench/ws_bench.lua's echo mode
** (only echo: W9's bulk transfer is not syscall-bound). Every echo is
** checked (opcode, FIN, length, bytes); a wrong one prints WRONG and exits 1.
**
** Simplifications a real client must not make, none of which is on the
** timed path: the handshake checks the status line (101) only, not
** Sec-WebSocket-Accept; the masks of all n frames come from one
** getrandom() call before the clock starts; frames from the server other
** than the echo (ping, close) are errors.
*/
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char MSG[] = "Hello, World!";
#define MSGLEN (sizeof MSG - 1)

static void wrong(const char *what, long i) {
  printf("WRONG %s (echo %ld%s%s)\n", what, i, errno ? ": " : "", errno ? strerror(errno) : "");
  exit(1);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void write_all(int fd, const unsigned char *p, size_t n, long i) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) wrong("write", i);
    p += w;
    n -= (size_t)w;
  }
}

static void fill_random(unsigned char *p, size_t n) {
  while (n > 0) {
    ssize_t r = getrandom(p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) wrong("getrandom", -1);
    p += r;
    n -= (size_t)r;
  }
}

static int dial(const char *url, char *path, size_t pathsz, char *hostport, size_t hpsz) {
  char host[256], port[16] = "80";
  const char *p = url, *slash, *colon;
  if (strncmp(p, "ws://", 5) != 0) { errno = 0; wrong("url must be ws://host:port/path", -1); }
  p += 5;
  slash = strchr(p, '/');
  if (!slash) slash = p + strlen(p);
  if ((size_t)(slash - p) >= sizeof host) { errno = 0; wrong("host too long", -1); }
  snprintf(hostport, hpsz, "%.*s", (int)(slash - p), p);
  colon = memchr(p, ':', (size_t)(slash - p));
  if (colon) {
    snprintf(host, sizeof host, "%.*s", (int)(colon - p), p);
    snprintf(port, sizeof port, "%.*s", (int)(slash - colon - 1), colon + 1);
  } else {
    snprintf(host, sizeof host, "%.*s", (int)(slash - p), p);
  }
  snprintf(path, pathsz, "%s", *slash ? slash : "/");

  struct addrinfo hints = {0}, *ai;
  hints.ai_socktype = SOCK_STREAM;
  int rc = getaddrinfo(host, port, &hints, &ai);
  if (rc != 0) { errno = 0; wrong(gai_strerror(rc), -1); }
  int fd = socket(ai->ai_family, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) wrong("connect", -1);
  freeaddrinfo(ai);
  int one = 1;
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) wrong("TCP_NODELAY", -1);
  return fd;
}

/* The Upgrade request; the reply's status line must say 101. Bytes after
** the reply's head (none from an echo server) would be an error here. */
static void handshake(int fd, const char *path, const char *hostport) {
  static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  unsigned char nonce[16];
  char key[25], req[1024], resp[4096];
  size_t got = 0, k = 0;
  fill_random(nonce, sizeof nonce);
  for (size_t i = 0; i < 16; i += 3) {
    uint32_t v = (uint32_t)nonce[i] << 16;
    if (i + 1 < 16) v |= (uint32_t)nonce[i + 1] << 8;
    if (i + 2 < 16) v |= nonce[i + 2];
    key[k++] = b64[(v >> 18) & 63];
    key[k++] = b64[(v >> 12) & 63];
    key[k++] = i + 1 < 16 ? b64[(v >> 6) & 63] : '=';
    key[k++] = i + 2 < 16 ? b64[v & 63] : '=';
  }
  key[k] = '\0';
  int n = snprintf(req, sizeof req,
                   "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                   path, hostport, key);
  write_all(fd, (const unsigned char *)req, (size_t)n, -1);
  for (;;) {
    ssize_t r = read(fd, resp + got, sizeof resp - 1 - got);
    if (r <= 0) wrong("handshake read", -1);
    got += (size_t)r;
    resp[got] = '\0';
    char *end = strstr(resp, "\r\n\r\n");
    if (end) {
      errno = 0;
      if (strncmp(resp, "HTTP/1.1 101", 12) != 0) wrong("handshake: status is not 101", -1);
      if ((size_t)(end + 4 - resp) != got) wrong("handshake: bytes after the head", -1);
      return;
    }
    if (got == sizeof resp - 1) { errno = 0; wrong("handshake: head too long", -1); }
  }
}

int main(int argc, char **argv) {
  const char *url = NULL;
  long n = 1000;
  if (argc < 2 || strcmp(argv[1], "echo") != 0) {
    fprintf(stderr, "usage: %s echo url=ws://127.0.0.1:PORT/ n=N\n", argv[0]);
    return 2;
  }
  for (int i = 2; i < argc; i++) {
    if (strncmp(argv[i], "url=", 4) == 0) url = argv[i] + 4;
    else if (strncmp(argv[i], "n=", 2) == 0) n = strtol(argv[i] + 2, NULL, 10);
  }
  if (!url || n <= 0) { fprintf(stderr, "url= and n>0 are required\n"); return 2; }

  char path[1024], hostport[300];
  int fd = dial(url, path, sizeof path, hostport, sizeof hostport);
  handshake(fd, path, hostport);

  /* one getrandom() for every frame's mask, before the clock starts */
  unsigned char *masks = malloc((size_t)n * 4);
  if (!masks) wrong("malloc", -1);
  fill_random(masks, (size_t)n * 4);

  unsigned char out[2 + 4 + MSGLEN], in[256];
  out[0] = 0x81;            /* FIN, text */
  out[1] = 0x80 | MSGLEN;   /* masked, 13 bytes */
  double t0 = now();
  for (long i = 0; i < n; i++) {
    const unsigned char *m = masks + i * 4;
    memcpy(out + 2, m, 4);
    for (size_t j = 0; j < MSGLEN; j++) out[6 + j] = (unsigned char)MSG[j] ^ m[j & 3];
    write_all(fd, out, sizeof out, i);
    /* the echo: 0x81, 13 (unmasked), then the text; read until all of it */
    size_t got = 0;
    while (got < 2 + MSGLEN) {
      ssize_t r = read(fd, in + got, sizeof in - got);
      if (r < 0 && errno == EINTR) continue;
      if (r == 0) errno = 0;
      if (r <= 0) wrong(r == 0 ? "server closed" : "read", i);
      got += (size_t)r;
      if (got >= 2 && (in[0] != 0x81 || in[1] != MSGLEN)) { errno = 0; wrong("not a 13-byte text frame", i); }
    }
    errno = 0;
    if (got != 2 + MSGLEN) wrong("more than one frame", i);
    if (memcmp(in + 2, MSG, MSGLEN) != 0) wrong("echo differs", i);
  }
  double secs = now() - t0;

  /* close 1000, masked with the first mask; then read the server's close
  ** frame until it ends the connection (at most 2 s), so it sees a clean close */
  unsigned char cl[2 + 4 + 2] = {0x88, 0x80 | 2};
  memcpy(cl + 2, masks, 4);
  cl[6] = 0x03 ^ masks[0];
  cl[7] = 0xE8 ^ masks[1];
  write_all(fd, cl, sizeof cl, n);
  struct timeval tv = {2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  while (read(fd, in, sizeof in) > 0) {}
  close(fd);
  free(masks);
  printf("RESULT requests=%ld bytes=%ld secs=%.4f rate=%.1f unit=msg/s\n", n, n * (long)MSGLEN, secs,
         (double)n / secs);
  return 0;
}
