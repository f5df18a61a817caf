/*
** test_takeover.c: a connection leaves the pool after a 101 and its
** transport serves a new owner (pool_int.h: stream_set_takeover,
** pool_conn_detach; conn.h: conn_set_owner), plain and over TLS.
**
** The peer, in this process on loopback (one thread per connection,
** blocking sockets; TLS with mbedTLS and the test CA of
** spec/peers/certs.sh): GET /keep is answered 200 "ok" (keep-alive);
** GET /upgrade is answered 101 followed at once by "early" in the same
** write, and from then on the peer echoes every byte until the end.
**
** Each run: A (/keep) holds a connection; B (/upgrade) opens a second one
** and takes it over; the bytes past the 101 head arrive with it; 64 KiB go
** both ways over the detached transport; meanwhile the pool counts only A's
** connection, and with max_connections = 2 two new requests (C reusing A's
** connection, D opening a new one) run at once, so the detached one no
** longer holds a slot.
*/
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "pool_int.h"


#include "check.h"

/* a check the rest cannot go on without (under allocation-failure
** injection, tools/allocfail/ctests.sh, constructors may return NULL) */
#define REQUIRE(c)                                                    \
  do {                                                                \
    if (!(c)) {                                                       \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
              #c);                                                    \
      exit(1);                                                        \
    }                                                                 \
  } while (0)

#define ECHO_LEN (64 * 1024)
#define BIG_LEN (256 * 1024)

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* {===================================================================
** The peer
** ==================================================================== */

typedef struct peer {
  int lfd, port, tls;
  mbedtls_x509_crt cert;
  mbedtls_pk_context key;
  pthread_t acceptor, handlers[8];
  int nhandlers;
  pthread_mutex_t mu;
} peer;

typedef struct pconn_peer {
  peer *pr;
  mbedtls_net_context net;
  mbedtls_ssl_context ssl;
  mbedtls_ssl_config conf;
  mbedtls_entropy_context ent;
  mbedtls_ctr_drbg_context drbg;
} pconn_peer;

static ssize_t p_read(pconn_peer *pc, char *b, size_t n) {
  if (!pc->pr->tls) return read(pc->net.fd, b, n);
  {
    int r = mbedtls_ssl_read(&pc->ssl, (unsigned char *)b, n);
    return r > 0 ? r : -1;
  }
}

static int p_write(pconn_peer *pc, const char *b, size_t n) {
  while (n > 0) {
    ssize_t w = pc->pr->tls
                    ? mbedtls_ssl_write(&pc->ssl, (const unsigned char *)b, n)
                    : write(pc->net.fd, b, n);
    if (w <= 0) return -1;
    b += w;
    n -= (size_t)w;
  }
  return 0;
}

static int p_tls_setup(pconn_peer *pc) {
  peer *pr = pc->pr;
  int r;
  mbedtls_ssl_init(&pc->ssl);
  mbedtls_ssl_config_init(&pc->conf);
  mbedtls_entropy_init(&pc->ent);
  mbedtls_ctr_drbg_init(&pc->drbg);
  if (mbedtls_ctr_drbg_seed(&pc->drbg, mbedtls_entropy_func, &pc->ent, NULL,
                            0) != 0 ||
      mbedtls_ssl_config_defaults(&pc->conf, MBEDTLS_SSL_IS_SERVER,
                                  MBEDTLS_SSL_TRANSPORT_STREAM,
                                  MBEDTLS_SSL_PRESET_DEFAULT) != 0)
    return -1;
  mbedtls_ssl_conf_rng(&pc->conf, mbedtls_ctr_drbg_random, &pc->drbg);
  if (mbedtls_ssl_conf_own_cert(&pc->conf, &pr->cert, &pr->key) != 0 ||
      mbedtls_ssl_setup(&pc->ssl, &pc->conf) != 0)
    return -1;
  mbedtls_ssl_set_bio(&pc->ssl, &pc->net, mbedtls_net_send, mbedtls_net_recv,
                      NULL);
  while ((r = mbedtls_ssl_handshake(&pc->ssl)) != 0)
    if (r != MBEDTLS_ERR_SSL_WANT_READ && r != MBEDTLS_ERR_SSL_WANT_WRITE)
      return -1;
  return 0;
}

/* Requests until the end; after a 101, the echo. */
static void p_serve(pconn_peer *pc) {
  char buf[16384];
  size_t have = 0;
  for (;;) {
    char *end;
    ssize_t n;
    buf[have] = '\0';
    end = strstr(buf, "\r\n\r\n");
    if (end == NULL) {
      if (have == sizeof buf - 1) return;
      n = p_read(pc, buf + have, sizeof buf - 1 - have);
      if (n <= 0) return;
      have += (size_t)n;
      continue;
    }
    if (strncmp(buf, "GET /upgrade ", 13) == 0) {
      static const char r101[] = "HTTP/1.1 101 Switching Protocols\r\n"
                                 "Connection: Upgrade\r\nUpgrade: echo\r\n"
                                 "\r\nearly";
      if (p_write(pc, r101, sizeof r101 - 1) < 0) return;
      while ((n = p_read(pc, buf, sizeof buf)) > 0)
        if (p_write(pc, buf, (size_t)n) < 0) return;
      return;
    }
    if (strncmp(buf, "GET /big ", 9) == 0) {
      static const char head[] = "HTTP/1.1 200 OK\r\n"
                                 "Content-Length: 262144\r\n\r\n";
      static char big[BIG_LEN];
      memset(big, 'x', sizeof big);
      if (p_write(pc, head, sizeof head - 1) < 0 ||
          p_write(pc, big, sizeof big) < 0)
        return;
    } else {
      static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
      if (p_write(pc, ok, sizeof ok - 1) < 0) return;
    }
    end += 4;
    have -= (size_t)(end - buf);
    memmove(buf, end, have);
  }
}

static void *p_handler(void *arg) {
  pconn_peer *pc = arg;
  struct timeval tv = {20, 0};
  setsockopt(pc->net.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (!pc->pr->tls || p_tls_setup(pc) == 0) p_serve(pc);
  if (pc->pr->tls) {
    mbedtls_ssl_free(&pc->ssl);
    mbedtls_ssl_config_free(&pc->conf);
    mbedtls_ctr_drbg_free(&pc->drbg);
    mbedtls_entropy_free(&pc->ent);
  }
  close(pc->net.fd);
  free(pc);
  return NULL;
}

static void *p_accept(void *arg) {
  peer *pr = arg;
  for (;;) {
    int fd = accept(pr->lfd, NULL, NULL);
    pconn_peer *pc;
    if (fd < 0) return NULL; /* shut down */
    pc = calloc(1, sizeof *pc);
    pthread_mutex_lock(&pr->mu);
    if (pc == NULL || pr->nhandlers == 8) {
      pthread_mutex_unlock(&pr->mu);
      close(fd);
      free(pc);
      continue;
    }
    pc->pr = pr;
    pc->net.fd = fd;
    pthread_create(&pr->handlers[pr->nhandlers++], NULL, p_handler, pc);
    pthread_mutex_unlock(&pr->mu);
  }
}

static int peer_start(peer *pr, int tls, const char *dir) {
  struct sockaddr_in a;
  socklen_t al = sizeof a;
  int one = 1;
  char path[512];
  memset(pr, 0, sizeof *pr);
  pr->tls = tls;
  pthread_mutex_init(&pr->mu, NULL);
  mbedtls_x509_crt_init(&pr->cert);
  mbedtls_pk_init(&pr->key);
  if (tls) {
    snprintf(path, sizeof path, "%s/server.pem", dir);
    if (mbedtls_x509_crt_parse_file(&pr->cert, path) != 0) return -1;
    snprintf(path, sizeof path, "%s/server.key", dir);
    if (mbedtls_pk_parse_keyfile(&pr->key, path, NULL) != 0) return -1;
  }
  pr->lfd = socket(AF_INET, SOCK_STREAM, 0);
  setsockopt(pr->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(pr->lfd, (struct sockaddr *)&a, sizeof a) < 0 ||
      listen(pr->lfd, 8) < 0 ||
      getsockname(pr->lfd, (struct sockaddr *)&a, &al) < 0)
    return -1;
  pr->port = ntohs(a.sin_port);
  return pthread_create(&pr->acceptor, NULL, p_accept, pr) == 0 ? 0 : -1;
}

/* Every connection to the peer must have been closed by now. */
static void peer_stop(peer *pr) {
  int i;
  shutdown(pr->lfd, SHUT_RDWR);
  pthread_join(pr->acceptor, NULL);
  close(pr->lfd);
  for (i = 0; i < pr->nhandlers; i++) pthread_join(pr->handlers[i], NULL);
  mbedtls_x509_crt_free(&pr->cert);
  mbedtls_pk_free(&pr->key);
  pthread_mutex_destroy(&pr->mu);
}

/* }=================================================================== */

/* {===================================================================
** The new owner of a taken-over transport: echo traffic
** ==================================================================== */

typedef struct owner {
  conn *t;
  chc_buf got; /* every byte after the 101 head, rest first */
  size_t rest_len;
  const char *out;
  size_t out_left;
  int eof, err, takeovers, edges;
} owner;

static void own_ready(conn *t, void *ud) {
  CHC_UNUSED(t);
  CHC_UNUSED(ud);
}

static void own_fail(conn *t, void *ud, int code, const char *m, int f) {
  CHC_UNUSED(t);
  CHC_UNUSED(code);
  CHC_UNUSED(m);
  CHC_UNUSED(f);
  ((owner *)ud)->err = 1;
}

static void own_io(conn *t, void *ud, unsigned ev) {
  ((owner *)ud)->edges++;
  if (ev & CHC_EV_READ) t->readable = 1;
  if (ev & CHC_EV_WRITE) t->writable = 1;
}

static const conn_owner echo_owner = {own_ready, own_fail, own_io};

static void on_takeover(chc_stream *s, conn *t, chc_buf *rest, void *ud) {
  owner *w = ud;
  CHC_UNUSED(s);
  w->takeovers++;
  w->t = t;
  w->rest_len = rest->len;
  REQUIRE(chc_buf_append(&w->got, chc_buf_head(rest), rest->len) == 0);
  chc_buf_free(rest);
  conn_set_owner(t, &echo_owner, w);
}

/* Moves what the transport takes and gives now (edge-triggered: until
** EAGAIN, then the flags wait for the next edge). */
static void own_pump(owner *w) {
  conn *t = w->t;
  while (w->out_left > 0 && t->writable) {
    struct iovec iov = {(void *)w->out, w->out_left};
    ssize_t n = conn_send(t, &iov, 1);
    if (n < 0 && errno == EAGAIN) t->writable = 0;
    if (n < 0 && errno != EAGAIN && errno != EINTR) w->err = 1;
    if (n < 0) break;
    w->out += n;
    w->out_left -= (size_t)n;
  }
  while (t->readable && !w->eof && !w->err) {
    char b[8192];
    ssize_t n = conn_recv(t, b, sizeof b);
    if (n > 0) {
      REQUIRE(chc_buf_append(&w->got, b, (size_t)n) == 0);
    } else if (n == 0) {
      w->eof = 1;
    } else if (errno == EAGAIN) {
      t->readable = 0;
    } else if (errno != EINTR) {
      w->err = 1;
    }
  }
}

/* }=================================================================== */

static void on_notify(chc_stream *s, void *ud) {
  CHC_UNUSED(s);
  CHC_UNUSED(ud);
}

static chc_stream *request(chc_pool *p, int https, int port,
                           const char *target, const chc_hlist *h) {
  chc_request rq;
  chc_error e = {CHC_OK, ""};
  chc_stream *s;
  memset(&rq, 0, sizeof rq);
  rq.method = "GET";
  rq.https = https;
  rq.host = "127.0.0.1";
  rq.port = port;
  rq.target = target;
  rq.headers = h;
  rq.body_kind = CHC_BODY_NONE;
  rq.to.connect = rq.to.read = rq.to.write = rq.to.pool = 10000;
  rq.to.total = -1;
  s = chc_pool_request(p, &rq, on_notify, NULL, &e);
  if (s == NULL) fprintf(stderr, "request %s: %s\n", target, e.msg);
  REQUIRE(s != NULL);
  return s;
}

/* Steps the loop until the stream has its whole response (10 s at most);
** 1 when it ended without an error. */
static int finish(chc_loop *lp, chc_stream *s, owner *w) {
  uint64_t deadline = now_ms() + 10000;
  while (now_ms() < deadline) {
    const char *p;
    size_t n;
    int r;
    if (chc_stream_error(s)) return 0;
    while ((r = chc_stream_peek(s, &p, &n)) > 0) chc_stream_consume(s, n);
    if (r < 0) return 1;
    chc_loop_step(lp, 50);
    if (w && w->t) own_pump(w);
  }
  return 0;
}

static void stats(chc_pool *p, chc_pool_stats *st) {
  chc_pool_stats_get(p, st);
}

static void run(const char *label, int tls, const char *dir) {
  peer pr;
  chc_loop *lp = chc_loop_new();
  chc_pool_opts o;
  chc_pool *p;
  chc_pool_stats st;
  chc_hlist up = CHC_HLIST_INIT;
  chc_stream *a, *b, *c, *d;
  owner w;
  char *payload = malloc(ECHO_LEN);
  uint64_t deadline;
  REQUIRE(lp != NULL && payload != NULL);
  size_t i;
  fprintf(stderr, "takeover, %s\n", label);
  memset(&w, 0, sizeof w);
  CHECK(peer_start(&pr, tls, dir) == 0);
  chc_pool_opts_default(&o);
  o.max_connections = 2;
  o.max_keepalive = 2;
  if (tls) {
    chc_tls_opts to;
    chc_error e = {CHC_OK, ""};
    char ca[512];
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    chc_tls_opts_default(&to);
    to.ca_file = ca;
    o.tls = chc_tls_conf_new(lp, &to, &e);
    REQUIRE(o.tls != NULL);
  }
  p = chc_pool_new(lp, &o);
  REQUIRE(p != NULL);
  chc_hlist_add(&up, "Connection", 10, "Upgrade", 7);
  chc_hlist_add(&up, "Upgrade", 7, "echo", 4);

  /* A holds one connection (its body not yet read) */
  a = request(p, tls, pr.port, "/big", NULL);
  deadline = now_ms() + 10000;
  while (!chc_stream_has_head(a) && !chc_stream_error(a) &&
         now_ms() < deadline)
    chc_loop_step(lp, 50);
  CHECK(chc_stream_status(a) == 200);

  /* B is answered 101 on a second connection, which it takes over */
  b = request(p, tls, pr.port, "/upgrade", &up);
  stream_set_takeover(b, on_takeover, &w);
  CHECK(finish(lp, b, NULL));
  CHECK(chc_stream_status(b) == 101);
  CHECK(w.takeovers == 1 && w.t != NULL);
  stats(p, &st);
  CHECK(st.connections == 1 && st.idle == 0 && st.waiting == 0);
  chc_stream_release(b);
  /* the bytes that came right behind the head came with the transport */
  CHECK(w.rest_len == 5);

  /* raw bytes both ways over the detached transport */
  for (i = 0; i < ECHO_LEN; i++) payload[i] = (char)('a' + i % 26);
  w.out = payload;
  w.out_left = ECHO_LEN;
  deadline = now_ms() + 10000;
  while (w.t && w.got.len < 5 + ECHO_LEN && !w.err && !w.eof &&
         now_ms() < deadline) {
    own_pump(&w);
    if (w.got.len < 5 + ECHO_LEN) chc_loop_step(lp, 50);
  }
  CHECK(!w.err && !w.eof);
  CHECK(w.got.len == 5 + ECHO_LEN);
  CHECK(w.got.len >= 5 && memcmp(chc_buf_head(&w.got), "early", 5) == 0);
  CHECK(w.got.len == 5 + ECHO_LEN &&
        memcmp(chc_buf_head(&w.got) + 5, payload, ECHO_LEN) == 0);
  /* and once the transport said EAGAIN, only an edge brings more */
  deadline = now_ms() + 10000;
  while (w.t && w.t->readable && now_ms() < deadline) own_pump(&w);
  w.edges = 0;
  w.out = "second";
  w.out_left = 6;
  while (w.t && w.got.len < 11 + ECHO_LEN && !w.err && now_ms() < deadline) {
    own_pump(&w);
    if (w.got.len < 11 + ECHO_LEN) chc_loop_step(lp, 50);
  }
  CHECK(w.got.len == 11 + ECHO_LEN && w.edges > 0 &&
        memcmp(chc_buf_tail(&w.got) - 6, "second", 6) == 0);
  stats(p, &st);
  CHECK(st.connections == 1);

  /* the pool goes on: A's connection is reused, and the detached one no
  ** longer takes a slot (max_connections = 2: C and D at once) */
  CHECK(finish(lp, a, NULL));
  chc_stream_release(a);
  stats(p, &st);
  CHECK(st.connections == 1 && st.idle == 1);
  c = request(p, tls, pr.port, "/keep", NULL);
  d = request(p, tls, pr.port, "/keep", NULL);
  stats(p, &st);
  CHECK(st.connections == 2 && st.waiting == 0);
  CHECK(finish(lp, c, &w) && chc_stream_status(c) == 200);
  CHECK(finish(lp, d, &w) && chc_stream_status(d) == 200);
  chc_stream_release(c);
  chc_stream_release(d);
  stats(p, &st);
  CHECK(st.connections == 2 && st.idle == 2);

  /* the new owner ends its transport; the pool is not told */
  if (w.t) {
    conn_close(w.t);
    conn_free(w.t);
  }
  stats(p, &st);
  CHECK(st.connections == 2 && st.idle == 2);
  chc_pool_free(p);
  chc_loop_step(lp, 0);
  peer_stop(&pr);
  chc_loop_free(lp);
  chc_hlist_free(&up);
  chc_buf_free(&w.got);
  free(payload);
}

int main(void) {
  char dir[] = "/tmp/chc-takeover-XXXXXX";
  char cmd[600];
  int certs;
  if (mkdtemp(dir) == NULL) return 2;
  snprintf(cmd, sizeof cmd, "sh ../../spec/peers/certs.sh %s >/dev/null 2>&1",
           dir);
  certs = system(cmd) == 0;
  CHECK(certs);
  run("plain", 0, dir);
  if (certs) run("TLS", 1, dir);
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  if (failures) {
    fprintf(stderr, "test_takeover: %d failure(s)\n", failures);
    return 1;
  }
  printf("test_takeover: ok\n");
  return 0;
}
