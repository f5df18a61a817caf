/*
** ws_deflate.h: the zlib side of permessage-deflate (RFC 7692), internal
** to ws.c. Raw DEFLATE streams; the 00 00 ff ff tail of each message is
** stripped on send and put back on receive here.
*/
#ifndef CHC_WS_DEFLATE_H
#define CHC_WS_DEFLATE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

typedef struct ws_zin ws_zin;
typedef struct ws_zout ws_zout;

/* Results of ws_inflate/ws_inflate_end besides 0. */
#define WS_Z_TOO_BIG (-1) /* the output would pass the limit */
#define WS_Z_BAD (-2)     /* not valid DEFLATE data */
#define WS_Z_NOMEM (-3)

/* window bits 8..15. NULL when out of memory. */
ws_zin *ws_zin_new(int bits);
void ws_zin_free(ws_zin *z);
/* Inflates p[0..n), appending to out; out->len never passes limit (the
** output stops at limit + 1 bytes at most, then WS_Z_TOO_BIG). *moved
** grows by the bytes a buffer growth may have moved. */
int ws_inflate(ws_zin *z, const void *p, size_t n, chc_buf *out,
               size_t limit, uint64_t *moved);
/* The same, pausing once out->len reaches stop (0: never): *used is the
** input taken (all of it unless paused), and ws_zin_paused() says that
** output may still be due for it: call again (with no input, or the
** rest) before the message ends. */
int ws_inflate_some(ws_zin *z, const void *p, size_t n, chc_buf *out,
                    size_t limit, size_t stop, size_t *used,
                    uint64_t *moved);
int ws_zin_paused(const ws_zin *z);
/* The end of a message: inflates the stripped tail; reset = no context
** takeover (the window is dropped for the next message). */
int ws_inflate_end(ws_zin *z, chc_buf *out, size_t limit, int reset,
                   uint64_t *moved);

/* window bits 9..15, level 1..9. NULL when out of memory. */
ws_zout *ws_zout_new(int bits, int level);
void ws_zout_free(ws_zout *z);
/* Compresses p[0..n) with a sync flush, appending to out (replacing
** out's content is the caller's business). final: the message ends here,
** the 00 00 ff ff tail is stripped and, with reset, the window dropped.
** 0, or WS_Z_NOMEM. */
int ws_deflate(ws_zout *z, const void *p, size_t n, int final, int reset,
               chc_buf *out);

#endif
