/*
** h1conn.c: HTTP/1.1 exchanges on a pooled connection (h1_ops).
**
** The engine (h1.c) is sans-I/O: this file reads into c->rbuf, feeds the
** engine, and writes what the engine serialised. The socket is
** edge-triggered: we keep the transport's readable/writable flags and
** read until EAGAIN, or until the reader holds a body region
** (backpressure: then we simply stop reading). A body region points into
** the read buffer; chunk framing is removed in place.
*/
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/sendfile.h>

#include "pool_int.h"

#define DRAIN_MAX (64 * 1024) /* body bytes worth reading away to reuse */

static void h1_read(pconn *c);
static void h1_flush(pconn *c);

static size_t wpending(const pconn *c) {
  return c->wbuf.len + (c->h1 ? c->h1->wbody_len : 0);
}

void h1conn_free(h1conn *h) {
  chc_h1_resp_free(&h->resp);
  free(h);
}

void h1_detach(chc_stream *s) {
  pconn *c = s->c;
  h1_stream *x = &s->h1;
  if (c == NULL) return;
  if (x->bn > 0 && x->bp != x->tail.data) {
    chc_buf_reset(&x->tail);
    if (chc_buf_append(&x->tail, x->bp, x->bn) == 0) {
      x->bp = x->tail.data;
    } else {
      x->bn = 0;
      s->resp_done = 0; /* the body is lost: an error, not an early end */
      stream_fail(s, CHC_EREAD, "out of memory keeping the response body");
    }
  }
  c->s = NULL;
  if (c->h1) {
    c->h1->wbody = NULL;
    c->h1->wbody_len = 0;
  }
  s->c = NULL;
  if (s->state == S_ACTIVE) s->state = S_DONE;
}

/* Gets c ready for the exchange of c->s: parser, head in the write
** buffer, a string body borrowed after it. 0, or -1 out of memory. */
static int prepare(pconn *c) {
  chc_stream *s = c->s;
  h1conn *h = c->h1 ? c->h1 : (c->h1 = pool_h1_get(c->pool));
  if (h == NULL) return -1;
  h->got_bytes = h->write_failed = h->resp_pending = 0;
  chc_h1_resp_init(&h->resp, c->pool->o.max_header_size, s->no_body);
  chc_buf_reset(&c->wbuf);
  if (chc_buf_append(&c->wbuf, s->h1.head.data, s->h1.head.len) < 0) return -1;
  if (s->body_kind == CHC_BODY_BYTES) {
    h->wbody = s->body;
    h->wbody_len = s->body_len;
  }
  return 0;
}

/* h1_ops.start: c (active, set up) serves s now. */
static void h1_start(pconn *c, chc_stream *s) {
  pool_bind(c, s);
  if (prepare(c) < 0) {
    pool_conn_close(c, CHC_EREAD, "out of memory");
    return;
  }
  STREAM_TRACE(s, stream_trace_request);
  h1_flush(c);
  if (c->state != C_CLOSED && c->s == s) h1_read(c);
}

void h1_begin(pconn *c) {
  if (c->s && prepare(c) < 0) {
    pool_conn_close(c, CHC_ECONNECT, "out of memory");
    return;
  }
  if (c->s) STREAM_TRACE(c->s, stream_trace_request);
  h1_flush(c);
  if (c->state != C_CLOSED && c->s) h1_read(c);
}

static void io_error(pconn *c, int code, const char *what, int err) {
  if (pool_retry_stale(c, c->h1->got_bytes)) return;
  pool_conn_close(c, code, "%s %s: %s", what, c->t->peer,
                  conn_strerror(c->t, err));
}

/* After a 101 to a stream that asked for it: the transport leaves the
** pool with the bytes read past the head, for the stream's new owner. */
static void take_over(pconn *c) {
  chc_stream *s = c->s;
  chc_buf rest = CHC_BUF_INIT;
  conn *t;
  h1_detach(s);
  chc_timer_stop(c->pool->lp, &s->ttimer);
  t = pool_conn_detach(c, &rest);
  s->takeover(s, t, &rest, s->takeover_ud);
  stream_notify(s);
  if (s->released) stream_free(s);
}

/* The exchange on c is complete (response done). */
static void exchange_done(pconn *c) {
  chc_stream *s = c->s;
  h1conn *h = c->h1;
  int reusable = h->resp.keep_alive && s->req_done && !h->write_failed &&
                 c->rbuf.len == 0 && conn_pending(c->t) == 0;
  if (s->status == 101 && s->takeover) {
    take_over(c);
    return;
  }
  h1_detach(s);
  chc_timer_stop(c->pool->lp, &s->ttimer);
  stream_notify(s);
  if (s->released) stream_free(s); /* drained */
  pool_conn_unidle(c);               /* off the draining list */
  if (reusable) {
    pool_timer(c, T_NONE, -1);
    pool_conn_release(c);
  } else {
    pool_conn_close(c, CHC_OK, "not reusable");
  }
}

/* What a feed found that is for the reader: the head, body bytes. */
static void publish(pconn *c, chc_stream *s, chc_h1_resp *r) {
  if (r->events & CHC_H1_HEAD) {
    s->status = r->status;
    s->major = r->major;
    s->minor = r->minor;
    chc_buf_reset(&s->reason);
    chc_buf_append(&s->reason, chc_buf_head(&r->reason), r->reason.len + 1);
    chc_hlist_reset(&s->fields);
    chc_hlist_swap(&s->fields, &r->fields);
    s->has_head = 1;
    STREAM_TRACE(s, stream_trace_head);
  }
  if ((r->events & CHC_H1_BODY) && r->body_len > 0) {
    if (s->h1.draining) { /* nobody wants these bytes: drop them */
      s->h1.drained += r->body_len;
      if (s->h1.drained > DRAIN_MAX && !(r->events & CHC_H1_DONE)) {
        pool_conn_close(c, CHC_OK, "too much body left to drain");
        return;
      }
    } else {
      s->h1.bp = r->body;
      s->h1.bn = r->body_len;
    }
  }
}

/* Feeds the read buffer to the engine and publishes what it found. */
static void process(pconn *c) {
  chc_stream *s = c->s;
  h1conn *h = c->h1;
  chc_h1_resp *r = &h->resp;
  ssize_t used;
  if (c->rbuf.len == 0 || s == NULL) return;
  used = chc_h1_resp_feed(r, chc_buf_head(&c->rbuf), c->rbuf.len);
  if (used < 0) {
    pool_conn_close(c, CHC_EREMOTE_PROTO, "%s (from %s)", r->err.msg,
                    c->t->peer);
    return;
  }
  chc_buf_consume(&c->rbuf, (size_t)used);
  if ((r->events & CHC_H1_HEAD) && r->status == 101 && !s->h1.upgrade) {
    pool_conn_close(c, CHC_EREMOTE_PROTO, "101 Switching Protocols from %s, "
                    "but the request did not ask for an Upgrade", c->t->peer);
    return;
  }
  publish(c, s, r);
  if (c->state == C_CLOSED) return;
  if (r->events & CHC_H1_DONE) {
    if (r->trailers.n > 0) {
      chc_hlist_reset(&s->trailers);
      chc_hlist_swap(&s->trailers, &r->trailers);
    }
    if (!s->req_done && s->status < 300 && r->keep_alive &&
        !h->write_failed && !s->h1.draining) {
      /* RFC 9112 9.5: a server may answer before it has read the whole
      ** request. A success on a connection it keeps means it still takes
      ** the body, so keep sending it; the reader sees the end once the
      ** body is out (or the server stopped taking it: early_done).
      ** A 3xx/4xx/5xx, or a response that closes the connection, stops
      ** the upload at once: the exchange ends, the producer is not
      ** called again, the connection is not reused. */
      h->resp_pending = 1;
      stream_notify(s);
      return;
    }
    s->resp_done = 1;
    exchange_done(c);
    return;
  }
  if (r->events) stream_notify(s);
}

/* The peer closed: the end of a read-until-close body, or a failure. */
static void at_eof(pconn *c) {
  chc_stream *s = c->s;
  h1conn *h = c->h1;
  int r;
  c->t->readable = 0;
  if (!h->got_bytes && pool_retry_stale(c, 0)) return;
  r = chc_h1_resp_eof(&h->resp);
  if (r < 0) {
    if (h->write_failed && !h->got_bytes)
      pool_conn_close(c, CHC_EWRITE, "sending to %s failed: %s", c->t->peer,
                      strerror(h->write_errno));
    else
      pool_conn_close(c, CHC_EREMOTE_PROTO, "%s (from %s)", h->resp.err.msg,
                      c->t->peer);
    return;
  }
  if (r == 1 && !conn_eof_clean(c->t)) {
    /* a read-until-close body ends with close_notify over TLS:
    ** without it the end may have been cut off by an attacker */
    pool_conn_close(c, CHC_EREMOTE_PROTO, "connection closed without TLS "
                    "close_notify: the response body may be truncated (from "
                    "%s)", c->t->peer);
    return;
  }
  if (r == 1) {
    if (h->resp.trailers.n > 0)
      chc_hlist_move(&s->trailers, &h->resp.trailers);
    s->resp_done = 1;
    h->resp.keep_alive = 0;
    exchange_done(c);
  }
}

/* An idle connection has nothing to say: anything from its peer (data,
** the end) means it is done. */
static void idle_read(pconn *c) {
  char tmp[64];
  ssize_t n = conn_recv_raw(c->t, tmp, sizeof tmp);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
    c->t->readable = 0;
    return;
  }
  pool_conn_close(c, CHC_OK, "closed while idle");
}

/*
** Reads while the socket has data and nobody holds a body region. The
** read timeout runs only while we are waiting for the server.
*/
static void h1_read(pconn *c) {
  for (;;) {
    chc_stream *s = c->s;
    ssize_t n;
    if (c->state == C_CLOSED) return;
    if (c->state == C_IDLE) {
      if (c->t->readable) idle_read(c);
      return;
    }
    if (s == NULL) return;
    if (s->h1.bn > 0) { /* backpressure: the reader holds a region */
      /* not waiting for the server now: no read timeout (it restarts at
      ** the next EAGAIN once the region is consumed) */
      if (c->tkind == T_READ) pool_timer(c, T_NONE, -1);
      return;
    }
    if (c->h1->resp_pending) return; /* nothing more is due */
    if (c->rbuf.len > 0) {           /* leftover unparsed bytes */
      process(c);
      continue;
    }
    if (!c->t->readable) {
      if (s->req_done || c->h1->write_failed)
        pool_timer(c, T_READ, s->to.read);
      return;
    }
    if (c->rbuf.cap == 0) pool_rbuf_get(c->pool, &c->rbuf);
    if (c->rbuf.cap == 0 || chc_buf_avail(&c->rbuf) < RBUF_SIZE / 4) {
      chc_buf_reset(&c->rbuf);
      if (chc_buf_reserve(&c->rbuf, RBUF_SIZE) < 0) {
        pool_conn_close(c, CHC_EREAD, "out of memory");
        return;
      }
    }
    n = conn_recv(c->t, chc_buf_tail(&c->rbuf), chc_buf_avail(&c->rbuf));
    if (n > 0) {
      c->h1->got_bytes = 1;
      chc_buf_commit(&c->rbuf, (size_t)n);
      process(c);
      continue;
    }
    if (n == 0) {
      at_eof(c);
      return;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      c->t->readable = 0;
      if (s->req_done || c->h1->write_failed)
        pool_timer(c, T_READ, s->to.read);
      return;
    }
    io_error(c, CHC_EREAD, "reading from", errno);
    return;
  }
}

/* The whole request has been written. */
static void req_written(pconn *c) {
  chc_stream *s = c->s;
  s->req_done = 1;
  STREAM_TRACE(s, stream_trace_sent);
  if (c->h1->resp_pending) { /* the response was complete already */
    c->h1->resp_pending = 0;
    pool_timer(c, T_NONE, -1);
    s->resp_done = 1;
    exchange_done(c);
    return;
  }
  pool_timer(c, T_READ, s->to.read);
}

/* Sending the rest of the body failed after the complete response came
** (the server stopped reading, or closed): the response stands, the
** upload ends there, the connection is not reused. */
static void early_done(pconn *c, int err) {
  h1conn *h = c->h1;
  h->write_failed = 1;
  h->write_errno = err;
  h->resp_pending = 0;
  h->wbody_len = 0;
  chc_buf_reset(&c->wbuf);
  pool_timer(c, T_NONE, -1);
  c->s->resp_done = 1;
  exchange_done(c);
}

int h1_write_timed_out(pconn *c) {
  if (!c->h1->resp_pending) return 0;
  early_done(c, ETIMEDOUT);
  return 1;
}

/*
** Sending failed. The server may have answered and closed (e.g. 413):
** stop writing and let the read side decide. After a complete response
** only the rest of the body is lost (early_done).
*/
static void write_failed(pconn *c, int err) {
  h1conn *h = c->h1;
  if (h->resp_pending) {
    early_done(c, err);
    return;
  }
  h->write_failed = 1;
  h->write_errno = err;
  h->wbody_len = 0;
  chc_buf_reset(&c->wbuf);
  if (!pool_stale_candidate(c, h->got_bytes)) {
    c->t->readable = 1;
    h1_read(c);
    return;
  }
  io_error(c, CHC_EWRITE, "sending to", err);
}

/* Writes pending bytes: wbuf, then the borrowed body. */
static void h1_flush(pconn *c) {
  chc_stream *s = c->s;
  h1conn *h = c->h1;
  while (h && wpending(c) > 0 && c->t->writable && !h->write_failed) {
    struct iovec iov[2];
    int k = 0;
    ssize_t n;
    if (c->wbuf.len) {
      iov[k].iov_base = chc_buf_head(&c->wbuf);
      iov[k++].iov_len = c->wbuf.len;
    }
    if (h->wbody_len) {
      iov[k].iov_base = (void *)h->wbody;
      iov[k++].iov_len = h->wbody_len;
    }
    n = conn_send(c->t, iov, k);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        c->t->writable = 0;
        break;
      }
      write_failed(c, errno);
      return;
    }
    if ((size_t)n <= c->wbuf.len) {
      chc_buf_consume(&c->wbuf, (size_t)n);
    } else {
      n -= (ssize_t)c->wbuf.len;
      chc_buf_reset(&c->wbuf);
      h->wbody += n;
      h->wbody_len -= (size_t)n;
    }
  }
  if (s == NULL || c->state == C_CLOSED) return;
  if (wpending(c) > 0) {
    if (!c->t->writable) pool_timer(c, T_WRITE, s->to.write);
    return;
  }
  if (!s->req_done) {
    if (s->body_kind != CHC_BODY_STREAM || s->body_ended)
      req_written(c);
    else {
      pool_timer(c, T_NONE, -1); /* waiting for the producer */
      stream_notify(s);
    }
  }
}

static void h1_on_io(pconn *c, unsigned ev) {
  if (ev & CHC_EV_WRITE) {
    c->t->writable = 1;
    if (c->s && wpending(c) > 0) {
      h1_flush(c);
      if (c->state == C_CLOSED) return;
    }
  }
  if (ev & CHC_EV_READ) {
    c->t->readable = 1;
    h1_read(c);
  }
}

/* c is closing: the stream it serves fails with the error (if it had
** none) and lets go. */
static void h1_teardown(pconn *c, int code, const char *msg) {
  chc_stream *s = c->s;
  if (s == NULL) return;
  if (code != CHC_OK && !s->resp_done && s->err.code == CHC_OK) {
    s->err.code = code;
    snprintf(s->err.msg, sizeof s->err.msg, "%s", msg);
    chc_timer_stop(c->pool->lp, &s->ttimer);
    STREAM_TRACE(s, stream_trace_failed);
  }
  h1_detach(s);
  stream_notify(s);
  if (s->released) stream_free(s); /* it was draining */
}

/* {===================================================================
** The stream API over HTTP/1.1
** ==================================================================== */

static int h1_peek(chc_stream *s, const char **p, size_t *n) {
  if (s->h1.bn > 0) {
    *p = s->h1.bp;
    *n = s->h1.bn;
    return 1;
  }
  if (s->resp_done && s->err.code == CHC_OK) return -1;
  return 0;
}

static void h1_consume(chc_stream *s, size_t n) {
  h1_stream *x = &s->h1;
  if (n > x->bn) n = x->bn;
  x->bp += n;
  x->bn -= n;
  if (x->bn == 0 && s->c) {
    x->bp = NULL;
    h1_read(s->c);
  }
}

static int h1_writable(chc_stream *s) {
  pconn *c = s->c;
  if (s->err.code != CHC_OK || s->resp_done || s->released || s->body_ended)
    return -1;
  if (c == NULL || c->state != C_ACTIVE || c->h1->write_failed) return 0;
  return wpending(c) < WBUF_HIGH ? 1 : 0;
}

/*
** Writes one chunk of a producer body (chunk-framed, or as it is when the
** caller announced a Content-Length). When nothing is queued and the
** socket is writable the bytes go straight from the caller's memory
** (writev); only what the socket does not take is copied into the write
** buffer. TLS takes whole records from the write buffer.
*/
static int h1_write(chc_stream *s, const char *p, size_t n) {
  pconn *c = s->c;
  char hdr[24];
  struct iovec iov[3];
  int k = 0, i, r = 0;
  size_t done = 0, total = 0;
  if (s->h1.chunked) {
    iov[k].iov_base = hdr;
    iov[k++].iov_len = (size_t)snprintf(hdr, sizeof hdr, "%zx\r\n", n);
  }
  iov[k].iov_base = (void *)p;
  iov[k++].iov_len = n;
  if (s->h1.chunked) {
    iov[k].iov_base = (void *)"\r\n";
    iov[k++].iov_len = 2;
  }
  for (i = 0; i < k; i++) total += iov[i].iov_len;
  if (wpending(c) == 0 && c->t->writable && conn_is_plain(c->t)) {
    ssize_t w;
    do w = conn_send(c->t, iov, k);
    while (w < 0 && errno == EINTR);
    if (w < 0 && errno != EAGAIN) {
      write_failed(c, errno);
      return -1;
    }
    done = w > 0 ? (size_t)w : 0;
    if (done < total) c->t->writable = 0;
  }
  if (done < total) { /* queue what the socket did not take */
    for (i = 0; i < k; i++) {
      size_t len = iov[i].iov_len;
      if (done >= len) {
        done -= len;
        continue;
      }
      r |= chc_buf_append(&c->wbuf, (char *)iov[i].iov_base + done,
                          len - done);
      done = 0;
    }
    if (r) {
      pool_conn_close(c, CHC_EWRITE, "out of memory buffering the request "
                      "body");
      return -1;
    }
    pool_timer(c, T_WRITE, s->to.write);
  }
  if (!conn_is_plain(c->t) && c->t->writable) {
    h1_flush(c);
    if (s->err.code != CHC_OK) return -1;
  }
  return 0;
}

static int h1_write_end(chc_stream *s) {
  pconn *c = s->c;
  if (s->h1.chunked && chc_h1_write_last_chunk(&c->wbuf) < 0) {
    pool_conn_close(c, CHC_EWRITE, "out of memory");
    return -1;
  }
  h1_flush(c);
  return 0;
}

static void h1_cancel(chc_stream *s, int code, const char *msg) {
  if (s->c) pool_conn_close(s->c, code, "%s", msg);
}

/*
** Whether the rest of a response is worth reading away so the connection
** can be reused: only when the body has a known end (not read-until-close)
** and, with a Content-Length, when little of it is left.
*/
static int drain_worthwhile(const pconn *c) {
  const chc_stream *s = c->s;
  const llhttp_t *ps;
  if (!s->has_head || !s->req_done || c->h1->write_failed) return 0;
  ps = &c->h1->resp.parser;
  if (llhttp_message_needs_eof(ps)) return 0;
  if ((ps->flags & F_CONTENT_LENGTH) && ps->content_length > DRAIN_MAX)
    return 0;
  return 1;
}

static void h1_release(chc_stream *s) {
  pconn *c = s->c;
  if (c && s->err.code == CHC_OK && drain_worthwhile(c) && pool_drain(c)) {
    /* the connection owns the stream now and frees it when done */
    s->h1.draining = 1;
    s->h1.drained = s->h1.bn;
    s->h1.bn = 0;
    s->h1.bp = NULL;
    h1_read(c);
    return;
  }
  if (c) {
    /* the exchange is not complete: the connection cannot be reused */
    h1_detach(s);
    pool_conn_close(c, CHC_OK, "response closed before its end");
  }
  stream_free(s);
}

static size_t h1_buffered(const chc_stream *s) { return s->h1.bn; }

/* }=================================================================== */

const proto_ops h1_ops = {h1_start,     h1_on_io,    h1_teardown,
                          h1_peek,      h1_consume,  h1_writable,
                          h1_write,     h1_write_end, h1_cancel,
                          h1_release,   h1_buffered};

/*
** A fixed-length body from a file on a plain connection with nothing
** queued goes from the page cache to the socket (sendfile), never through
** our memory. sendfile has no MSG_NOSIGNAL: SIGPIPE is blocked around it
** and one it raised is taken back, so a peer that closed gets EPIPE as
** with send(). What the socket does not take stays in the file: the
** caller goes on from there (through the write buffer while the socket
** is full).
*/
long long h1_sendfile(chc_stream *s, int fd, long long off, size_t n) {
  pconn *c = s->c;
  sigset_t pipe_set, old, pending;
  off_t o = (off_t)off;
  ssize_t w;
  int err, was_pending;
  if (c == NULL || c->h1 == NULL || s->h1.chunked || !conn_is_plain(c->t) ||
      wpending(c) > 0 || !c->t->writable)
    return -1;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  sigpending(&pending);
  was_pending = sigismember(&pending, SIGPIPE);
  do w = sendfile(c->t->io.fd, fd, &o, n);
  while (w < 0 && errno == EINTR);
  err = errno;
  if (w < 0 && err == EPIPE && !was_pending) {
    struct timespec zero = {0, 0};
    sigtimedwait(&pipe_set, NULL, &zero);
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (w < 0) {
    if (err == EAGAIN) {
      c->t->writable = 0;
      pool_timer(c, T_WRITE, s->to.write);
      return 0;
    }
    if (err == EINVAL || err == ENOSYS) return -1; /* not a file it takes */
    write_failed(c, err);
    return -2;
  }
  if (w == 0) return -1; /* the file ended: the buffered path says how */
  if ((size_t)w < n) {
    c->t->writable = 0;
    pool_timer(c, T_WRITE, s->to.write);
  }
  return (long long)w;
}
