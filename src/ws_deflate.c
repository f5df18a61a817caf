/*
** ws_deflate.c: permessage-deflate over zlib (RFC 7692 7.2).
**
** Window sizes. zlib's raw inflate accepts windows of 8 to 15 bits, so
** whatever server_max_window_bits the server names, we inflate with
** exactly that window (the window memory is 2^bits: the smallest that
** works). zlib does not hold the sender to it (a reference further back
** that lies in the output being written resolves), a harmless leniency.
** zlib's raw deflate refuses 8 bits (since 1.2.9 it
** silently needs 9, and a 512-byte window could emit distances a 256-byte
** peer cannot resolve), so ws.c never compresses when the server limits
** our window to 8: RFC 7692 6 lets an endpoint send any message
** uncompressed, and that keeps the extension usable in both directions.
*/
#include "ws_deflate.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

struct ws_zin {
  z_stream z;
  int ended; /* the last input ended a stream: the tail is not needed */
  int fed;   /* the message has compressed bytes */
  int paused; /* output stopped at `stop`: more may be due for its input */
};

struct ws_zout {
  z_stream z;
};

static const unsigned char TAIL[4] = {0x00, 0x00, 0xff, 0xff};

/* zlib allocates through these, so that the allocation-failure build
** (src/allocfail.h) counts and fails its allocations like ours. */
static voidpf z_alloc(voidpf ud, uInt n, uInt m) {
  (void)ud;
  return malloc((size_t)n * m);
}
static void z_free(voidpf ud, voidpf p) {
  (void)ud;
  free(p);
}

ws_zin *ws_zin_new(int bits) {
  ws_zin *z = calloc(1, sizeof *z);
  if (z == NULL) return NULL;
  z->z.zalloc = z_alloc;
  z->z.zfree = z_free;
  if (inflateInit2(&z->z, -bits) != Z_OK) {
    free(z);
    return NULL;
  }
  return z;
}

void ws_zin_free(ws_zin *z) {
  if (z == NULL) return;
  inflateEnd(&z->z);
  free(z);
}

/*
** A stream may end inside a message (a block with BFINAL set, RFC 7692
** 7.2.3.3 shows one): what follows is a new raw stream. With context
** takeover the new stream may refer back into the old window, so the
** window is carried over as a preset dictionary.
*/
static int restart(ws_zin *z) {
  unsigned char dict[32768];
  uInt dl = 0;
  if (inflateGetDictionary(&z->z, dict, &dl) != Z_OK) return WS_Z_BAD;
  if (inflateReset(&z->z) != Z_OK) return WS_Z_BAD;
  if (dl > 0 && inflateSetDictionary(&z->z, dict, dl) != Z_OK)
    return WS_Z_BAD;
  return 0;
}

/* Room for the output: doubling (from 16 KiB), never past limit + 1. */
static int room(chc_buf *out, size_t limit, uint64_t *moved) {
  size_t want, cap_before = out->cap;
  if (chc_buf_avail(out) > 0 && out->len <= limit) return 0;
  want = out->len < 16384 ? 16384 : out->len;
  if (want > limit + 1 - out->len) want = limit + 1 - out->len;
  if (chc_buf_reserve(out, want) < 0) return WS_Z_NOMEM;
  if (out->cap != cap_before) *moved += out->len;
  return 0;
}

int ws_inflate_some(ws_zin *z, const void *p, size_t n, chc_buf *out,
                    size_t limit, size_t stop, size_t *used,
                    uint64_t *moved) {
  /* out->len never passes `top` in this call */
  size_t top = stop > 0 && stop <= limit ? stop : limit + 1;
  z->z.next_in = (Bytef *)(uintptr_t)p;
  z->z.avail_in = (uInt)n;
  *used = 0;
  if (n > 0) z->ended = 0, z->fed = 1;
  z->paused = 0;
  for (;;) {
    size_t before, give;
    int r;
    if (out->len > limit) return WS_Z_TOO_BIG;
    if (out->len >= top) { /* zlib may hold output for what it took */
      z->paused = 1;
      break;
    }
    if ((r = room(out, limit, moved)) != 0) return r;
    give = chc_buf_avail(out);
    if (give > top - out->len) give = top - out->len;
    if (give > UINT32_MAX) give = UINT32_MAX;
    z->z.next_out = (Bytef *)chc_buf_tail(out);
    z->z.avail_out = (uInt)give;
    before = give;
    r = inflate(&z->z, Z_SYNC_FLUSH);
    chc_buf_commit(out, before - z->z.avail_out);
    *moved += before - z->z.avail_out;
    if (out->len > limit) return WS_Z_TOO_BIG;
    if (r == Z_STREAM_END) {
      if ((r = restart(z)) != 0) return r;
      if (z->z.avail_in == 0) {
        z->ended = 1;
        break;
      }
      continue; /* the rest of the input is a new stream */
    }
    if (r == Z_MEM_ERROR) return WS_Z_NOMEM;
    if (r != Z_OK && r != Z_BUF_ERROR) return WS_Z_BAD;
    /* all output is out once input is used up with room to spare */
    if (z->z.avail_in == 0 && z->z.avail_out > 0) break;
    if (r == Z_BUF_ERROR && z->z.avail_out > 0) return WS_Z_BAD;
  }
  *used = n - z->z.avail_in;
  return 0;
}

int ws_inflate(ws_zin *z, const void *p, size_t n, chc_buf *out,
               size_t limit, uint64_t *moved) {
  size_t used;
  return ws_inflate_some(z, p, n, out, limit, 0, &used, moved);
}

int ws_zin_paused(const ws_zin *z) { return z->paused; }

/*
** RFC 7692 7.2.2: append 00 00 ff ff and inflate. The message must then
** end on a block boundary (zlib's data_type bit 128), or the next message
** would be read as the rest of a block: a message cut short is invalid.
** Two leniencies, both free: a sender that ended its stream with BFINAL
** should follow it with a 0x00 octet (7.2.3.4) so that the tail still
** parses; when the stream ended at the very end of the payload without
** it, the tail is not fed (it would not parse as the start of a new
** stream). And a compressed message with no payload bytes at all is the
** empty message (the tail alone is not valid DEFLATE data).
*/
int ws_inflate_end(ws_zin *z, chc_buf *out, size_t limit, int reset,
                   uint64_t *moved) {
  int r = 0;
  if (z->fed && !z->ended) {
    r = ws_inflate(z, TAIL, sizeof TAIL, out, limit, moved);
    if (r == 0 && !(z->z.data_type & 128)) r = WS_Z_BAD;
  }
  z->ended = z->fed = 0;
  if (r == 0 && reset && inflateReset(&z->z) != Z_OK) r = WS_Z_BAD;
  return r;
}

/*
** memLevel 6, not zlib's default 8: the hash table (zeroed at every
** reset, so all of it is resident) and the symbol buffer are 16 KiB each
** instead of 64 KiB, which is most of what a WebSocket that has sent a
** compressed message keeps while idle. Measured (python zlib, level 6,
** window 15): a stream of 2,000 small JSON messages compresses to the
** same size within 0.3%, 4 MB of text 1% smaller and as fast; memLevel
** 5 and below were twice as slow on the text.
*/
#define ZOUT_MEMLEVEL 6

ws_zout *ws_zout_new(int bits, int level) {
  ws_zout *z = calloc(1, sizeof *z);
  if (z == NULL) return NULL;
  z->z.zalloc = z_alloc;
  z->z.zfree = z_free;
  if (deflateInit2(&z->z, level, Z_DEFLATED, -bits, ZOUT_MEMLEVEL,
                   Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    free(z);
    return NULL;
  }
  return z;
}

void ws_zout_free(ws_zout *z) {
  if (z == NULL) return;
  deflateEnd(&z->z);
  free(z);
}

int ws_deflate(ws_zout *z, const void *p, size_t n, int final, int reset,
               chc_buf *out) {
  size_t at = out->len, want = n + n / 8 + 64;
  const char *in = p;
  z->z.avail_in = 0;
  for (;;) {
    size_t give;
    int r;
    if (z->z.avail_in == 0) { /* zlib counts in 32 bits: 1 GiB slices */
      size_t k = n < (1u << 30) ? n : (1u << 30);
      z->z.next_in = (Bytef *)(uintptr_t)in;
      z->z.avail_in = (uInt)k;
      in += k;
      n -= k;
    }
    /* about the compressed size of the whole input, then 64 KiB steps */
    if (chc_buf_reserve(out, want) < 0) return WS_Z_NOMEM;
    give = chc_buf_avail(out);
    if (give > UINT32_MAX) give = UINT32_MAX;
    z->z.next_out = (Bytef *)chc_buf_tail(out);
    z->z.avail_out = (uInt)give;
    r = deflate(&z->z, n > 0 ? Z_NO_FLUSH : Z_SYNC_FLUSH);
    chc_buf_commit(out, give - z->z.avail_out);
    if (r == Z_STREAM_ERROR) return WS_Z_NOMEM; /* cannot happen */
    /* a sync flush is complete when it did not fill the output */
    if (n == 0 && z->z.avail_in == 0 && z->z.avail_out > 0) break;
    want = 65536;
  }
  if (final) {
    /* RFC 7692 7.2.1: remove the 4 octets 00 00 ff ff at the tail. A
    ** flush with nothing new since the last one writes nothing (zlib
    ** refuses duplicate flushes): then the message ends with 0x00, the
    ** header of the empty stored block whose lengths the tail is, as
    ** 7.2.3.6 shows for an empty message. */
    if (out->len >= at + 4 &&
        memcmp(chc_buf_tail(out) - 4, TAIL, sizeof TAIL) == 0)
      out->len -= 4;
    else if (out->len == at && chc_buf_append(out, "", 1) < 0)
      return WS_Z_NOMEM;
    if (reset && deflateReset(&z->z) != Z_OK) return WS_Z_NOMEM;
  }
  return 0;
}
