/*
** wsconn_h2.c: a WebSocket's bytes over an HTTP/2 stream (RFC 8441), the
** transport under wsconn.c once an extended CONNECT was answered 2xx.
**
** Received DATA stays in the stream (h2.c's blocks, which do not move)
** until the engine takes it: the engine is fed straight from
** chc_stream_peek and only what it took is consumed. While a message is
** held nothing is consumed, so the stream's window is not given back and
** the server's sends wait on HTTP/2 flow control, as they wait on TCP
** over HTTP/1.1. Our frames go from the engine's output into the
** stream's queue while the stream is writable (the connection sends them
** as the server's window allows); the rest stays in the engine's output,
** where the owner's high-water mark sees it. The close handshake ends
** with our END_STREAM; anything else resets the stream (CANCEL).
*/
#include <stdio.h>

#include "pool_int.h"
#include "wsconn.h"

/* bytes moved into the stream's queue per write: the queue stays near
** its limit instead of taking a whole large message at once */
#define WRITE_CHUNK (16 * 1024)

void wsc_h2_flush(chc_wsc *w, chc_stream *s) {
  chc_buf *out = chc_ws_output(wsc_engine(w));
  size_t before = out->len;
  while (out->len > 0 && chc_stream_writable(s) == 1) {
    size_t n = out->len < WRITE_CHUNK ? out->len : WRITE_CHUNK;
    if (chc_stream_write(s, chc_buf_head(out), n) < 0)
      break; /* the stream failed: the pump reports it */
    chc_buf_consume(out, n);
  }
  wsc_wrote(w, before);
}

/* Both closes are done and written into the stream: our side ends (RFC
** 8441 5: END_STREAM is the TCP FIN; nothing is left to wait for on our
** side, and the server may be waiting for it). */
static void end_ours(chc_wsc *w, chc_stream *s) {
  chc_ws *ws = wsc_engine(w);
  unsigned st = chc_ws_state(ws);
  if (!s->body_ended && (st & CHC_WS_CLOSE_SENT) &&
      (st & CHC_WS_CLOSE_RECEIVED) && chc_ws_pending(ws) == 0)
    chc_stream_write_end(s);
}

void wsc_h2_pump(chc_wsc *w, chc_stream *s) {
  chc_ws *ws = wsc_engine(w);
  wsc_h2_flush(w, s);
  while (wsc_open(w) && (chc_ws_want_read(ws) ||
                         (chc_ws_state(ws) & CHC_WS_CLOSE_RECEIVED))) {
    const char *p;
    size_t n;
    ssize_t k;
    int r = chc_stream_peek(s, &p, &n);
    if (r < 0) { /* the server's END_STREAM */
      wsc_eof(w);
      return;
    }
    if (r == 0) {
      const chc_error *e = chc_stream_error(s);
      if (e) {
        /* a reset stream or a lost connection: the WebSocket's abnormal
        ** end (1006), a ReadError as a TCP reset is over HTTP/1.1 */
        char m[CHC_ERRMSG_MAX];
        snprintf(m, sizeof m,
                 "the WebSocket's HTTP/2 stream ended without a WebSocket "
                 "close (1006): %.150s",
                 e->msg);
        wsc_fail(w, e->code == CHC_EREMOTE_PROTO ? CHC_EREAD : e->code, m);
      }
      return;
    }
    k = wsc_feed(w, p, n);
    if (k < 0) return; /* ended: s is released */
    chc_stream_consume(s, (size_t)k); /* gives that much window back */
    if (k == 0) break;
  }
  if (!wsc_open(w)) return;
  wsc_h2_flush(w, s); /* pongs and the close echo the feeding queued */
  end_ours(w, s);
  wsc_close_wait(w);
}

void wsc_h2_end(chc_wsc *w, chc_stream *s, int clean) {
  chc_buf *out = chc_ws_output(wsc_engine(w));
  if (clean && !s->body_ended) {
    /* the last of our frames (the close) goes in whole, window or not */
    if (out->len > 0 && chc_stream_write(s, chc_buf_head(out), out->len) == 0)
      chc_buf_consume(out, out->len);
    chc_stream_write_end(s);
  }
  /* a tunnel both sides ended is not reset: our END_STREAM goes out */
  chc_stream_release(s);
}
