/*
** crypto.c: SHA-1 and base64 over mbedTLS (see crypto.h for why not in
** tls.c).
*/
#include "crypto.h"

#include <mbedtls/base64.h>
#include <mbedtls/sha1.h>

void chc_sha1(const void *p, size_t n, unsigned char out[20]) {
  /* mbedtls_sha1_ret cannot fail for the software implementation */
  (void)mbedtls_sha1_ret(p, n, out);
}

size_t chc_base64(char *out, size_t cap, const void *p, size_t n) {
  size_t olen = 0;
  if (mbedtls_base64_encode((unsigned char *)out, cap, &olen, p, n) != 0)
    return 0;
  return olen; /* mbedTLS wrote the NUL too */
}
