/*
** h2.h: the HTTP/2 client engine over nghttp2, sans-I/O.
**
** Bytes in (chc_h2_feed), bytes out (chc_h2_flush), events through
** callbacks. No sockets, no timers, no Lua: the transport owns those.
** Only h2.c includes nghttp2.h (G1).
**
** {==================================================================
** How pool.c drives it (one engine per HTTP/2 connection)
** ===================================================================
**
** Start. Once the socket is connected (h2c with prior knowledge) or TLS
** agreed ALPN "h2", call chc_h2_new(). It queues the client preface, our
** SETTINGS (ENABLE_PUSH=0, the stream window, the head limit) and a
** WINDOW_UPDATE that raises the connection window; the first flush
** writes them. Requests may be submitted at once: RFC 9113 3.4 lets the
** client send frames right after its preface, before the server's
** SETTINGS arrive (nghttp2 assumes 100 concurrent streams until then).
**
** Reading. Read into the connection's buffer and feed everything:
** chc_h2_feed() always consumes all it is given (or fails), copying
** what it keeps (header fields, body bytes), so the read buffer can be
** reused as soon as it returns. Keep reading until EAGAIN whatever the
** readers do: with HTTP/2, backpressure is the flow-control window, not
** the socket. A stalled reader of one stream must not stall the others,
** and the server cannot send a stream more than its window anyway.
**
** Writing. Every engine call may queue frames: submit, feed (SETTINGS
** and PING acks, RST_STREAM), consume (WINDOW_UPDATE), stream_write
** (DATA), cancel, ping. Mark the connection dirty after them and, once
** per loop iteration before polling (G7, redis beforesleep), call
** chc_h2_flush(h2, &c->wbuf, WBUF_HIGH) and write the buffer. When a
** short write leaves the buffer non-empty, wait for EPOLLOUT; once it
** drains below WBUF_LOW, flush again while chc_h2_want_write(). The
** limit keeps a large upload from being serialised all at once: the
** engine produces at most one frame beyond it.
**
** Opening streams. Submit only when chc_h2_can_open() is true (the
** peer's SETTINGS_MAX_CONCURRENT_STREAMS, GOAWAY, stream ids left).
** Otherwise the request waits in the pool (its pool timeout runs) and is
** dispatched on the on_slots callback, or goes to a second connection
** within max_connections. Pool limits count connections, not streams.
**
** Response bodies: the engine owns them. Each stream keeps the DATA it
** received in a queue of fixed blocks; chc_h2_stream_peek() returns the
** oldest contiguous region, which stays valid, at the same address,
** until the caller consumes it or releases the stream: later feeds
** append behind it and never move it. So a body region can be handed to
** Lua (lua_pushlstring) or held across loop iterations. After using
** bytes call chc_h2_stream_consume(st, n): it drops them and tells
** nghttp2 they were consumed, which is what reopens the stream and
** connection windows (WINDOW_UPDATE goes out at the next flush, once
** half a window has been consumed). Automatic WINDOW_UPDATE is off, so
** a reader that never consumes holds at most one stream window of body
** (and all streams together at most the connection window).
**
** Request bodies. BYTES: borrowed, copied straight into DATA frames as
** the peer's windows allow; keep the bytes alive until release. STREAM:
** a producer writes with chc_h2_stream_write() while
** chc_h2_stream_writable() == 1, waits for on_writable when it is 0,
** stops when it is -1, and ends with chc_h2_stream_write_end(). The
** queue is bounded (upload_buffer): a slow server stops the producer.
**
** Ending. on_end or on_error arrives exactly once per stream (unless the
** caller released it first). The caller then releases the stream
** (chc_h2_stream_release), at once or after the reader took the body;
** releasing an unfinished stream resets it (RST_STREAM CANCEL) and gives
** the unread body's window back to the connection. Retry a stream whose
** error is chc_h2_stream_retryable() on another connection: the server
** certainly did not process it (REFUSED_STREAM, above a GOAWAY's
** last-stream-id, or never sent).
**
** Connection end. chc_h2_feed() < 0: a protocol error; every live stream
** already got on_error (RemoteProtocolError). Flush once (our GOAWAY),
** then close the socket. EOF, read/write errors and timeouts: call
** chc_h2_abort(); it fails the live streams (on_error). After on_goaway
** stop choosing the connection; close it when neither chc_h2_want_read
** nor chc_h2_want_write (the streams below last-stream-id finished).
** Close idle connections with chc_h2_shutdown(), flush, close. Free the
** engine at reap time (G6), never inside one of its callbacks. Streams
** the caller still owns survive chc_h2_free(): they keep their head and
** buffered body, and the caller releases them as usual.
**
** Liveness. Before reusing a connection idle for long, chc_h2_ping() and
** wait for on_ping_ack (with a short timer of the pool's own).
**
** Callbacks run inside feed, flush, abort and shutdown. Like every
** engine callback (G2) they only record and wake: they must not call
** any chc_h2_* function that changes state (submit, feed, flush,
** consume, write, cancel, release, free). Observers are fine.
** }==================================================================
*/
#ifndef CHC_H2_H
#define CHC_H2_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "common.h"

typedef struct chc_h2 chc_h2;
typedef struct chc_h2_stream chc_h2_stream;

/* Configuration; zero fields take the defaults. */
typedef struct chc_h2_opts {
  uint32_t stream_window; /* SETTINGS_INITIAL_WINDOW_SIZE: 256 KiB */
  uint32_t conn_window;   /* connection receive window: 8 MiB */
  size_t max_header;      /* response head (and trailers) limit: 65536
                             bytes, counted as RFC 9113 6.5.2 does */
  size_t upload_buffer;   /* producer queue per stream: 64 KiB */
} chc_h2_opts;

/*
** Events. Any pointer may be NULL. `ud` is the stream's user pointer
** (given to chc_h2_submit), `cud` the connection's (chc_h2_new).
*/
typedef struct chc_h2_callbacks {
  /* The final response head arrived (1xx heads are skipped):
  ** chc_h2_stream_status() and chc_h2_stream_headers(). */
  void (*on_head)(chc_h2_stream *st, void *ud);
  /* n more body bytes are buffered (chc_h2_stream_peek). */
  void (*on_data)(chc_h2_stream *st, void *ud, size_t n);
  /* The response is complete (END_STREAM). Trailers, if the response had
  ** any, are in chc_h2_stream_trailers() now: RFC 9113 8.1 puts them in
  ** the last HEADERS frame, which carries END_STREAM. Body bytes may
  ** still be buffered. */
  void (*on_end)(chc_h2_stream *st, void *ud);
  /* The stream failed: chc_h2_stream_error(), _retryable(). Body bytes
  ** received before the failure stay readable. */
  void (*on_error)(chc_h2_stream *st, void *ud);
  /* The producer's queue drained (it had been full), or, for a string
  ** body, part of it went out (the server's window let it through). */
  void (*on_writable)(chc_h2_stream *st, void *ud);
  /* The whole request, END_STREAM included, went into the output. */
  void (*on_sent)(chc_h2_stream *st, void *ud);
  /* A stream closed or the peer's SETTINGS changed: chc_h2_can_open()
  ** may have become true. */
  void (*on_slots)(chc_h2 *h2, void *cud);
  /* GOAWAY received. Streams above last_stream_id fail (retryable) in
  ** the same feed, or at the next flush for requests not sent yet. */
  void (*on_goaway)(chc_h2 *h2, void *cud, int32_t last_stream_id,
                    uint32_t error_code);
  /* The peer acknowledged one of our PINGs. */
  void (*on_ping_ack)(chc_h2 *h2, void *cud);
} chc_h2_callbacks;

/* ---- connection ---- */

/* Creates the engine and queues the preface, SETTINGS and the connection
** WINDOW_UPDATE. Copies opts and callbacks. Returns NULL with e set
** (LocalProtocolError for bad opts, ReadError for out of memory). */
chc_h2 *chc_h2_new(const chc_h2_opts *opts, const chc_h2_callbacks *cb,
                   void *cud, chc_error *e);
/* Frees the engine. No callbacks. Streams already released go; streams
** the caller still owns are detached (and marked failed with Closed if
** they had not ended): they stay readable until chc_h2_stream_release.
** Call chc_h2_abort first if streams are live, so they hear about it. */
void chc_h2_free(chc_h2 *h2);

/* Feeds n received bytes. Can call back. Returns n, or -1 when the
** connection is unusable: a protocol error from the peer
** (RemoteProtocolError: every live stream got on_error; flush once more
** to send our GOAWAY, then close) or an internal failure (out of
** memory). The error is in chc_h2_error(). After -1, feeds return -1. */
ssize_t chc_h2_feed(chc_h2 *h2, const uint8_t *p, size_t n);

/* Appends the frames nghttp2 wants to send to out, until it has nothing
** more or out->len >= limit (0: no limit; at most one frame beyond it).
** Can call back (a stream may fail when its request cannot be sent).
** Returns 0, or -1 (out of memory, or nghttp2 failed: chc_h2_error()). */
int chc_h2_flush(chc_h2 *h2, chc_buf *out, size_t limit);

int chc_h2_want_write(const chc_h2 *h2); /* frames are waiting: flush */
/* 0 when the connection has nothing left to receive: GOAWAY exchanged
** and no stream open, or a fatal error. Close it then. */
int chc_h2_want_read(const chc_h2 *h2);

/* The connection error after feed/flush returned -1 or after abort;
** NULL while the connection is healthy. */
const chc_error *chc_h2_error(const chc_h2 *h2);

/* The peer's SETTINGS_MAX_CONCURRENT_STREAMS (100 until its SETTINGS
** arrive; 0xffffffff when it sets no limit). */
uint32_t chc_h2_max_streams(const chc_h2 *h2);
/* Streams submitted and not yet closed by nghttp2 (released ones whose
** RST_STREAM is still to be sent included: they hold a slot). */
size_t chc_h2_open_streams(const chc_h2 *h2);
/* 1 once the peer's SETTINGS enabled extended CONNECT (RFC 8441 3,
** SETTINGS_ENABLE_CONNECT_PROTOCOL = 1); 0 until its SETTINGS arrive. */
int chc_h2_connect_protocol(const chc_h2 *h2);
/* 1 once the peer's first SETTINGS frame was received. */
int chc_h2_settings_received(const chc_h2 *h2);
/* 1 when another request may be submitted now: healthy, no GOAWAY sent
** or received, stream ids left, open streams below the peer's limit. */
int chc_h2_can_open(const chc_h2 *h2);
/* 1 once a GOAWAY was received (last_stream_id in *last if not NULL). */
int chc_h2_goaway(const chc_h2 *h2, int32_t *last);

/* Queues a PING (8 opaque bytes of our own). on_ping_ack reports the
** acknowledgement. Returns 0, or -1 if the connection is unusable. */
int chc_h2_ping(chc_h2 *h2);

/* Closes politely: queues GOAWAY(NO_ERROR); flush, then close the
** socket. Meant for idle connections: live streams fail with Closed
** (retryable when their request was never sent). Can call back. */
void chc_h2_shutdown(chc_h2 *h2);

/* The connection is gone (EOF, I/O error, timeout): every live stream
** fails with code and the message (retryable when the server certainly
** did not process it). The engine is dead afterwards: feed returns -1,
** flush appends nothing. Can call back (on_error). */
void chc_h2_abort(chc_h2 *h2, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- requests ---- */

/* Request body kinds (same values as pool.h's CHC_BODY_*). */
enum { CHC_H2_BODY_NONE, CHC_H2_BODY_BYTES, CHC_H2_BODY_STREAM };

typedef struct chc_h2_request {
  const char *method;       /* a token */
  const char *scheme;       /* "http" | "https" (ignored for CONNECT) */
  const char *authority;    /* "host[:port]"; NULL or "" for none */
  const char *path;         /* origin-form or "*" (ignored for CONNECT) */
  const chc_hlist *headers; /* may be NULL; see chc_h2_submit */
  int body_kind;
  const void *body; /* BYTES: borrowed until the stream is released */
  size_t body_len;
  /* Extended CONNECT (RFC 8441 4): with method "CONNECT", the
  ** ":protocol" token (e.g. "websocket"); :scheme and :path are then sent
  ** and checked as for other methods. NULL for every other request. Only
  ** allowed once the peer sent SETTINGS_ENABLE_CONNECT_PROTOCOL = 1.
  ** The stream is a tunnel (with a STREAM body): each side closes on its
  ** own, so it stays writable after the response's END_STREAM, and
  ** releasing it once both sides ended (write_end called) sends what is
  ** queued instead of resetting it. */
  const char *protocol;
} chc_h2_request;

/*
** Submits a request; nothing is written until the next flush.
** Header fields are turned into HTTP/2 form (RFC 9113 8.2, 8.3):
**  - names are lower-cased ("Content-Type" -> "content-type") and must
**    otherwise be tokens; values must not contain NUL, CR or LF, and
**    their leading and trailing SP/HTAB are dropped (RFC 9110 5.5: they
**    are not part of the value; RFC 9113 8.2.1 forbids them);
**  - connection-specific fields are dropped: Connection, the fields it
**    names, Keep-Alive, Proxy-Connection, Transfer-Encoding, Upgrade;
**    TE is kept only as "te: trailers", if the value lists trailers;
**  - Host is not sent: the first Host field's value becomes :authority
**    instead of rq->authority, as the Host field wins over the URL on
**    HTTP/1.1 (h1.c) and as httpcore does;
**  - Content-Length: BYTES sends the true length (a caller's value is
**    dropped: a mismatch would make the request malformed, RFC 9113
**    8.1.1); NONE drops it, and sends 0 for POST, PUT and PATCH as
**    HTTP/1.1 does; STREAM keeps the caller's value.
** Validation runs first: on bad input returns NULL with e set
** (LocalProtocolError) and nothing is queued. Also NULL with Closed when
** the connection cannot take new streams (check chc_h2_can_open first;
** submitting beyond the peer's limit is allowed, nghttp2 queues the
** HEADERS until a slot frees). Never calls back.
*/
chc_h2_stream *chc_h2_submit(chc_h2 *h2, const chc_h2_request *rq, void *ud,
                             chc_error *e);

/* ---- streams (valid until chc_h2_stream_release) ---- */

int32_t chc_h2_stream_id(const chc_h2_stream *st);
int chc_h2_stream_has_head(const chc_h2_stream *st);
int chc_h2_stream_status(const chc_h2_stream *st);
/* Response head fields (names lower-case, order and duplicates kept).
** Mutable so that the caller may chc_hlist_move() them out. */
chc_hlist *chc_h2_stream_headers(chc_h2_stream *st);
/* NULL unless the response ended with trailers. Mutable, as above. */
chc_hlist *chc_h2_stream_trailers(chc_h2_stream *st);
int chc_h2_stream_ended(const chc_h2_stream *st); /* END_STREAM seen */
const chc_error *chc_h2_stream_error(const chc_h2_stream *st); /* or NULL */
int chc_h2_stream_retryable(const chc_h2_stream *st);
/* Body bytes held, not yet consumed. */
size_t chc_h2_stream_buffered(const chc_h2_stream *st);

/* The oldest buffered body bytes: returns 1 with *p, *n set (the region
** stays put until consumed or released, even across feeds), 0 when none
** are buffered now (check chc_h2_stream_error), -1 at the end of a
** complete body. */
int chc_h2_stream_peek(chc_h2_stream *st, const char **p, size_t *n);
/* Drops n bytes (clamped to what is buffered) and reopens the window by
** as much: flush afterwards. Never calls back. */
void chc_h2_stream_consume(chc_h2_stream *st, size_t n);

/* Producer bodies (CHC_H2_BODY_STREAM). writable: 1 when a write is
** accepted now, 0 when the queue is full (wait for on_writable), -1 when
** the body is no longer wanted (error, cancelled, the response already
** ended, or write_end was called). write copies all n bytes (the queue
** may overshoot its limit by this last chunk) and returns 0, or -1 when
** not writable (or out of memory: then the stream failed and was
** reset). write_end queues END_STREAM. Neither calls back. */
int chc_h2_stream_writable(const chc_h2_stream *st);
int chc_h2_stream_write(chc_h2_stream *st, const void *p, size_t n);
int chc_h2_stream_write_end(chc_h2_stream *st);
/* Producer bytes queued and not yet framed (for progress reports). */
size_t chc_h2_stream_queued(const chc_h2_stream *st);

/* The caller abandons the exchange: RST_STREAM(CANCEL) unless the stream
** already closed, the buffered body is dropped (its window given back),
** the producer's queue too; the error becomes Cancelled if the stream
** had not ended or failed. No callback follows. */
void chc_h2_stream_cancel(chc_h2_stream *st);
/* The caller is done with the stream (cancels it first if it is not
** complete). The pointer is invalid afterwards. Never calls back. */
void chc_h2_stream_release(chc_h2_stream *st);

#endif
