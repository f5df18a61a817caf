/*
** tls_verify.h: the certificate checks tls.c adds to mbedTLS 2.28's own
** (private to tls.c). mbedTLS verifies signatures, the chain to a trust
** anchor, dates, basicConstraints, key usage and dNSName entries; it falls
** back to the CN when there is no subjectAltName, keeps no iPAddress
** entries and knows nothing of name constraints. So, from the verify
** callback (mbedtls_ssl_set_verify), this code:
**  - checks an IP literal against the iPAddress entries;
**  - refuses a server certificate without subjectAltName (no CN fallback,
**    RFC 9525);
**  - enforces the name constraints (DNS and IP subtrees, permitted and
**    excluded) of every CA of the chain on the certificates below it and
**    on the name the client asked for.
*/
#ifndef CHC_TLS_VERIFY_H
#define CHC_TLS_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include <mbedtls/x509_crt.h>

#define CHC_TLS_CHAIN_MAX 12 /* > MBEDTLS_X509_MAX_VERIFY_CHAIN_SIZE */

/* The state of one connection's checks. */
typedef struct chc_tls_check {
  const char *name;        /* the DNS name checked, or NULL for an address */
  unsigned char ip[16];    /* the address checked (iplen 4 or 16) */
  size_t iplen;
  const mbedtls_x509_crt *chain[CHC_TLS_CHAIN_MAX]; /* by depth */
  int nosan;               /* the server's certificate had no SAN */
  char why[300];           /* the reason of a MBEDTLS_X509_BADCERT_OTHER */
} chc_tls_check;

/* The mbedtls_ssl_set_verify callback; ud is a chc_tls_check. A failure
** sets MBEDTLS_X509_BADCERT_CN_MISMATCH (a name: see nosan) or
** MBEDTLS_X509_BADCERT_OTHER (see why) in the server certificate's flags. */
int chc_tls_verify_cb(void *ud, mbedtls_x509_crt *crt, int depth,
                      uint32_t *flags);

/* Whether certificates parsed on this thread from now on may carry a
** critical nameConstraints extension (mbedTLS 2.28 refuses them: it does
** not implement the extension; chc_tls_verify_cb does). On only while tls.c
** parses trust anchors or runs a handshake. */
void chc_tls_allow_name_constraints(int on);

/* IPv4 or IPv6 literal (an IPv6 zone is ignored): 4 or 16 bytes in ip,
** else 0. */
size_t chc_tls_ip_literal(const char *host, unsigned char ip[16]);

#endif
