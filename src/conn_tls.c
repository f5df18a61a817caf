/*
** conn_tls.c: TLS as a step of a connection's chain (conn.h). The session
** (tls.c) moves its ciphertext through the step below, whatever that is:
** the socket, or another TLS step (TLS to the origin inside TLS to a
** proxy). The handshake runs on the connection's edges under the connect
** deadline; afterwards recv/send are the session's plaintext.
*/
#include "conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct tls_step {
  conn_step st; /* first: a conn_step * is a tls_step * */
  chc_tls_conf *cf; /* the pool's, borrowed: only used by start */
  chc_tls *tls;
  char *host, *key;
  int h1_only; /* ALPN offers http/1.1 only (conn_tls_step_h1_new) */
} tls_step;

/* {===================================================================
** The session's view of the step below
** ==================================================================== */

static ssize_t bio_recv(void *ctx, char *p, size_t n) {
  conn_step *below = ctx;
  return below->type->recv(below, p, n);
}

static ssize_t bio_send(void *ctx, const char *p, size_t n) {
  conn_step *below = ctx;
  struct iovec iov;
  iov.iov_base = (void *)p;
  iov.iov_len = n;
  return below->type->send(below, &iov, 1);
}

static ssize_t bio_peek(void *ctx, char *p, size_t n) {
  conn_step *below = ctx;
  return below->type->peek ? below->type->peek(below, p, n) : -1;
}

/* }=================================================================== */

/* One step of the handshake: 1 done, 0 again on the next edge, -1. */
static int handshake(tls_step *ts) {
  conn *t = ts->st.t;
  chc_error e = {CHC_OK, ""};
  int r = chc_tls_handshake(ts->tls, &e);
  if (r == CHC_TLS_WANT_READ || r == CHC_TLS_WANT_WRITE) return 0;
  if (r < 0)
    return conn_step_fail(t, CHC_ETLS, 0, "TLS handshake with %s failed: %s",
                          t->peer, e.msg);
  t->readable = 1; /* records may have come right behind the handshake */
  return 1;
}

static int tls_start(conn_step *st) {
  tls_step *ts = (tls_step *)st;
  chc_error e = {CHC_OK, ""};
  chc_tls_bio bio;
  bio.recv = bio_recv;
  bio.send = bio_send;
  bio.peek = bio_peek;
  bio.ctx = st->below;
  ts->tls = ts->h1_only ? chc_tls_new_h1(ts->cf, &bio, ts->host, ts->key, &e)
                        : chc_tls_new(ts->cf, &bio, ts->host, ts->key, &e);
  if (ts->tls == NULL)
    return conn_step_fail(st->t, CHC_ETLS, 1, "TLS with %s: %s", st->t->peer,
                          e.msg);
  return handshake(ts);
}

static int tls_on_io(conn_step *st, unsigned ev) {
  CHC_UNUSED(ev);
  return handshake((tls_step *)st);
}

/* Both give -1 with errno: EAGAIN to wait for the next edge (possibly in
** the other direction: read_wants_write/write_wants_read), EPROTO for a
** TLS failure. */
static int fail_errno(tls_step *ts, ssize_t r) {
  if (r == CHC_TLS_WANT_READ || r == CHC_TLS_WANT_WRITE) return EAGAIN;
  return chc_tls_errno(ts->tls) ? chc_tls_errno(ts->tls) : EPROTO;
}

static ssize_t tls_recv(conn_step *st, char *p, size_t n) {
  tls_step *ts = (tls_step *)st;
  ssize_t r = chc_tls_read(ts->tls, p, n);
  if (r >= 0) return r;
  if (r == CHC_TLS_WANT_WRITE) {
    st->t->read_wants_write = 1;
    st->t->writable = 0;
  }
  errno = fail_errno(ts, r);
  return -1;
}

/* TLS has no writev: records are written one after the other, and a
** record left half-sent is finished first on the next call (chc_tls_write
** wants the same bytes again: nothing before them has been consumed). */
static ssize_t tls_send(conn_step *st, const struct iovec *iov, int k) {
  tls_step *ts = (tls_step *)st;
  ssize_t done = 0, r = 0;
  int i;
  for (i = 0; i < k; i++) {
    size_t off = 0;
    while (off < iov[i].iov_len) {
      r = chc_tls_write(ts->tls, (const char *)iov[i].iov_base + off,
                        iov[i].iov_len - off);
      if (r <= 0) break;
      off += (size_t)r;
      done += r;
    }
    if (r < 0) break;
  }
  if (done > 0 || r >= 0) return done;
  if (r == CHC_TLS_WANT_READ) st->t->write_wants_read = 1;
  errno = fail_errno(ts, r);
  return -1;
}

static const char *tls_errmsg(const conn_step *st) {
  return chc_tls_errmsg(((const tls_step *)st)->tls);
}

static const char *tls_alpn(const conn_step *st) {
  const tls_step *ts = (const tls_step *)st;
  return ts->tls ? chc_tls_alpn(ts->tls) : NULL;
}

static long tls_query(const conn_step *st, int what) {
  const tls_step *ts = (const tls_step *)st;
  if (ts->tls == NULL) return -1;
  if (what == CONN_Q_PENDING) return (long)chc_tls_pending(ts->tls);
  if (what == CONN_Q_EOF_CLEAN) return chc_tls_eof_clean(ts->tls);
  return -1;
}

static void tls_close(conn_step *st) {
  tls_step *ts = (tls_step *)st;
  if (ts->tls) chc_tls_close_notify(ts->tls);
}

static void tls_free(conn_step *st) {
  tls_step *ts = (tls_step *)st;
  chc_tls_free(ts->tls);
  free(ts->host);
  free(ts->key);
  free(ts);
}

static const conn_step_type tls_step_type = {
    "TLS handshake with", tls_start, tls_on_io, tls_recv, tls_send, NULL,
    tls_errmsg, tls_alpn, tls_query, tls_close, tls_free};

const chc_tls *conn_tls_of(const conn_step *st) {
  return st->type == &tls_step_type ? ((const tls_step *)st)->tls : NULL;
}

conn_step *conn_tls_step_new(chc_tls_conf *cf, const char *host,
                             const char *cache_key) {
  tls_step *ts = calloc(1, sizeof *ts);
  if (ts == NULL) return NULL;
  ts->st.type = &tls_step_type;
  ts->cf = cf;
  ts->host = strdup(host);
  ts->key = cache_key ? strdup(cache_key) : NULL;
  if (ts->host == NULL || (cache_key && ts->key == NULL)) {
    tls_free(&ts->st);
    return NULL;
  }
  return &ts->st;
}

conn_step *conn_tls_step_h1_new(chc_tls_conf *cf, const char *host,
                                const char *cache_key) {
  conn_step *st = conn_tls_step_new(cf, host, cache_key);
  if (st) ((tls_step *)st)->h1_only = 1;
  return st;
}
