/*
** tls_verify.c: certificate checks mbedTLS 2.28 lacks (see tls_verify.h).
**
** The extensions mbedTLS does not keep (iPAddress entries of the SAN, name
** constraints) are read from the certificate's raw DER here:
**   Extensions ::= SEQUENCE OF SEQUENCE { extnID OID, critical BOOLEAN
**                  DEFAULT FALSE, extnValue OCTET STRING }
**   GeneralNames ::= SEQUENCE OF GeneralName; dNSName is [2] IA5String,
**                  iPAddress [7] OCTET STRING (4 or 16 bytes; in a name
**                  constraint 8 or 32: the address and a mask)
**   NameConstraints ::= SEQUENCE { permittedSubtrees [0] GeneralSubtrees
**                  OPTIONAL, excludedSubtrees [1] GeneralSubtrees OPTIONAL }
**   GeneralSubtrees ::= SEQUENCE OF SEQUENCE { base GeneralName, ... }
** Anything malformed fails the check.
*/
#include "tls_verify.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <mbedtls/asn1.h>
#include <mbedtls/oid.h>
#include <mbedtls/x509.h>

#define TAG_SEQ (MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)
#define GN_DNS (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2)
#define GN_IP (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7)
#define NC_MAX 64 /* subtrees of one extension we accept */

static const unsigned char OID_SAN[] = {0x55, 0x1d, 0x11}; /* 2.5.29.17 */
static const unsigned char OID_NC[] = {0x55, 0x1d, 0x1e};  /* 2.5.29.30 */

size_t chc_tls_ip_literal(const char *host, unsigned char ip[16]) {
  char tmp[64];
  const char *pct = strchr(host, '%'); /* IPv6 zone: not part of the SAN */
  size_t n = pct ? (size_t)(pct - host) : strlen(host);
  if (n >= sizeof tmp) return 0;
  memcpy(tmp, host, n);
  tmp[n] = '\0';
  if (inet_pton(AF_INET, tmp, ip) == 1) return 4;
  if (inet_pton(AF_INET6, tmp, ip) == 1) return 16;
  return 0;
}

/* {===================================================================
** Reading the DER
** ==================================================================== */

/* The value of the extension `oid` of crt: 1 with *val and *len set, 0 if
** absent, -1 if the extensions are malformed. */
static int get_ext(const mbedtls_x509_crt *crt, const unsigned char *oid,
                   size_t oid_len, unsigned char **val, size_t *len) {
  unsigned char *p = crt->v3_ext.p, *end;
  size_t n;
  if (p == NULL || crt->v3_ext.len == 0) return 0;
  end = p + crt->v3_ext.len;
  if (mbedtls_asn1_get_tag(&p, end, &n, TAG_SEQ) != 0) return -1;
  end = p + n;
  while (p < end) {
    unsigned char *ext_end, *id;
    size_t id_len;
    int crit;
    if (mbedtls_asn1_get_tag(&p, end, &n, TAG_SEQ) != 0) return -1;
    ext_end = p + n;
    if (mbedtls_asn1_get_tag(&p, ext_end, &id_len, MBEDTLS_ASN1_OID) != 0)
      return -1;
    id = p;
    p += id_len;
    if (p < ext_end && *p == MBEDTLS_ASN1_BOOLEAN &&
        mbedtls_asn1_get_bool(&p, ext_end, &crit) != 0)
      return -1;
    if (mbedtls_asn1_get_tag(&p, ext_end, &n, MBEDTLS_ASN1_OCTET_STRING) != 0)
      return -1;
    if (id_len == oid_len && memcmp(id, oid, oid_len) == 0) {
      *val = p;
      *len = n;
      return 1;
    }
    p = ext_end;
  }
  return 0;
}

/* One GeneralName: its tag, and its contents in p/len. */
typedef struct gname {
  unsigned char tag;
  const unsigned char *p;
  size_t len;
} gname;

/* The SAN entries of crt into out (at most max): the count, 0 without a
** SAN, -1 if malformed or more than max. */
static int get_sans(const mbedtls_x509_crt *crt, gname *out, int max) {
  unsigned char *p, *end;
  size_t n;
  int r = get_ext(crt, OID_SAN, sizeof OID_SAN, &p, &n), k = 0;
  if (r <= 0) return r;
  end = p + n;
  if (mbedtls_asn1_get_tag(&p, end, &n, TAG_SEQ) != 0) return -1;
  end = p + n;
  while (p < end) {
    unsigned char tag = *p++;
    if (mbedtls_asn1_get_len(&p, end, &n) != 0 || k == max) return -1;
    out[k].tag = tag;
    out[k].p = p;
    out[k].len = n;
    k++;
    p += n;
  }
  return k;
}

/* The subtrees of a nameConstraints extension: the count, or -1. */
typedef struct subtree {
  int excluded;
  gname base;
} subtree;

static int get_subtrees(const mbedtls_x509_crt *crt, subtree *out, int max) {
  unsigned char *p, *end;
  size_t n;
  int r = get_ext(crt, OID_NC, sizeof OID_NC, &p, &n), k = 0;
  if (r <= 0) return r;
  end = p + n;
  if (mbedtls_asn1_get_tag(&p, end, &n, TAG_SEQ) != 0) return -1;
  end = p + n;
  while (p < end) {
    unsigned char *list_end;
    int excluded;
    if (*p == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED))
      excluded = 0;
    else if (*p == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED |
                    1))
      excluded = 1;
    else
      return -1;
    p++;
    if (mbedtls_asn1_get_len(&p, end, &n) != 0) return -1;
    list_end = p + n;
    while (p < list_end) {
      unsigned char *sub_end;
      if (mbedtls_asn1_get_tag(&p, list_end, &n, TAG_SEQ) != 0 || n == 0 ||
          k == max)
        return -1;
      sub_end = p + n;
      out[k].excluded = excluded;
      out[k].base.tag = *p++;
      if (mbedtls_asn1_get_len(&p, sub_end, &n) != 0) return -1;
      out[k].base.p = p;
      out[k].base.len = n;
      k++;
      p = sub_end; /* minimum and maximum: unused in the Web PKI */
    }
  }
  return k;
}

/* }=================================================================== */

/* {===================================================================
** Matching
** ==================================================================== */

/* RFC 5280 4.2.1.10: a DNS base matches itself and any name with labels
** added on the left; a base with a leading '.' only the latter. A wildcard
** entry ("*.a.test") is a name under a.test like any other. */
static int dns_within(const gname *name, const gname *base) {
  const char *n = (const char *)name->p, *b = (const char *)base->p;
  size_t nl = name->len, bl = base->len;
  if (bl == 0) return 1;
  if (bl > nl || strncasecmp(n + nl - bl, b, bl) != 0) return 0;
  if (b[0] == '.' || nl == bl) return 1;
  return n[nl - bl - 1] == '.';
}

static int ip_within(const gname *name, const gname *base) {
  size_t i, n = name->len;
  if (base->len != 2 * n) return 0; /* the other family */
  for (i = 0; i < n; i++)
    if ((name->p[i] & base->p[n + i]) != (base->p[i] & base->p[n + i]))
      return 0;
  return 1;
}

/* 0: the name is allowed by the subtrees; 1: outside the permitted ones
** of its type; 2: inside an excluded one. */
static int check_name(const gname *name, const subtree *s, int ns) {
  int i, permits = 0, inside = 0;
  for (i = 0; i < ns; i++) {
    int m;
    if (s[i].base.tag != name->tag) continue;
    m = name->tag == GN_DNS ? dns_within(name, &s[i].base)
                            : ip_within(name, &s[i].base);
    if (s[i].excluded && m) return 2;
    if (!s[i].excluded) {
      permits = 1;
      inside |= m;
    }
  }
  return permits && !inside;
}

static void name_text(const gname *name, char *out, size_t n) {
  if (name->tag == GN_IP) {
    if (inet_ntop(name->len == 4 ? AF_INET : AF_INET6, name->p, out,
                  (socklen_t)n) == NULL)
      snprintf(out, n, "?");
    return;
  }
  snprintf(out, n, "%.*s", (int)(name->len > 100 ? 100 : name->len),
           (const char *)name->p);
}

static void fail_name(chc_tls_check *c, const mbedtls_x509_crt *ca, int r,
                      const gname *name) {
  char dn[100], nm[110];
  if (mbedtls_x509_dn_gets(dn, sizeof dn, &ca->subject) < 0)
    snprintf(dn, sizeof dn, "?");
  name_text(name, nm, sizeof nm);
  snprintf(c->why, sizeof c->why, "name constraints violated: %s '%s' is %s "
           "of the CA '%s'", name->tag == GN_IP ? "the address" : "the name",
           nm, r == 2 ? "in an excluded subtree" : "outside the permitted "
           "subtrees", dn);
}

/* Checks the constraints of the CA at depth d on every certificate below
** it (their DNS and IP SAN entries) and on the name asked for. 0: fine. */
static int check_ca(chc_tls_check *c, int d) {
  const mbedtls_x509_crt *ca = c->chain[d];
  subtree s[NC_MAX];
  gname names[NC_MAX], asked;
  char dn[100];
  int ns = get_subtrees(ca, s, NC_MAX), i, k, n, r;
  if (ns == 0) return 0;
  if (mbedtls_x509_dn_gets(dn, sizeof dn, &ca->subject) < 0)
    snprintf(dn, sizeof dn, "?");
  if (ns < 0) {
    snprintf(c->why, sizeof c->why, "the name constraints of the CA '%s' "
             "cannot be read", dn);
    return -1;
  }
  /* other kinds of names (directoryName, rfc822Name, URI...) are not
  ** checked, so a CA constrained on them is not trusted for anything */
  for (i = 0; i < ns; i++)
    if (s[i].base.tag != GN_DNS && s[i].base.tag != GN_IP) {
      snprintf(c->why, sizeof c->why, "the CA '%s' has name constraints on "
               "names other than DNS names and IP addresses, which are not "
               "checked (GeneralName tag 0x%02x)", dn, s[i].base.tag);
      return -1;
    }
  for (k = 0; k < d; k++) {
    if (c->chain[k] == NULL) continue;
    n = get_sans(c->chain[k], names, NC_MAX);
    if (n < 0) {
      snprintf(c->why, sizeof c->why, "the subjectAltName of a certificate "
               "under the name-constrained CA '%s' cannot be read", dn);
      return -1;
    }
    for (i = 0; i < n; i++) {
      if (names[i].tag != GN_DNS && names[i].tag != GN_IP) continue;
      if ((r = check_name(&names[i], s, ns)) != 0) {
        fail_name(c, ca, r, &names[i]);
        return -1;
      }
    }
  }
  /* the name asked for too: an excluded name under a permitted wildcard */
  asked.tag = c->name ? GN_DNS : GN_IP;
  asked.p = c->name ? (const unsigned char *)c->name : c->ip;
  asked.len = c->name ? strlen(c->name) : c->iplen;
  if ((r = check_name(&asked, s, ns)) != 0) {
    fail_name(c, ca, r, &asked);
    return -1;
  }
  return 0;
}

/* Does the certificate list the address among its iPAddress entries? */
static int has_ip(const mbedtls_x509_crt *crt, const unsigned char *ip,
                  size_t iplen) {
  gname names[NC_MAX];
  int n = get_sans(crt, names, NC_MAX), i;
  for (i = 0; i < n; i++)
    if (names[i].tag == GN_IP && names[i].len == iplen &&
        memcmp(names[i].p, ip, iplen) == 0)
      return 1;
  return 0;
}

/* }=================================================================== */

/* mbedTLS calls this for each certificate of the chain it built, from the
** top (the trust anchor) down to depth 0 (the server's): the server's
** comes last, with the whole chain seen. */
int chc_tls_verify_cb(void *ud, mbedtls_x509_crt *crt, int depth,
                      uint32_t *flags) {
  chc_tls_check *c = ud;
  int d;
  if (depth < 0 || depth >= CHC_TLS_CHAIN_MAX) {
    *flags |= MBEDTLS_X509_BADCERT_OTHER;
    snprintf(c->why, sizeof c->why, "the chain is too long");
    return 0;
  }
  c->chain[depth] = crt;
  if (depth > 0) return 0;
  if (c->name == NULL) {
    /* no name was set, so mbedTLS checked none */
    if (!has_ip(crt, c->ip, c->iplen))
      *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
  } else if (!(crt->ext_types & MBEDTLS_X509_EXT_SUBJECT_ALT_NAME)) {
    /* mbedTLS would have matched the CN */
    c->nosan = 1;
    *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
  }
  for (d = 1; d < CHC_TLS_CHAIN_MAX && c->chain[d]; d++)
    if (check_ca(c, d) != 0) {
      *flags |= MBEDTLS_X509_BADCERT_OTHER;
      break;
    }
  return 0;
}

/* {===================================================================
** Letting a critical nameConstraints extension be parsed
**
** mbedTLS 2.28 refuses a certificate with a critical extension it does not
** know (unless built with MBEDTLS_X509_ALLOW_UNSUPPORTED_CRITICAL_
** EXTENSION, which Debian's is not), and nameConstraints is one: a valid
** chain through a constrained CA fails inside the handshake with an ASN.1
** error, before any callback of ours runs. The handshake parses the
** server's certificates with mbedtls_x509_crt_parse_der, which is
** mbedtls_x509_crt_parse_der_with_ext_cb without a callback; defining it
** here makes libmbedtls (loaded with this library) call this one, which
** passes a callback that accepts that one extension -- only while tls.c
** has said so on this thread (chc_tls_allow_name_constraints), since
** chc_tls_verify_cb then enforces it. At any other time, and for any other
** critical extension, the result is mbedTLS's own. If the process already
** had mbedTLS loaded, its own definition wins and such chains keep failing
** closed. A program that links mbedTLS statically (a second definition in
** the same link) builds with -DCHC_TLS_NO_PARSE_HOOK, with the same
** result.
** ==================================================================== */

static _Thread_local int nc_allowed;

void chc_tls_allow_name_constraints(int on) { nc_allowed = on; }

#ifndef CHC_TLS_NO_PARSE_HOOK
static int ext_cb(void *ctx, mbedtls_x509_crt const *crt,
                  mbedtls_x509_buf const *oid, int critical,
                  const unsigned char *p, const unsigned char *end) {
  (void)ctx;
  (void)crt;
  (void)p;
  (void)end;
  if (nc_allowed && oid->len == sizeof OID_NC &&
      memcmp(oid->p, OID_NC, sizeof OID_NC) == 0)
    return 0;
  /* what mbedtls_x509_crt_parse_der returns for such an extension */
  return critical ? MBEDTLS_ERR_X509_INVALID_EXTENSIONS +
                        MBEDTLS_ERR_ASN1_UNEXPECTED_TAG
                  : 0;
}

__attribute__((visibility("default"))) int
mbedtls_x509_crt_parse_der(mbedtls_x509_crt *chain, const unsigned char *buf,
                           size_t buflen) {
  return mbedtls_x509_crt_parse_der_with_ext_cb(chain, buf, buflen, 1, ext_cb,
                                                NULL);
}
#endif

/* }=================================================================== */
