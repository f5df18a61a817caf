/*
** bench/ciphers.c: mbedTLS's own speed on this CPU, without any I/O: what
** bounds the TLS rows of bench/run.sh (the library encrypts with mbedTLS).
**
**   ciphers [MiB]   (default 256)
**
** Bulk: AES-128-GCM and ChaCha20-Poly1305 over 16 KiB records (the TLS
** record size), MiB in total -> MB/s (10^6 bytes/s) on one core.
** Handshake: the public-key work of one full ECDHE-ECDSA P-256 handshake on
** the client side: an ephemeral key pair, the shared secret and the check of
** the server's signature -> ms per handshake.
** Prints one line: "RESULT aes128gcm_mbps=... chachapoly_mbps=...
** ecdhe_ecdsa_ms=...".
*/
#include <mbedtls/chachapoly.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdh.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/entropy.h>
#include <mbedtls/gcm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REC 16384

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int die(const char *what, int rc) {
  fprintf(stderr, "ciphers: %s failed (-0x%04x)\n", what, (unsigned)-rc);
  return 1;
}

int main(int argc, char **argv) {
  size_t total = (size_t)(argc > 1 ? atol(argv[1]) : 256) << 20, done;
  static unsigned char in[REC], out[REC];
  unsigned char key[32] = {1, 2, 3}, iv[12] = {9}, tag[16], hash[32] = {7};
  double t0, gcm_s, cp_s, hs_s = 0;
  int rc, i, rounds = 50;
  mbedtls_gcm_context gcm;
  mbedtls_chachapoly_context cp;
  mbedtls_entropy_context ent;
  mbedtls_ctr_drbg_context drbg;
  mbedtls_ecdsa_context server;
  unsigned char sig[MBEDTLS_ECDSA_MAX_LEN];
  size_t siglen;

  memset(in, 0x5a, sizeof in);
  mbedtls_gcm_init(&gcm);
  if ((rc = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key, 128)) != 0)
    return die("gcm_setkey", rc);
  t0 = now();
  for (done = 0; done < total; done += REC) {
    iv[0]++;
    rc = mbedtls_gcm_crypt_and_tag(&gcm, MBEDTLS_GCM_ENCRYPT, REC, iv, sizeof iv,
                                   NULL, 0, in, out, sizeof tag, tag);
    if (rc != 0) return die("gcm", rc);
  }
  gcm_s = now() - t0;
  mbedtls_gcm_free(&gcm);

  mbedtls_chachapoly_init(&cp);
  if ((rc = mbedtls_chachapoly_setkey(&cp, key)) != 0) return die("chachapoly_setkey", rc);
  t0 = now();
  for (done = 0; done < total; done += REC) {
    iv[0]++;
    rc = mbedtls_chachapoly_encrypt_and_tag(&cp, REC, iv, NULL, 0, in, out, tag);
    if (rc != 0) return die("chachapoly", rc);
  }
  cp_s = now() - t0;
  mbedtls_chachapoly_free(&cp);

  /* handshake public-key work, client side of ECDHE-ECDSA on P-256 */
  mbedtls_entropy_init(&ent);
  mbedtls_ctr_drbg_init(&drbg);
  if ((rc = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &ent, NULL, 0)) != 0)
    return die("drbg_seed", rc);
  mbedtls_ecdsa_init(&server);
  if ((rc = mbedtls_ecdsa_genkey(&server, MBEDTLS_ECP_DP_SECP256R1,
                                 mbedtls_ctr_drbg_random, &drbg)) != 0)
    return die("ecdsa_genkey", rc);
  if ((rc = mbedtls_ecdsa_write_signature(&server, MBEDTLS_MD_SHA256, hash, sizeof hash,
                                          sig, &siglen, mbedtls_ctr_drbg_random, &drbg)) != 0)
    return die("ecdsa_sign", rc);
  {
    double client_total = 0;
    /* the server's share is made outside the timed part */
    for (i = 0; i < rounds; i++) {
      mbedtls_ecdh_context cli, srv;
      unsigned char pub[100], cpub[100], secret[32];
      size_t plen, clen, slen;
      double a;
      mbedtls_ecdh_init(&cli);
      mbedtls_ecdh_init(&srv);
      mbedtls_ecdh_setup(&cli, MBEDTLS_ECP_DP_SECP256R1);
      mbedtls_ecdh_setup(&srv, MBEDTLS_ECP_DP_SECP256R1);
      mbedtls_ecdh_make_public(&srv, &plen, pub, sizeof pub, mbedtls_ctr_drbg_random, &drbg);
      a = now();
      rc = mbedtls_ecdh_make_public(&cli, &clen, cpub, sizeof cpub, mbedtls_ctr_drbg_random, &drbg);
      rc |= mbedtls_ecdh_read_public(&cli, pub, plen);
      rc |= mbedtls_ecdh_calc_secret(&cli, &slen, secret, sizeof secret, mbedtls_ctr_drbg_random, &drbg);
      rc |= mbedtls_ecdsa_read_signature(&server, hash, sizeof hash, sig, siglen);
      client_total += now() - a;
      if (rc != 0) return die("handshake crypto", rc);
      mbedtls_ecdh_free(&cli);
      mbedtls_ecdh_free(&srv);
    }
    hs_s = client_total / rounds;
  }
  mbedtls_ecdsa_free(&server);
  mbedtls_ctr_drbg_free(&drbg);
  mbedtls_entropy_free(&ent);
  printf("RESULT aes128gcm_mbps=%.0f chachapoly_mbps=%.0f ecdhe_ecdsa_ms=%.2f\n",
         total / gcm_s / 1e6, total / cp_s / 1e6, hs_s * 1e3);
  return 0;
}
