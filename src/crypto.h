/*
** crypto.h: the two digests the WebSocket handshake needs, SHA-1 and
** base64, over mbedTLS.
**
** They live apart from tls.c (the other file allowed to include mbedTLS,
** G1) because tls.c needs the loop and sockets, while the WebSocket
** engine, its C test and its fuzzer must link without either.
*/
#ifndef CHC_CRYPTO_H
#define CHC_CRYPTO_H

#include <stddef.h>

/* SHA-1 of p[0..n) into out. */
void chc_sha1(const void *p, size_t n, unsigned char out[20]);
/* Standard base64 (with padding) of p[0..n) into out, NUL-terminated.
** cap must be at least 4 * ((n + 2) / 3) + 1. Returns the length written
** (without the NUL), or 0 when cap is too small. */
size_t chc_base64(char *out, size_t cap, const void *p, size_t n);

#endif
