/*
** wsconn.h: a WebSocket client connection (wsconn.c): the engine of ws.h
** driven over a transport. The handshake is a request of the pool: an
** HTTP/1.1 Upgrade, after whose 101 the connection leaves the pool (the
** takeover of pool_int.h) and this object owns it; or, when the pool's
** connection to the origin is HTTP/2 and its server enabled RFC 8441, an
** extended CONNECT whose stream, after a 2xx, carries the WebSocket
** (wsconn_h2.c). Either way this object reads into the engine, writes the
** engine's frames, runs the ping and close timers and lets the transport
** go at the end. No Lua.
**
** Like a stream (pool.h), it tells its owner through a notify callback
** that something observable changed (the handshake ended, a message is
** held, the peer closed, an error, the unsent bytes fell). The callback
** must only record/wake; it must not call back into the object.
*/
#ifndef CHC_WSCONN_H
#define CHC_WSCONN_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "pool.h"
#include "ws.h"

typedef struct chc_wsc chc_wsc;
typedef void (*chc_wsc_notify)(chc_wsc *w, void *ud);

typedef struct chc_wsc_opts {
  const char *const *protocols; /* borrowed during chc_wsc_open only */
  size_t nprotocols;
  int compress;                 /* offer permessage-deflate */
  int no_context_takeover;      /* ... asking for no context takeover both
                                   ways (no zlib state between messages) */
  size_t max_message;           /* 0: 16 MiB */
  int64_t ping_interval, ping_timeout; /* ms; -1: off */
} chc_wsc_opts;

enum { CHC_WSC_CONNECTING, CHC_WSC_OPEN, CHC_WSC_DONE };

/* Starts the handshake: rq's method is ignored (GET), its headers are
** sent along with the WebSocket fields. NULL with e set on invalid input
** (nothing sent) or out of memory. */
chc_wsc *chc_wsc_open(chc_pool *p, const chc_request *rq,
                      const chc_wsc_opts *o, chc_wsc_notify nf, void *ud,
                      chc_error *e);
/* Closes the transport at once (after one attempt to write what is
** queued) and frees. Never calls notify. */
void chc_wsc_free(chc_wsc *w);

int chc_wsc_state(const chc_wsc *w);
/* Tracing (trace.h; rq->trace set): the handshake request's records, as
** chc_stream_trace_next. */
int chc_wsc_trace_next(chc_wsc *w, chc_trace_rec *r);
/* 1 once the handshake succeeded (even if the WebSocket ended since: what
** came right behind the 101 is then for the receiver to see). */
int chc_wsc_opened(const chc_wsc *w);
/* NULL unless the WebSocket failed (handshake refused, I/O, protocol,
** timeouts). A close handshake, whoever began it, is no error. */
const chc_error *chc_wsc_error(const chc_wsc *w);
/* A refused handshake: the status (0 otherwise) and the start of the
** body (up to 512 bytes). */
int chc_wsc_status(const chc_wsc *w);
const char *chc_wsc_refusal_body(const chc_wsc *w, size_t *n);
/* After the handshake: the agreed subprotocol and extensions ("" when
** none), and "HTTP/1.1" or "HTTP/2" (RFC 8441). */
const char *chc_wsc_protocol(const chc_wsc *w);
const char *chc_wsc_extensions(const chc_wsc *w);
const char *chc_wsc_version(const chc_wsc *w);

/* The message held: 1 with its kind (CHC_WS_TEXT/BINARY) and bytes
** (valid until chc_wsc_release), or 0. */
int chc_wsc_message(const chc_wsc *w, int *kind, const char **p, size_t *n);
/* Drops the held message and reads on (the backpressure: nothing is read
** from the socket while a message is held). */
void chc_wsc_release(chc_wsc *w);
/* Messages in parts of part_min bytes (0: whole; chc_ws_set_part; a no-op
** when the mode is already that) and whether the one held is a part with
** more to come. */
void chc_wsc_set_part(chc_wsc *w, size_t part_min);
int chc_wsc_message_more(const chc_wsc *w);

/* Queue a whole message (or a ping) and write what the socket takes:
** 0, -EINVAL (text not UTF-8, ping over 125 bytes), -EPIPE (closed or
** closing; see chc_wsc_error), -ENOMEM. */
int chc_wsc_send(chc_wsc *w, int kind, const char *p, size_t n);
/* A message in parts (more = 1: further parts follow; chc_ws_send): the
** owner sends nothing else until its last part. */
int chc_wsc_send_part(chc_wsc *w, int kind, const char *p, size_t n,
                      int more);
int chc_wsc_ping(chc_wsc *w, const char *p, size_t n);
size_t chc_wsc_pending(const chc_wsc *w); /* bytes queued, unsent */
/* Sends our close (code 0: none) and waits for the peer's at most
** timeout_ms, then drops the transport: the state becomes DONE. -EINVAL
** for a code or reason the protocol does not allow. */
int chc_wsc_close(chc_wsc *w, int code, const char *reason, size_t n,
                  int64_t timeout_ms);
/* The peer's close: code (0: none arrived; 1005: a close without a code)
** and reason. */
int chc_wsc_close_code(const chc_wsc *w);
const char *chc_wsc_close_reason(const chc_wsc *w, size_t *n);

/* {===================================================================
** Between wsconn.c and the transport over an HTTP/2 stream
** (wsconn_h2.c). Not for owners.
** ==================================================================== */

/* wsconn.c, for the transport: */
chc_ws *wsc_engine(chc_wsc *w);
int wsc_open(const chc_wsc *w); /* state OPEN */
/* Feeds p[0..n): the bytes the engine took (0 while a message is held;
** all of them after the peer's close), or -1 when the WebSocket ended
** or failed (the transport may be gone then: touch nothing). */
ssize_t wsc_feed(chc_wsc *w, const char *p, size_t n);
void wsc_eof(chc_wsc *w);  /* the peer's end: clean after its close */
void wsc_fail(chc_wsc *w, int code, const char *msg);
/* after a flush that began with `before` bytes queued: frees a drained
** big output buffer, and wakes senders when bytes left */
void wsc_wrote(chc_wsc *w, size_t before);
void wsc_close_wait(chc_wsc *w); /* after a pump: time the peer's end */

/* wsconn_h2.c: the engine's output into the stream (as far as its
** window and queue allow); a pump (write, then feed what the stream
** received: the bytes the engine does not take stay in the stream and
** its window stays closed); the end (clean: our END_STREAM after the
** close handshake; else RST_STREAM CANCEL), which releases s. */
void wsc_h2_flush(chc_wsc *w, chc_stream *s);
void wsc_h2_pump(chc_wsc *w, chc_stream *s);
void wsc_h2_end(chc_wsc *w, chc_stream *s, int clean);

/* }=================================================================== */

#endif
