/*
** ws.c: the WebSocket client engine (RFC 6455 framing, close handshake,
** UTF-8; permessage-deflate through ws_deflate.c). The handshake helpers
** are in ws_handshake.c. See ws.h for the contract.
*/
#include "ws.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws_deflate.h"

#define DEFAULT_MAX_MESSAGE (16u << 20)
#define DEFAULT_COMPRESS_MIN 64
#define RND_POOL 256     /* random bytes fetched at a time: 64 masks */
#define KEEP_MSG 1024    /* message buffer kept across messages: an idle
                         ** WebSocket should not hold a big one */

enum { OP_CONT = 0, OP_TEXT = 1, OP_BINARY = 2, OP_CLOSE = 8, OP_PING = 9,
       OP_PONG = 10 };

struct chc_ws {
  chc_ws_opts o;
  chc_ws_pmd pmd;
  int can_compress; /* deflate agreed and our window is at least 9 bits */
  unsigned state;   /* CHC_WS_CLOSE_SENT | ... */
  unsigned events;  /* CHC_WS_EV_* of the last feed */
  chc_error err;
  int fail_code;

  /* receiving: the frame being parsed */
  unsigned char hdr[10]; /* server frames are never masked: 10 at most */
  unsigned hlen, hneed;  /* header bytes held / needed so far */
  int in_payload;
  int op, fin;
  uint64_t left; /* payload bytes of the frame still to come */

  /* receiving: the message being assembled, or held */
  int msg_kind;  /* kind of the message in progress, 0: none */
  int msg_z;     /* it is compressed (RSV1 on its first frame) */
  int held_kind; /* kind of the complete message held, 0: none */
  int held_more; /* ... it is a part of one, more follows (chc_ws_set_part) */
  size_t part_min; /* 0: whole messages; else hold parts of this size */
  size_t msg_taken; /* bytes of the message in progress handed out as parts */
  int z_more;       /* the inflater paused at a part: output may be due */
  uint32_t utf8; /* validator state across its frames */
  chc_buf msg;
  ws_zin *zin;

  /* receiving: control frames */
  unsigned char ctl[125];
  size_t ctl_len;
  char pong[126];
  size_t pong_len;
  int close_code;
  char close_reason[124];
  size_t close_reason_len;

  /* sending */
  int send_kind; /* kind of the message being streamed, 0: none */
  int send_z;
  uint32_t send_utf8;
  ws_zout *zout;
  chc_buf zbuf; /* compressed payload before masking */
  chc_buf out;
  unsigned char rnd[RND_POOL];
  size_t rnd_left;

  chc_ws_stats st;
};

/* {=====================================================================
** UTF-8 (RFC 3629), incrementally
** ======================================================================
**
** The state is 0 between characters; inside one it packs the number of
** continuation bytes still expected (bits 0-1) and the range the next byte
** must fall in (bits 8-15 low, 16-23 high). The ranges exclude overlong
** forms, surrogates and code points past U+10FFFF at the first byte that
** makes them so, which is what "fail as soon as an invalid sequence is
** seen" needs (RFC 6455 8.1).
*/

#define U8ST(need, lo, hi) ((uint32_t)(need) | (uint32_t)(lo) << 8 | \
                            (uint32_t)(hi) << 16)

/* 0 when p[0..n) continues validly from *st (updated), -1 otherwise. */
static int utf8_run(uint32_t *st, const unsigned char *p, size_t n) {
  uint32_t s = *st;
  size_t i = 0;
  while (i < n) {
    unsigned c;
    if (s == 0) { /* fast path: 8 ASCII bytes at a time */
      while (i + 8 <= n) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (w & UINT64_C(0x8080808080808080)) break;
        i += 8;
      }
      if (i == n) break;
    }
    c = p[i++];
    if (s == 0) {
      if (c < 0x80) continue;
      if (c < 0xC2) return -1; /* continuation byte or overlong lead */
      if (c < 0xE0) s = U8ST(1, 0x80, 0xBF);
      else if (c == 0xE0) s = U8ST(2, 0xA0, 0xBF); /* no overlong */
      else if (c == 0xED) s = U8ST(2, 0x80, 0x9F); /* no surrogates */
      else if (c < 0xF0) s = U8ST(2, 0x80, 0xBF);
      else if (c == 0xF0) s = U8ST(3, 0x90, 0xBF); /* no overlong */
      else if (c < 0xF4) s = U8ST(3, 0x80, 0xBF);
      else if (c == 0xF4) s = U8ST(3, 0x80, 0x8F); /* <= U+10FFFF */
      else return -1;
    } else {
      if (c < ((s >> 8) & 0xFF) || c > ((s >> 16) & 0xFF)) return -1;
      s = (s & 3) - 1;
      if (s != 0) s = U8ST(s, 0x80, 0xBF);
    }
  }
  *st = s;
  return 0;
}

/* }===================================================================== */

/* {=====================================================================
** Output: frames, masks
** ====================================================================== */

static int mask4(chc_ws *ws, unsigned char m[4]) {
  if (ws->rnd_left < 4) {
    if (ws->o.random(ws->o.random_ud, ws->rnd, sizeof ws->rnd) != 0)
      return -EIO;
    ws->rnd_left = sizeof ws->rnd;
  }
  memcpy(m, ws->rnd + sizeof ws->rnd - ws->rnd_left, 4);
  ws->rnd_left -= 4;
  return 0;
}

/* dst[i] = src[i] ^ m[i % 4], eight bytes at a time. */
static void copy_masked(unsigned char *dst, const unsigned char *src,
                        size_t n, const unsigned char m[4]) {
  unsigned char m8[8] = {m[0], m[1], m[2], m[3], m[0], m[1], m[2], m[3]};
  uint64_t k, w;
  size_t i = 0;
  memcpy(&k, m8, 8);
  for (; i + 8 <= n; i += 8) {
    memcpy(&w, src + i, 8);
    w ^= k;
    memcpy(dst + i, &w, 8);
  }
  for (; i < n; i++) dst[i] = src[i] ^ m[i & 3];
}

/*
** Appends one frame (b0 = FIN, RSV1 and opcode), masked with a fresh
** mask: all of it, or nothing (the mask is drawn before the buffer is
** touched, and the buffer reserved before anything is written).
*/
static int put_frame(chc_ws *ws, unsigned b0, const void *p, size_t n,
                     const unsigned char m[4]) {
  unsigned char h[14];
  size_t hl = 2;
  int r;
  unsigned char mk[4];
  if (m == NULL) {
    if ((r = mask4(ws, mk)) < 0) return r;
    m = mk;
  }
  h[0] = (unsigned char)b0;
  if (n < 126) {
    h[1] = (unsigned char)(0x80 | n);
  } else if (n < 65536) {
    h[1] = 0x80 | 126;
    h[2] = (unsigned char)(n >> 8);
    h[3] = (unsigned char)n;
    hl = 4;
  } else {
    int i;
    h[1] = 0x80 | 127;
    for (i = 0; i < 8; i++) h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
    hl = 10;
  }
  memcpy(h + hl, m, 4);
  hl += 4;
  if (chc_buf_reserve(&ws->out, hl + n) < 0) return -ENOMEM;
  memcpy(chc_buf_tail(&ws->out), h, hl);
  copy_masked((unsigned char *)chc_buf_tail(&ws->out) + hl, p, n, m);
  chc_buf_commit(&ws->out, hl + n);
  ws->st.frames_out++;
  return 0;
}

static int put_close(chc_ws *ws, int code, const char *reason, size_t n) {
  unsigned char pl[125];
  size_t len = 0;
  int r;
  if (code != 0) {
    pl[0] = (unsigned char)(code >> 8);
    pl[1] = (unsigned char)code;
    if (n > 0) memcpy(pl + 2, reason, n);
    len = 2 + n;
  }
  r = put_frame(ws, 0x80 | OP_CLOSE, pl, len, NULL);
  if (r == 0) ws->state |= CHC_WS_CLOSE_SENT;
  return r;
}

/* }===================================================================== */

/* {=====================================================================
** Input
** ====================================================================== */

/*
** "Fail the WebSocket Connection" (RFC 6455 7.1.7): record the error,
** queue our close with the code 7.4.1 gives the reason (unless a close
** went out already), and take no more input.
*/
static int fail(chc_ws *ws, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(chc_ws *ws, int code, const char *fmt, ...) {
  char m[CHC_ERRMSG_MAX - 16];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(m, sizeof m, fmt, ap);
  va_end(ap);
  chc_seterr(&ws->err, CHC_EREMOTE_PROTO, "WebSocket: %s (close %d)", m,
             code);
  ws->fail_code = code;
  ws->state |= CHC_WS_FAILED;
  if (!(ws->state & CHC_WS_CLOSE_SENT))
    (void)put_close(ws, code, NULL, 0); /* best effort */
  return -1;
}

/* Close codes a peer may send (RFC 6455 7.4.1 and 7.4.2, and the IANA
** registry's 1012-1014); 1005, 1006 and 1015 must never be on the wire. */
static int code_receivable(int c) {
  return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) ||
         (c >= 3000 && c <= 4999);
}

/* Codes we send: the registry's, minus the server-only 1012-1014. */
static int code_sendable(int c) {
  return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1011) ||
         (c >= 3000 && c <= 4999);
}

/* The first two header bytes: everything but the length is known. */
static int check_start(chc_ws *ws) {
  unsigned b0 = ws->hdr[0], b1 = ws->hdr[1], len7 = b1 & 0x7f;
  int rsv1 = (b0 & 0x40) != 0;
  ws->op = (int)(b0 & 0x0f);
  ws->fin = (b0 & 0x80) != 0;
  if (b0 & 0x30)
    return fail(ws, 1002, "reserved bit %s set", b0 & 0x20 ? "RSV2" : "RSV3");
  if (ws->op >= 8) {
    if (ws->op > OP_PONG) return fail(ws, 1002, "unknown opcode %d", ws->op);
    if (!ws->fin) return fail(ws, 1002, "fragmented control frame");
    if (rsv1) return fail(ws, 1002, "RSV1 set on a control frame");
    if (len7 > 125)
      return fail(ws, 1002, "control frame payload over 125 bytes");
  } else if (ws->op > OP_BINARY) {
    return fail(ws, 1002, "unknown opcode %d", ws->op);
  } else if (ws->op == OP_CONT) {
    if (ws->msg_kind == 0)
      return fail(ws, 1002, "continuation frame without a message begun");
    if (rsv1) return fail(ws, 1002, "RSV1 set on a continuation frame");
  } else {
    if (ws->msg_kind != 0)
      return fail(ws, 1002, "new message inside a fragmented message");
    if (rsv1 && !ws->pmd.enabled)
      return fail(ws, 1002, "RSV1 set without permessage-deflate agreed");
    ws->msg_z = rsv1;
  }
  if (b1 & 0x80) return fail(ws, 1002, "masked frame from the server");
  ws->hneed = len7 == 126 ? 4 : len7 == 127 ? 10 : 2;
  return 0;
}

/* What max_message leaves for the buffer: the parts handed out count. */
static size_t msg_room(const chc_ws *ws) {
  return ws->o.max_message - ws->msg_taken;
}

/* The whole header is in: the payload length, and the limits. */
static int check_length(chc_ws *ws) {
  uint64_t len = ws->hdr[1] & 0x7f;
  unsigned i;
  if (ws->hneed > 2) {
    len = 0;
    for (i = 2; i < ws->hneed; i++) len = len << 8 | ws->hdr[i];
    /* RFC 6455 5.2: the most significant bit MUST be 0, and the minimal
    ** number of bytes MUST be used */
    if (len >> 63) return fail(ws, 1002, "frame length with its top bit set");
    if (len < (ws->hneed == 4 ? 126u : 65536u))
      return fail(ws, 1002, "frame length not in its shortest form");
  }
  ws->left = len;
  ws->ctl_len = 0;
  ws->st.frames_in++;
  if (ws->op >= 8) return 0;
  if (len > ws->o.max_frame)
    return fail(ws, 1009, "frame of %llu bytes over max_frame (%zu)",
                (unsigned long long)len, ws->o.max_frame);
  if (ws->op != OP_CONT) { /* a new message */
    ws->msg_kind = ws->op;
    ws->utf8 = 0;
    ws->msg_taken = 0;
    chc_buf_reset(&ws->msg);
  }
  if (!ws->msg_z && len > msg_room(ws) - ws->msg.len)
    return fail(ws, 1009, "message over max_message (%zu bytes)",
                ws->o.max_message);
  /* a message in one frame has its size in the header: its buffer is
  ** allocated once at that size, not grown by doubling to up to twice it
  ** (unless it is to be handed out in parts) */
  if (!ws->msg_z && ws->fin && ws->op != OP_CONT && len > ws->msg.cap &&
      ws->part_min == 0 && !(ws->state & CHC_WS_CLOSE_SENT)) {
    chc_buf_free(&ws->msg);
    if ((ws->msg.data = malloc((size_t)len)) == NULL)
      return fail(ws, 1011, "out of memory for a message");
    ws->msg.cap = (size_t)len;
  }
  return 0;
}

/* Checks the message bytes from `from` on, for a text message. */
static int check_text(chc_ws *ws, size_t from) {
  /* nothing new (an empty message may not even have a buffer yet) */
  if (ws->msg_kind != CHC_WS_TEXT || ws->msg.len == from) return 0;
  ws->st.scanned += ws->msg.len - from;
  if (utf8_run(&ws->utf8, (const unsigned char *)ws->msg.data + from,
               ws->msg.len - from) < 0)
    return fail(ws, 1007, "invalid UTF-8 in a text message");
  return 0;
}

/*
** After inflating: the new text is checked first, up to the limit, so
** that the first fault in message order decides the close code however
** the input was split (a bigger read inflates further before checking).
*/
static int inflated(chc_ws *ws, size_t from, int r) {
  if (r == WS_Z_TOO_BIG) ws->msg.len = msg_room(ws); /* failing */
  if (check_text(ws, from) < 0) return -1;
  if (r == 0) return 0;
  if (r == WS_Z_TOO_BIG)
    return fail(ws, 1009, "inflated message over max_message (%zu bytes)",
                ws->o.max_message);
  if (r == WS_Z_NOMEM) return fail(ws, 1011, "out of memory inflating");
  return fail(ws, 1007, "invalid compressed data");
}

/* The inflater, made on first use (a message may have no payload). */
static int zin_ready(chc_ws *ws) {
  if (ws->zin == NULL) {
    if ((ws->zin = ws_zin_new(ws->pmd.server_max_window_bits)) == NULL)
      return fail(ws, 1011, "out of memory for the inflater");
    ws->st.zstreams++;
  }
  return 0;
}

static void zin_drop(chc_ws *ws) {
  ws_zin_free(ws->zin);
  ws->zin = NULL;
  ws->st.zstreams--;
}

/* Payload bytes of a data frame: into the message, inflated or not.
** Returns the bytes taken: all of them, unless inflating paused at a part
** (parts mode: the part is held, and z_more says output may be due). */
static ssize_t take_data(chc_ws *ws, const char *p, size_t k) {
  size_t from = ws->msg.len;
  if (ws->state & CHC_WS_CLOSE_SENT) { /* our close is out: dropped */
    ws->z_more = 0;
    return (ssize_t)k;
  }
  if (ws->msg_z) {
    size_t used;
    int r;
    if (zin_ready(ws) < 0) return -1;
    r = ws_inflate_some(ws->zin, p, k, &ws->msg, msg_room(ws), ws->part_min,
                        &used, &ws->st.copied);
    ws->z_more = r == 0 && ws_zin_paused(ws->zin);
    ws->st.inflated_in += used;
    return inflated(ws, from, r) < 0 ? -1 : (ssize_t)used;
  } else {
    size_t cap = ws->msg.cap;
    if (chc_buf_append(&ws->msg, p, k) < 0)
      return fail(ws, 1011, "out of memory for a message");
    if (ws->msg.cap != cap) ws->st.copied += from; /* a growth moved them */
    ws->st.copied += k;
  }
  return check_text(ws, from) < 0 ? -1 : (ssize_t)k;
}

static int end_message(chc_ws *ws) {
  if (ws->state & CHC_WS_CLOSE_SENT) { /* no message after our close */
    ws->msg_kind = 0;
    ws->msg_z = 0;
    return 0;
  }
  if (ws->msg_z) {
    size_t from = ws->msg.len;
    int r;
    if (zin_ready(ws) < 0) return -1;
    r = ws_inflate_end(ws->zin, &ws->msg, msg_room(ws),
                           ws->pmd.server_no_context_takeover,
                           &ws->st.copied);
    if (inflated(ws, from, r) < 0) return -1;
    /* no context to keep: the inflater (~7 KiB and its window) is not
    ** held between messages; the next compressed one makes a new one */
    if (ws->pmd.server_no_context_takeover) zin_drop(ws);
  }
  if (ws->msg_kind == CHC_WS_TEXT && ws->utf8 != 0)
    return fail(ws, 1007, "text message ends inside a UTF-8 sequence");
  ws->held_kind = ws->msg_kind;
  ws->msg_kind = 0;
  ws->msg_z = 0;
  ws->events |= CHC_WS_EV_MESSAGE;
  return 0;
}

static int end_close(chc_ws *ws) {
  uint32_t u = 0;
  int code = 1005;
  size_t rl = 0;
  if (ws->ctl_len == 1)
    return fail(ws, 1002, "close frame with a 1-byte payload");
  if (ws->ctl_len >= 2) {
    code = ws->ctl[0] << 8 | ws->ctl[1];
    if (!code_receivable(code))
      return fail(ws, 1002, "invalid close code %d", code);
    rl = ws->ctl_len - 2;
    if (utf8_run(&u, ws->ctl + 2, rl) < 0 || u != 0)
      return fail(ws, 1007, "close reason is not valid UTF-8");
  }
  ws->close_code = code;
  memcpy(ws->close_reason, ws->ctl + 2, rl);
  ws->close_reason[rl] = '\0';
  ws->close_reason_len = rl;
  ws->state |= CHC_WS_CLOSE_RECEIVED;
  ws->events |= CHC_WS_EV_CLOSE;
  /* RFC 6455 5.5.1: reply with a close, typically echoing the code */
  if (!(ws->state & CHC_WS_CLOSE_SENT))
    (void)put_close(ws, code == 1005 ? 0 : code, NULL, 0);
  return 0;
}

static int end_frame(chc_ws *ws) {
  ws->hlen = 0;
  ws->hneed = 2;
  ws->in_payload = 0;
  switch (ws->op) {
  case OP_CLOSE:
    return end_close(ws);
  case OP_PING:
    ws->events |= CHC_WS_EV_PING;
    /* no pong once our close is out (nothing may follow it) */
    if (!(ws->state & CHC_WS_CLOSE_SENT) &&
        put_frame(ws, 0x80 | OP_PONG, ws->ctl, ws->ctl_len, NULL) < 0)
      return fail(ws, 1011, "cannot queue a pong");
    return 0;
  case OP_PONG:
    memcpy(ws->pong, ws->ctl, ws->ctl_len);
    ws->pong_len = ws->ctl_len;
    ws->events |= CHC_WS_EV_PONG;
    return 0;
  default:
    return ws->fin ? end_message(ws) : 0;
  }
}

/* In parts mode, an unfinished message of part_min bytes or more is held
** as a part: feeding stops until the owner takes it. */
static void hold_part(chc_ws *ws) {
  if (ws->part_min == 0 || ws->held_kind != 0 || ws->msg_kind == 0 ||
      ws->msg.len < ws->part_min ||
      (ws->state & (CHC_WS_FAILED | CHC_WS_CLOSE_SENT)))
    return;
  ws->held_kind = ws->msg_kind;
  ws->held_more = 1;
  ws->events |= CHC_WS_EV_MESSAGE;
}

/* Parts mode: output the inflater still owes for input it took (a part
** was held in between), before any new input; then the frame's end, if
** that input ended it. */
static int drain(chc_ws *ws) {
  if (!ws->z_more || ws->held_kind != 0) return 0;
  if (take_data(ws, NULL, 0) < 0) return -1;
  if (!ws->z_more && ws->in_payload && ws->left == 0 && end_frame(ws) < 0)
    return -1;
  hold_part(ws);
  return 0;
}

ssize_t chc_ws_feed(chc_ws *ws, const char *p, size_t n) {
  size_t i = 0;
  ws->events = 0;
  if (ws->state & CHC_WS_FAILED) return -1;
  if (drain(ws) < 0) return -1;
  while (i < n) {
    size_t k;
    if (ws->state & CHC_WS_CLOSE_RECEIVED) return (ssize_t)n; /* dropped */
    if (ws->held_kind != 0) break; /* the owner has not taken it yet */
    if (!ws->in_payload) {
      k = ws->hneed - ws->hlen;
      if (k > n - i) k = n - i;
      memcpy(ws->hdr + ws->hlen, p + i, k);
      ws->hlen += (unsigned)k;
      i += k;
      if (ws->hlen == 2 && ws->hneed == 2 && check_start(ws) < 0) return -1;
      if (ws->hlen < ws->hneed) continue;
      if (check_length(ws) < 0) return -1;
      ws->in_payload = 1;
    } else {
      k = ws->left < n - i ? (size_t)ws->left : n - i;
      if (ws->op >= 8) {
        memcpy(ws->ctl + ws->ctl_len, p + i, k);
        ws->ctl_len += k;
      } else {
        ssize_t used;
        /* parts mode: a part is part_min bytes; the rest waits in input */
        if (ws->part_min && !ws->msg_z && ws->msg.len < ws->part_min &&
            k > ws->part_min - ws->msg.len)
          k = ws->part_min - ws->msg.len;
        used = take_data(ws, p + i, k);
        if (used < 0) return -1;
        k = (size_t)used;
      }
      ws->left -= k;
      i += k;
    }
    /* (a frame whose inflated output is still due ends after it) */
    if (ws->left == 0 && !ws->z_more && end_frame(ws) < 0) return -1;
    hold_part(ws);
  }
  return (ssize_t)i;
}

/* }===================================================================== */

chc_ws *chc_ws_new(const chc_ws_opts *o, const chc_ws_pmd *pmd) {
  chc_ws *ws;
  if (o == NULL || o->random == NULL ||
      (o->compress_level < 0 || o->compress_level > 9) ||
      (pmd && pmd->enabled &&
       (pmd->server_max_window_bits < 8 || pmd->server_max_window_bits > 15 ||
        pmd->client_max_window_bits < 8 || pmd->client_max_window_bits > 15))) {
    errno = EINVAL;
    return NULL;
  }
  if ((ws = calloc(1, sizeof *ws)) == NULL) return NULL;
  ws->o = *o;
  if (ws->o.max_message == 0) ws->o.max_message = DEFAULT_MAX_MESSAGE;
  if (ws->o.max_frame == 0) ws->o.max_frame = ws->o.max_message;
  if (ws->o.compress_min == 0) ws->o.compress_min = DEFAULT_COMPRESS_MIN;
  if (ws->o.compress_level == 0) ws->o.compress_level = 6;
  if (pmd && pmd->enabled) ws->pmd = *pmd;
  /* see ws_deflate.c: zlib cannot compress within a 256-byte window */
  ws->can_compress = ws->pmd.enabled && ws->pmd.client_max_window_bits >= 9;
  ws->hneed = 2;
  chc_err_clear(&ws->err);
  return ws;
}

void chc_ws_free(chc_ws *ws) {
  if (ws == NULL) return;
  chc_buf_free(&ws->msg);
  chc_buf_free(&ws->out);
  chc_buf_free(&ws->zbuf);
  ws_zin_free(ws->zin);
  ws_zout_free(ws->zout);
  free(ws);
}

unsigned chc_ws_events(const chc_ws *ws) { return ws->events; }

int chc_ws_want_read(const chc_ws *ws) {
  return ws->held_kind == 0 &&
         !(ws->state & (CHC_WS_FAILED | CHC_WS_CLOSE_RECEIVED));
}

int chc_ws_message(const chc_ws *ws, int *kind, const char **p, size_t *n) {
  if (ws->held_kind == 0) return 0;
  *kind = ws->held_kind;
  *p = ws->msg.len ? chc_buf_head(&ws->msg) : "";
  *n = ws->msg.len;
  return 1;
}

int chc_ws_message_more(const chc_ws *ws) { return ws->held_more; }

int chc_ws_want_feed(const chc_ws *ws) {
  return ws->z_more && chc_ws_want_read(ws);
}

int chc_ws_set_part(chc_ws *ws, size_t part_min) {
  if (ws->part_min == part_min) return 0;
  ws->part_min = part_min;
  if (part_min == 0 && ws->held_more) { /* its bytes stay, to be added to */
    ws->held_kind = 0;
    ws->held_more = 0;
  }
  hold_part(ws);
  return 1;
}

void chc_ws_message_release(chc_ws *ws) {
  if (ws->held_kind == 0) return; /* the buffer may hold a partial one */
  ws->held_kind = 0;
  if (ws->held_more) { /* the message goes on in the same buffer */
    ws->held_more = 0;
    ws->msg_taken += ws->msg.len;
    chc_buf_reset(&ws->msg);
    return;
  }
  /* an idle WebSocket should not keep a large message's memory */
  if (ws->msg.cap > KEEP_MSG) chc_buf_free(&ws->msg);
  else chc_buf_reset(&ws->msg);
}

const char *chc_ws_pong_data(const chc_ws *ws, size_t *n) {
  *n = ws->pong_len;
  return ws->pong;
}

int chc_ws_send(chc_ws *ws, int kind, const void *p, size_t n, int more) {
  uint32_t u = ws->send_utf8;
  unsigned char m[4];
  unsigned b0;
  int r, first = ws->send_kind == 0;
  if ((kind != CHC_WS_TEXT && kind != CHC_WS_BINARY) ||
      (!first && kind != ws->send_kind) || (n > 0 && p == NULL))
    return -EINVAL;
  if (ws->state & CHC_WS_CLOSE_SENT) return -EPIPE;
  if (kind == CHC_WS_TEXT &&
      (utf8_run(&u, p, n) < 0 || (!more && u != 0)))
    return -EINVAL;
  if ((r = mask4(ws, m)) < 0) return r;
  if (first)
    ws->send_z = ws->can_compress && (more || n >= ws->o.compress_min);
  b0 = (more ? 0u : 0x80u) | (first ? (unsigned)kind : 0u) |
       (first && ws->send_z ? 0x40u : 0u);
  if (ws->send_z) {
    if (ws->zout == NULL) {
      if ((ws->zout = ws_zout_new(ws->pmd.client_max_window_bits,
                                  ws->o.compress_level)) == NULL)
        return -ENOMEM;
      ws->st.zstreams++;
    }
    chc_buf_reset(&ws->zbuf);
    /* XXX: an ENOMEM from here on leaves the compressor ahead of the
    ** peer's inflater: the connection must be closed */
    if (ws_deflate(ws->zout, p, n, !more, ws->pmd.client_no_context_takeover,
                   &ws->zbuf) != 0)
      return -ENOMEM;
    ws->st.deflated_out += ws->zbuf.len;
    r = put_frame(ws, b0, chc_buf_head(&ws->zbuf), ws->zbuf.len, m);
    if (ws->zbuf.cap > KEEP_MSG) chc_buf_free(&ws->zbuf);
    /* no context to keep: the compressor (its window, hash table and
    ** buffers: tens of KiB) is not held between messages */
    if (!more && ws->pmd.client_no_context_takeover) {
      ws_zout_free(ws->zout);
      ws->zout = NULL;
      ws->st.zstreams--;
    }
  } else {
    r = put_frame(ws, b0, p, n, m);
  }
  if (r < 0) return r;
  ws->send_kind = more ? kind : 0;
  ws->send_utf8 = more ? u : 0;
  return 0;
}

int chc_ws_utf8_valid(const void *p, size_t n) {
  uint32_t u = 0;
  return utf8_run(&u, p, n) == 0 && u == 0;
}

static int control(chc_ws *ws, int op, const void *p, size_t n) {
  if (n > 125 || (n > 0 && p == NULL)) return -EINVAL;
  if (ws->state & CHC_WS_CLOSE_SENT) return -EPIPE;
  return put_frame(ws, 0x80u | (unsigned)op, p, n, NULL);
}

int chc_ws_ping(chc_ws *ws, const void *p, size_t n) {
  return control(ws, OP_PING, p, n);
}

int chc_ws_pong(chc_ws *ws, const void *p, size_t n) {
  return control(ws, OP_PONG, p, n);
}

int chc_ws_close(chc_ws *ws, int code, const char *reason, size_t n) {
  uint32_t u = 0;
  int r;
  if (code == 0 ? n > 0 : !code_sendable(code)) return -EINVAL;
  if (n > 123 || (n > 0 && reason == NULL)) return -EINVAL;
  if (utf8_run(&u, (const unsigned char *)reason, n) < 0 || u != 0)
    return -EINVAL;
  if (ws->state & CHC_WS_CLOSE_SENT) return -EPIPE;
  if ((r = put_close(ws, code, reason, n)) < 0) return r;
  /* The owner is done with messages: one held (which stops reading) and
  ** any still to come are dropped, so the peer's close can be read. */
  ws->held_kind = 0;
  ws->held_more = 0;
  chc_buf_free(&ws->msg);
  return 0;
}

unsigned chc_ws_state(const chc_ws *ws) { return ws->state; }

int chc_ws_close_code(const chc_ws *ws) { return ws->close_code; }

const char *chc_ws_close_reason(const chc_ws *ws, size_t *n) {
  if (n) *n = ws->close_reason_len;
  return ws->close_reason;
}

const chc_error *chc_ws_error(const chc_ws *ws) { return &ws->err; }

int chc_ws_fail_code(const chc_ws *ws) { return ws->fail_code; }

chc_buf *chc_ws_output(chc_ws *ws) { return &ws->out; }

size_t chc_ws_pending(const chc_ws *ws) { return ws->out.len; }

const chc_ws_stats *chc_ws_stats_get(const chc_ws *ws) { return &ws->st; }
