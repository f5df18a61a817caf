/*
** ws.h: the WebSocket client engine (RFC 6455, with permessage-deflate of
** RFC 7692), sans-I/O.
**
** Bytes the server sent go in (chc_ws_feed); whole messages, pings, pongs
** and the peer's close come out; frames we send are serialised, masked,
** into an output buffer the engine owns (chc_ws_output). No sockets, no
** timers, no Lua, and no callbacks into the owner except the random
** source. Only ws_deflate.c includes zlib.h.
**
** {==================================================================
** How the integration drives it (one engine per WebSocket)
** ===================================================================
**
** Handshake. Fill a chc_ws_offer (subprotocols, deflate wanted, h2 for
** RFC 8441), call chc_ws_offer_key() (16 random bytes, base64) and
** chc_ws_request_fields() to get the header fields of the Upgrade
** request (HTTP/1.1) or of the extended CONNECT (HTTP/2: the caller adds
** :protocol = websocket itself). When the answer's head arrives, give its
** status and fields to chc_ws_check_response(): it checks 101 (or 2xx
** over HTTP/2), Upgrade, Connection, Sec-WebSocket-Accept, the chosen
** subprotocol against the offer and the extensions the server accepted,
** and fills a chc_ws_accepted. Then chc_ws_new() with its pmd. Bytes that
** arrived behind the 101 head are the first bytes to feed.
**
** Reading. Feed what the socket (or the HTTP/2 stream) gave. The engine
** consumes frames until a message is complete, then stops: chc_ws_feed()
** returns fewer bytes than it was given, and chc_ws_want_read() is 0
** until the owner takes the message (chc_ws_message, then
** chc_ws_message_release). So the engine holds at most one complete
** message beyond what the owner took; the owner keeps the unconsumed
** bytes and stops reading the socket (HTTP/1.1) or returning window
** (HTTP/2) meanwhile. Pings are answered by the engine (a pong is queued
** in the output); pongs and the peer's close are reported as events.
**
** Writing. chc_ws_send, chc_ws_ping, chc_ws_pong and chc_ws_close append
** whole frames to the output buffer, and so does chc_ws_feed (pongs, the
** echo of the peer's close, the close after a protocol failure). After
** any call, write from chc_ws_output() and chc_buf_consume() what was
** written. chc_ws_pending() is the backpressure figure: a sender should
** wait while it is above its high-water mark. The engine never refuses a
** send for being large; that is the owner's policy.
**
** Ending. After the peer's close arrives, the engine queues the echo (if
** we had not closed first) and ignores the rest of the input. When both
** closes are done (chc_ws_state() has CHC_WS_CLOSE_SENT and
** CHC_WS_CLOSE_RECEIVED), flush the output and close the transport (RFC
** 6455 7.1.1 lets the server close TCP first: wait for it, briefly). A
** protocol error makes chc_ws_feed() return -1, sets chc_ws_error() and
** queues our close frame with the code RFC 6455 asks for (1002, 1007,
** 1009); flush it and close the transport ("Fail the WebSocket
** Connection", 7.1.7).
**
** Errors. Calls made by the owner return 0 or a negative errno: -EINVAL
** for misuse (a bad close code, a control payload over 125 bytes, text
** that is not UTF-8, a continuation without a message begun), -EPIPE
** once our close was sent, -ENOMEM, -EIO when the random source failed.
** Peer errors are RemoteProtocolError in chc_ws_error().
** }==================================================================
*/
#ifndef CHC_WS_H
#define CHC_WS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "common.h"

typedef struct chc_ws chc_ws;

/* Fills p with n random bytes: 0, or -1 on failure. The engine asks for
** a few hundred bytes at a time and keeps them, so a CSPRNG behind it is
** called once per ~60 frames, not once per frame. */
typedef int (*chc_ws_random_fn)(void *ud, unsigned char *p, size_t n);

/* ---- handshake ---- */

#define CHC_WS_KEY_LEN 24    /* base64 of 16 bytes */
#define CHC_WS_ACCEPT_LEN 28 /* base64 of a SHA-1 */

/* The permessage-deflate parameters in force (RFC 7692 7.1). Window bits
** are 8..15 (15 when the server named none). */
typedef struct chc_ws_pmd {
  int enabled;
  int server_no_context_takeover, client_no_context_takeover;
  int server_max_window_bits, client_max_window_bits;
} chc_ws_pmd;

typedef struct chc_ws_offer {
  const char *const *protocols; /* borrowed; tokens, in preference order */
  size_t nprotocols;
  int deflate; /* offer permessage-deflate (always with client_max_window_bits
                  without a value: the server may pick our window) */
  /* optional extra requests in the deflate offer (memory savers) */
  int server_no_context_takeover, client_no_context_takeover;
  int server_max_window_bits; /* 0: not asked; else 8..15 */
  int h2;                     /* RFC 8441: no Upgrade, Connection, Key */
  char key[CHC_WS_KEY_LEN + 1]; /* set by chc_ws_offer_key */
} chc_ws_offer;

typedef struct chc_ws_accepted {
  int protocol;   /* index into the offer's protocols, -1: none */
  chc_ws_pmd pmd; /* pmd.enabled = 0 when the server declined deflate */
} chc_ws_accepted;

/* base64 of the 16 nonce bytes into out (NUL-terminated). */
void chc_ws_key(char out[CHC_WS_KEY_LEN + 1], const unsigned char nonce[16]);
/* base64(SHA-1(key ++ the RFC 6455 GUID)) into out (NUL-terminated). */
void chc_ws_accept(char out[CHC_WS_ACCEPT_LEN + 1], const char *key,
                   size_t keylen);
/* A fresh key from rnd: 0, or -1 when rnd failed. */
int chc_ws_offer_key(chc_ws_offer *o, chc_ws_random_fn rnd, void *ud);
/* Appends the request's WebSocket fields to h (Upgrade, Connection,
** Sec-WebSocket-Key, -Version, -Protocol, -Extensions; over HTTP/2 only
** the last three, lowercase). Returns 0, or -1 with e set
** (LocalProtocolError: a subprotocol that is not a token, a window size
** out of range) and nothing appended, or -1 with errno ENOMEM. */
int chc_ws_request_fields(const chc_ws_offer *o, chc_hlist *h, chc_error *e);
/* Checks the server's answer (see the top of the file). Returns 0 with a
** filled, or -1 with e set (RemoteProtocolError naming the field and the
** problem, e.g. "Sec-WebSocket-Accept does not match the key"). A status
** other than 101 (2xx over HTTP/2) is reported too; the owner usually
** handles that case first, to attach the status and the body. */
int chc_ws_check_response(const chc_ws_offer *o, int status,
                          const chc_hlist *fields, chc_ws_accepted *a,
                          chc_error *e);

/* ---- the engine ---- */

enum { CHC_WS_TEXT = 1, CHC_WS_BINARY = 2 }; /* message kinds (opcodes) */

typedef struct chc_ws_opts {
  size_t max_message;  /* bytes of a received message, after inflating:
                          16 MiB when 0 */
  size_t max_frame;    /* payload bytes of one received frame (as sent):
                          max_message when 0 */
  size_t compress_min; /* sends shorter than this are not compressed:
                          64 when 0 */
  int compress_level;  /* zlib level 1..9: 6 when 0 */
  chc_ws_random_fn random; /* required: the masks */
  void *random_ud;
} chc_ws_opts;

/* A new engine in the OPEN state. pmd may be NULL (no extension). Returns
** NULL with errno EINVAL (no random source, window bits out of range) or
** ENOMEM. The zlib streams are created on first use. */
chc_ws *chc_ws_new(const chc_ws_opts *o, const chc_ws_pmd *pmd);
void chc_ws_free(chc_ws *ws);

/* Events of the last chc_ws_feed (bits). */
enum {
  CHC_WS_EV_MESSAGE = 1, /* a message is complete: chc_ws_message */
  CHC_WS_EV_PING = 2,    /* a ping arrived (its pong is queued) */
  CHC_WS_EV_PONG = 4,    /* a pong arrived: chc_ws_pong_data */
  CHC_WS_EV_CLOSE = 8    /* the peer's close arrived: chc_ws_close_code */
};

/* Consumes frames from p[0..n). Stops after the frame that completes a
** message (and takes nothing while that message is held), or after the
** peer's close; input behind the peer's close is consumed and dropped.
** Returns the bytes consumed (0..n), or -1 on a protocol violation with
** chc_ws_error() set and our close frame queued; -1 again on every later
** call. Never calls back (except the random source, for a pong). */
ssize_t chc_ws_feed(chc_ws *ws, const char *p, size_t n);
unsigned chc_ws_events(const chc_ws *ws);
/* 1 while the engine takes input: not failed, no message held, no close
** received. */
int chc_ws_want_read(const chc_ws *ws);

/* The complete message held: 1 with kind and the bytes (owned by the
** engine, valid until chc_ws_message_release or free), or 0. */
int chc_ws_message(const chc_ws *ws, int *kind, const char **p, size_t *n);
/* Drops the held message; feeding may go on. A no-op when none is held. */
void chc_ws_message_release(chc_ws *ws);
/* Parts mode (part_min > 0): a message is also held, unfinished, as soon
** as part_min of its bytes (inflated) are in; chc_ws_message gives those
** and chc_ws_message_more says 1: its release drops them and the message
** goes on. A part of a text message may end inside a UTF-8 sequence (the
** whole is still checked). max_message counts the whole message. Back to
** whole messages (0), a part held is un-held: its bytes stay at the head
** of the rest. The buffer stays near part_min plus one read (compressed:
** near part_min plus zlib's output step; see chc_ws_want_feed). */
int chc_ws_set_part(chc_ws *ws, size_t part_min); /* 0: unchanged */
int chc_ws_message_more(const chc_ws *ws);
/* 1 when chc_ws_feed has work even with no input: in parts mode, the rest
** of what a compressed read inflates to (one read may inflate to far more
** than a part: the inflater pauses at each part). Feed it (n = 0). */
int chc_ws_want_feed(const chc_ws *ws);
/* The payload of the last pong received (owned by the engine). */
const char *chc_ws_pong_data(const chc_ws *ws, size_t *n);

/* Sends a message, or part of one: kind is CHC_WS_TEXT or CHC_WS_BINARY
** (the same kind for every part of a message); more = 1 says further parts
** follow (the message is streamed as fragments: each call is a frame, and
** control frames may be sent between them). Text is checked as UTF-8
** across the parts: -EINVAL when a part is not, before anything of that
** part is queued (a message left unfinished that way cannot be completed:
** close the connection). Compresses (RSV1) when deflate is agreed, our
** window allows it and the message is not shorter than compress_min (a
** streamed message is always compressed). Returns 0, -EINVAL, -EPIPE,
** -ENOMEM or -EIO (random source); on an error nothing is queued, but
** an -ENOMEM while compressing leaves the compressor ahead of the peer:
** close the connection then. */
int chc_ws_send(chc_ws *ws, int kind, const void *p, size_t n, int more);
/* 1 when p[0..n) is complete UTF-8, else 0. */
int chc_ws_utf8_valid(const void *p, size_t n);
/* Control frames: payload at most 125 bytes (-EINVAL). */
int chc_ws_ping(chc_ws *ws, const void *p, size_t n);
int chc_ws_pong(chc_ws *ws, const void *p, size_t n);
/* Queues our close: code 0 sends no code (and then no reason); otherwise
** 1000-1003, 1007-1011 or 3000-4999, and a UTF-8 reason of at most 123
** bytes, else -EINVAL. -EPIPE if a close was sent already. A message held
** is dropped, and so is every data message after it (still parsed): the
** feed goes on to the peer's close. */
int chc_ws_close(chc_ws *ws, int code, const char *reason, size_t n);

/* State bits. */
enum {
  CHC_WS_CLOSE_SENT = 1,     /* our close frame is queued */
  CHC_WS_CLOSE_RECEIVED = 2, /* the peer's close frame arrived */
  CHC_WS_FAILED = 4          /* a protocol violation: see chc_ws_error */
};
unsigned chc_ws_state(const chc_ws *ws);
/* The peer's close: its code (1005 when its frame had none; 0 before it
** arrived) and its reason (NUL-terminated, owned by the engine). */
int chc_ws_close_code(const chc_ws *ws);
const char *chc_ws_close_reason(const chc_ws *ws, size_t *n);
/* After FAILED: the kind and message; and the code our close carried. */
const chc_error *chc_ws_error(const chc_ws *ws);
int chc_ws_fail_code(const chc_ws *ws);

/* The frames to write, owned by the engine: write from its head and
** chc_buf_consume() what the transport took. */
chc_buf *chc_ws_output(chc_ws *ws);
size_t chc_ws_pending(const chc_ws *ws);

/* Counters for tests and tracing. `copied` counts payload bytes moved
** into message buffers (raw or inflated) plus bytes moved by growing
** them, `scanned` the bytes checked as UTF-8; reassembly is linear when
** both stay a small multiple of the message size. */
typedef struct chc_ws_stats {
  uint64_t frames_in, frames_out, copied, scanned;
  uint64_t inflated_in, deflated_out; /* compressed payload bytes */
  unsigned zstreams; /* zlib streams held now (0-2): made on first use,
                        dropped after each message when its direction
                        has no context takeover */
} chc_ws_stats;
const chc_ws_stats *chc_ws_stats_get(const chc_ws *ws);

#endif
