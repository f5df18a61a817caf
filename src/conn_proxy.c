/*
** conn_proxy.c: the proxy handshakes as steps of a connection's chain
** (conn.h): an HTTP CONNECT tunnel and SOCKS5. Both are a short exchange
** of messages with the proxy over the step below (the socket, or TLS to
** an https:// proxy), built and parsed by proxy.c; once the proxy has
** answered the step passes bytes through, handing out first what the
** proxy sent right behind its answer (those belong to the origin).
**
** The step's setup reads until EAGAIN on every edge, so an edge-triggered
** socket never leaves it waiting for bytes that already came.
*/
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "proxy.h"

enum { P_CONNECT, P_METHOD, P_AUTH, P_REQUEST, P_REPLY };

typedef struct hs_step {
  conn_step st;          /* first: a conn_step * is an hs_step * */
  const chc_proxy *px;   /* the pool's; only used during setup */
  int phase;
  char *host;            /* the origin, as the proxy is to reach it */
  int port;
  char hostport[300];    /* "host:port" ([v6]:port) */
  char addr[64];         /* socks5: the address resolved here */
  chc_resolve *res;
  chc_buf out;           /* handshake bytes still to send */
  chc_buf in;            /* read from the proxy; after setup, the origin's
                         ** bytes that came behind the answer */
} hs_step;

static int fail(hs_step *h, int code, const char *fmt, const char *what) {
  return conn_step_fail(h->st.t, code, 1, fmt, h->px->name, what);
}

static const char *doing(const hs_step *h) {
  return h->phase == P_CONNECT ? "before answering CONNECT"
                               : "during the SOCKS5 handshake";
}

/* Sends what is queued: 1 all sent, 0 wait, -1 failed. */
static int flush(hs_step *h) {
  conn_step *below = h->st.below;
  while (h->out.len > 0) {
    struct iovec iov;
    ssize_t r;
    iov.iov_base = chc_buf_head(&h->out);
    iov.iov_len = h->out.len;
    r = below->type->send(below, &iov, 1);
    if (r < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
      return fail(h, CHC_EPROXY, "%s closed the connection %s", doing(h));
    }
    chc_buf_consume(&h->out, (size_t)r);
  }
  return 1;
}

/* Reads what the proxy sent: 1 got bytes, 0 wait, -1 failed. */
static int fill(hs_step *h) {
  conn_step *below = h->st.below;
  ssize_t r;
  if (chc_buf_avail(&h->in) < 512 && chc_buf_reserve(&h->in, 4096) < 0)
    return fail(h, CHC_EPROXY, "%s: out of memory %s", doing(h));
  if (h->in.len >= PROXY_MAX_HEAD)
    return fail(h, CHC_EPROXY, "%s sent too much %s", doing(h));
  r = below->type->recv(below, chc_buf_tail(&h->in), chc_buf_avail(&h->in));
  if (r > 0) {
    chc_buf_commit(&h->in, (size_t)r);
    return 1;
  }
  if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    return 0;
  return fail(h, CHC_EPROXY, "%s closed the connection %s", doing(h));
}

static int queue(hs_step *h, const void *p, size_t n) {
  if (chc_buf_append(&h->out, p, n) < 0)
    return conn_step_fail(h->st.t, CHC_EPROXY, 1, "out of memory");
  return 2;
}

/* {===================================================================
** The answers
** ==================================================================== */

/* Each returns 1 done, 2 progressed (more to send), 0 needs bytes, -1. */
static int connect_parse(hs_step *h) {
  size_t hl, rl;
  int status;
  const char *reason;
  conn *t = h->st.t;
  int r = proxy_http_reply(chc_buf_head(&h->in), h->in.len, &hl, &status,
                           &reason, &rl);
  if (r == 0) return 0;
  if (r < 0)
    return conn_step_fail(t, CHC_EPROXY, 1,
                          "%s sent a malformed answer to CONNECT %s",
                          h->px->name, h->hostport);
  if (status / 100 != 2)
    return conn_step_fail(t, CHC_EPROXY, 1,
                          "%s refused CONNECT %s: %d %.*s (status %d)",
                          h->px->name, h->hostport, status,
                          (int)(rl > 80 ? 80 : rl), reason, status);
  chc_buf_consume(&h->in, hl);
  return 1;
}

static int socks_request(hs_step *h) {
  unsigned char m[300];
  size_t n;
  if (h->res) return 0; /* the name is still being resolved */
  n = socks5_request(m, sizeof m, h->addr[0] ? h->addr : h->host, h->port);
  if (n == 0)
    return conn_step_fail(h->st.t, CHC_EPROXY, 1,
                          "the host name is too long for %s", h->px->name);
  h->phase = P_REPLY;
  return queue(h, m, n);
}

static int socks_parse(hs_step *h) {
  const unsigned char *p = (const unsigned char *)chc_buf_head(&h->in);
  conn *t = h->st.t;
  int r = 0, v = 0;
  switch (h->phase) {
    case P_METHOD:
      r = socks5_method_reply(p, h->in.len, &v);
      if (r <= 0) break;
      chc_buf_consume(&h->in, (size_t)r);
      if (v == 2 && h->px->user) {
        unsigned char m[520];
        size_t n = socks5_auth(m, sizeof m, h->px->user, h->px->pass);
        if (n == 0)
          return conn_step_fail(t, CHC_EPROXY, 1, "%s: the user name and "
                                "password must be 1-255 bytes", h->px->name);
        h->phase = P_AUTH;
        return queue(h, m, n);
      }
      if (v != 0)
        return conn_step_fail(t, CHC_EPROXY, 1,
                              "%s accepts none of the authentication "
                              "methods offered (%s)", h->px->name,
                              h->px->user ? "none, username/password"
                                          : "none: give it credentials");
      h->phase = P_REQUEST;
      return socks_request(h);
    case P_AUTH:
      r = socks5_auth_reply(p, h->in.len, &v);
      if (r <= 0) break;
      chc_buf_consume(&h->in, (size_t)r);
      if (v != 0)
        return conn_step_fail(t, CHC_EPROXY, 1,
                              "%s refused the user name and password",
                              h->px->name);
      h->phase = P_REQUEST;
      return socks_request(h);
    case P_REQUEST:
      return socks_request(h);
    default:
      r = socks5_reply(p, h->in.len, &v);
      if (r <= 0) break;
      if (v != 0)
        return conn_step_fail(t, CHC_EPROXY, 1,
                              "%s could not connect to %s: %s (SOCKS reply "
                              "%d)", h->px->name, h->hostport,
                              socks5_reply_str(v), v);
      chc_buf_consume(&h->in, (size_t)r);
      return 1;
  }
  if (r < 0)
    return conn_step_fail(t, CHC_EPROXY, 1,
                          "%s sent a malformed SOCKS5 answer", h->px->name);
  return 0;
}

/* }=================================================================== */

/* The tunnel is up: the connection's messages now name the origin. */
static int finish(hs_step *h) {
  conn *t = h->st.t;
  char via[400];
  size_t n = (size_t)snprintf(via, sizeof via, "%s via %s", h->hostport,
                              h->px->name);
  if (n >= sizeof t->peer) n = sizeof t->peer - 1; /* cut, as peer is */
  memcpy(t->peer, via, n);
  t->peer[n] = 0;
  t->readable = 1; /* bytes may wait behind the answer, or below */
  if (h->in.len == 0) chc_buf_free(&h->in);
  chc_buf_free(&h->out);
  return 1;
}

/* Sends, reads and parses until done or EAGAIN: 1, 0, -1. */
static int drive(hs_step *h) {
  for (;;) {
    int r = flush(h);
    if (r <= 0) return r;
    r = h->phase == P_CONNECT ? connect_parse(h) : socks_parse(h);
    if (r == 1) return finish(h);
    if (r < 0) return -1;
    if (r == 2) continue;
    r = fill(h);
    if (r <= 0) return r;
  }
}

static void on_resolved(void *ud, int status, struct addrinfo *res,
                        const char *msg) {
  hs_step *h = ud;
  h->res = NULL;
  if (status != 0) {
    conn_step_resume(h->st.t, conn_step_fail(h->st.t, CHC_ECONNECT, 0, "%s",
                                             msg));
    return;
  }
  if (res->ai_family == AF_INET)
    inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr,
              h->addr, sizeof h->addr);
  else
    inet_ntop(AF_INET6, &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr,
              h->addr, sizeof h->addr);
  chc_resolve_free_result(res);
  conn_step_resume(h->st.t, drive(h));
}

static int is_literal(const char *host) {
  unsigned char a[16];
  return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

static int hs_start(conn_step *st) {
  hs_step *h = (hs_step *)st;
  if (h->phase == P_CONNECT) {
    if (proxy_connect_request(&h->out, h->px, h->hostport) < 0)
      return conn_step_fail(st->t, CHC_EPROXY, 1, "out of memory");
  } else {
    unsigned char m[4];
    queue(h, m, socks5_greeting(m, h->px->user != NULL));
    /* socks5://: the name is resolved here, while the greeting goes */
    if (h->px->kind == CHC_PROXY_SOCKS5 && !is_literal(h->host)) {
      h->res = chc_resolve_start(st->t->lp, h->host, h->port, on_resolved, h);
      if (h->res == NULL)
        return conn_step_fail(st->t, CHC_ECONNECT, 1, "out of memory");
    }
  }
  return drive(h);
}

static int hs_on_io(conn_step *st, unsigned ev) {
  CHC_UNUSED(ev);
  return drive((hs_step *)st);
}

/* {===================================================================
** After setup: the origin's bytes
** ==================================================================== */

static ssize_t hs_recv(conn_step *st, char *p, size_t n) {
  hs_step *h = (hs_step *)st;
  if (h->in.len > 0) {
    if (n > h->in.len) n = h->in.len;
    memcpy(p, chc_buf_head(&h->in), n);
    chc_buf_consume(&h->in, n);
    if (h->in.len == 0) chc_buf_free(&h->in);
    return (ssize_t)n;
  }
  return st->below->type->recv(st->below, p, n);
}

static ssize_t hs_send(conn_step *st, const struct iovec *iov, int k) {
  return st->below->type->send(st->below, iov, k);
}

static ssize_t hs_peek(conn_step *st, char *p, size_t n) {
  hs_step *h = (hs_step *)st;
  if (h->in.len > 0) {
    if (n > h->in.len) n = h->in.len;
    memcpy(p, chc_buf_head(&h->in), n);
    return (ssize_t)n;
  }
  return st->below->type->peek ? st->below->type->peek(st->below, p, n) : -1;
}

static long hs_query(const conn_step *st, int what) {
  const hs_step *h = (const hs_step *)st;
  if (what == CONN_Q_PENDING && h->in.len > 0) return (long)h->in.len;
  return -1;
}

static void hs_close(conn_step *st) {
  hs_step *h = (hs_step *)st;
  if (h->res) {
    chc_resolve_cancel(h->res);
    h->res = NULL;
  }
}

static void hs_free(conn_step *st) {
  hs_step *h = (hs_step *)st;
  hs_close(st);
  chc_buf_free(&h->in);
  chc_buf_free(&h->out);
  free(h->host);
  free(h);
}

/* }=================================================================== */

static const conn_step_type connect_type = {
    "setting up the tunnel through", hs_start, hs_on_io, hs_recv, hs_send,
    hs_peek, NULL, NULL, hs_query, hs_close, hs_free};

static const conn_step_type socks_type = {
    "the SOCKS5 handshake with", hs_start, hs_on_io, hs_recv, hs_send,
    hs_peek, NULL, NULL, hs_query, hs_close, hs_free};

conn_step *conn_proxy_step_new(const chc_proxy *px, const char *host,
                               int port) {
  hs_step *h = calloc(1, sizeof *h);
  if (h == NULL) return NULL;
  h->px = px;
  h->port = port;
  h->host = strdup(host);
  if (h->host == NULL) {
    free(h);
    return NULL;
  }
  snprintf(h->hostport, sizeof h->hostport,
           strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
  if (px->kind == CHC_PROXY_SOCKS5 || px->kind == CHC_PROXY_SOCKS5H) {
    h->st.type = &socks_type;
    h->phase = P_METHOD;
  } else {
    h->st.type = &connect_type;
    h->phase = P_CONNECT;
  }
  return &h->st;
}
