/*
** tls.c: TLS clients over mbedTLS 2.28 (see tls.h).
**
** mbedTLS talks to the transport below (a chc_tls_bio: the socket, or
** another TLS session for TLS inside a tunnel) through two small callbacks
** (bio_send, bio_recv) that never block: EAGAIN becomes
** WANT_READ/WANT_WRITE. They also note that the transport really said
** EAGAIN, because mbedTLS can return
** WANT_READ for other reasons (after answering a HelloRequest, say): with
** an edge-triggered socket, waiting for an edge that will not come would
** stall the connection, so such a WANT is retried at once.
*/
#include "tls.h"
#include "tls_verify.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/asn1.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ciphersuites.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>

#define SESS_MAX 64    /* resumable sessions kept per configuration */
#define MAX_RECORD 16384 /* plaintext bytes per record we write */
#define SPIN_MAX 16    /* WANTs without EAGAIN retried before giving up */

/* {===================================================================
** Per-loop state: entropy, DRBG, the system trust store
** ==================================================================== */

typedef struct tls_loop {
  int refs; /* the loop's slot + one per configuration */
  unsigned next_id;
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  mbedtls_x509_crt sys_ca; /* CHC_TLS_CA_BUNDLE, parsed on first use */
  int sys_state;           /* 0: not tried, 1: loaded, -1: failed */
  char sys_err[CHC_ERRMSG_MAX];
} tls_loop;

static void tls_loop_unref(tls_loop *tl) {
  if (--tl->refs > 0) return;
  mbedtls_x509_crt_free(&tl->sys_ca);
  mbedtls_ctr_drbg_free(&tl->drbg);
  mbedtls_entropy_free(&tl->entropy);
  free(tl);
}

/* The loop is going away; configurations still alive keep the state. */
static void tls_loop_release(void *p) { tls_loop_unref(p); }

static tls_loop *tls_loop_get(chc_loop *lp, chc_error *e) {
  static const char pers[] = "c_http_core tls";
  chc_loop_ext *x = chc_loop_tls_slot(lp);
  tls_loop *tl = x->p;
  int r;
  if (tl) return tl;
  tl = calloc(1, sizeof *tl);
  if (tl == NULL) {
    chc_seterr(e, CHC_ETLS, "out of memory");
    return NULL;
  }
  mbedtls_entropy_init(&tl->entropy);
  mbedtls_ctr_drbg_init(&tl->drbg);
  mbedtls_x509_crt_init(&tl->sys_ca);
  tl->refs = 1;
  r = mbedtls_ctr_drbg_seed(&tl->drbg, mbedtls_entropy_func, &tl->entropy,
                            (const unsigned char *)pers, sizeof pers - 1);
  if (r != 0) {
    char m[100];
    mbedtls_strerror(r, m, sizeof m);
    chc_seterr(e, CHC_ETLS, "cannot seed the random generator: %s", m);
    tls_loop_unref(tl);
    return NULL;
  }
  x->p = tl;
  x->release = tls_loop_release;
  return tl;
}

static int load_system_ca(tls_loop *tl) {
  int r;
  if (tl->sys_state != 0) return tl->sys_state;
  chc_tls_allow_name_constraints(1);
  r = mbedtls_x509_crt_parse_file(&tl->sys_ca, CHC_TLS_CA_BUNDLE);
  chc_tls_allow_name_constraints(0);
  /* r > 0: that many certificates of the bundle were not understood; the
  ** others are usable */
  if (r < 0 || tl->sys_ca.version == 0) {
    char m[100];
    if (r == MBEDTLS_ERR_PK_FILE_IO_ERROR)
      snprintf(m, sizeof m, "cannot read it");
    else
      mbedtls_strerror(r < 0 ? r : MBEDTLS_ERR_X509_INVALID_FORMAT, m,
                       sizeof m);
    snprintf(tl->sys_err, sizeof tl->sys_err,
             "no system trust store: %s: %s (install ca-certificates, or "
             "set tls.ca_file)", CHC_TLS_CA_BUNDLE, m);
    tl->sys_state = -1;
  } else {
    tl->sys_state = 1;
  }
  return tl->sys_state;
}

/* }=================================================================== */

/* {===================================================================
** Configurations
** ==================================================================== */

typedef struct sess_entry {
  char *key;
  mbedtls_ssl_session s;
  uint64_t used;
} sess_entry;

struct chc_tls_conf {
  tls_loop *tl;
  mbedtls_ssl_config conf;
  mbedtls_x509_crt ca, own;
  mbedtls_pk_context key;
  int verify, system_ca;
  unsigned id;
  char *server_name;
  const char *alpn[3];
  mbedtls_ssl_config *conf_h1; /* conf offering ALPN http/1.1 only, made
                               ** on first use (chc_tls_new_h1) */
  int *suites; /* offered, 0-terminated (mbedTLS keeps the pointer) */
  sess_entry *sess;
  size_t nsess;
  uint64_t clock;
};

/* Key exchange groups, fastest first (mbedTLS 2.28 on x86-64: ECDHE costs
** 1.0 ms on secp256r1, 1.1 on x25519, 1.6 on secp384r1, 2.3 on secp521r1).
** mbedTLS's default list starts with secp521r1, and servers commonly take
** the client's first choice. */
static const mbedtls_ecp_group_id GROUPS[] = {
    MBEDTLS_ECP_DP_SECP256R1, MBEDTLS_ECP_DP_CURVE25519,
    MBEDTLS_ECP_DP_SECP384R1, MBEDTLS_ECP_DP_SECP521R1, MBEDTLS_ECP_DP_NONE};

/* The suites offered by default: forward secrecy (ECDHE, DHE) and AEAD
** (AES-GCM, ChaCha20-Poly1305) only, the TLS 1.2 part of the usual
** "intermediate" server profile. No static RSA or ECDH key exchange, no
** CBC. In mbedTLS's own order of preference (ChaCha20 first: without
** AES-NI in use it is the faster), DHE last (slower than ECDHE). Those this
** build of mbedTLS lacks are left out. */
static const int DEFAULT_SUITES[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_DHE_RSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_DHE_RSA_WITH_AES_128_GCM_SHA256};
#define NDEFAULT_SUITES (sizeof DEFAULT_SUITES / sizeof DEFAULT_SUITES[0])

/* One suite of tls.ciphers by its IANA name (TLS_ECDHE_RSA_WITH_...);
** mbedTLS spells the same names with '-' for '_'. 0: unknown here. */
static int suite_id(const char *name, size_t n) {
  char m[128];
  size_t i;
  int id;
  if (n == 0 || n >= sizeof m) return 0;
  for (i = 0; i < n; i++) m[i] = name[i] == '_' ? '-' : name[i];
  m[n] = '\0';
  id = mbedtls_ssl_get_ciphersuite_id(m);
  return id != 0 && mbedtls_ssl_ciphersuite_from_id(id) ? id : 0;
}

/* cf->suites from tls.ciphers (names separated by ':'), or the default. */
static int set_suites(chc_tls_conf *cf, const char *list, chc_error *e) {
  size_t n = 0, cap = NDEFAULT_SUITES + 1, i;
  const char *p;
  if (list)
    for (p = list, cap = 2; *p; p++) cap += *p == ':';
  cf->suites = calloc(cap, sizeof *cf->suites);
  if (cf->suites == NULL) {
    chc_seterr(e, CHC_ETLS, "out of memory");
    return -1;
  }
  if (list == NULL) {
    for (i = 0; i < NDEFAULT_SUITES; i++)
      if (mbedtls_ssl_ciphersuite_from_id(DEFAULT_SUITES[i]))
        cf->suites[n++] = DEFAULT_SUITES[i];
  } else {
    for (p = list;;) {
      size_t len = strcspn(p, ":");
      int id = suite_id(p, len);
      if (id == 0) {
        chc_seterr(e, CHC_ETLS, "tls.ciphers: unknown cipher suite '%.*s' "
                   "(IANA names such as "
                   "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, among the TLS "
                   "1.2 suites of mbedTLS %s)", (int)(len > 100 ? 100 : len),
                   p, MBEDTLS_VERSION_STRING);
        return -1;
      }
      cf->suites[n++] = id;
      if (p[len] == '\0') break;
      p += len + 1;
    }
  }
  if (n == 0) {
    chc_seterr(e, CHC_ETLS, "no TLS cipher suite available");
    return -1;
  }
  mbedtls_ssl_conf_ciphersuites(&cf->conf, cf->suites);
  return 0;
}

void chc_tls_opts_default(chc_tls_opts *o) {
  memset(o, 0, sizeof *o);
  o->verify = 1;
  o->min_version = 2;
  o->alpn_h1 = 1;
}

/* fopen first, to tell "cannot read" (with errno) from "not a certificate". */
static int check_readable(const char *opt, const char *path, chc_error *e) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    chc_seterr(e, CHC_ETLS, "tls.%s: cannot read '%s': %s", opt, path,
               strerror(errno));
    return -1;
  }
  fclose(f);
  return 0;
}

static int load_certs(mbedtls_x509_crt *crt, const char *opt,
                      const char *path, chc_error *e) {
  int r;
  char m[100];
  if (check_readable(opt, path, e) < 0) return -1;
  r = mbedtls_x509_crt_parse_file(crt, path);
  if (r == 0) return 0;
  mbedtls_strerror(r < 0 ? r : MBEDTLS_ERR_X509_INVALID_FORMAT, m, sizeof m);
  chc_seterr(e, CHC_ETLS, "tls.%s: '%s' is not a valid certificate file "
             "(PEM or DER): %s", opt, path, m);
  return -1;
}

static int load_ca_path(mbedtls_x509_crt *crt, const char *path,
                        chc_error *e) {
  DIR *d = opendir(path);
  int r;
  if (d == NULL) {
    chc_seterr(e, CHC_ETLS, "tls.ca_path: cannot read the directory '%s': %s",
               path, strerror(errno));
    return -1;
  }
  closedir(d);
  /* r > 0: files that are not certificates, which a hashed directory like
  ** /etc/ssl/certs may well hold */
  r = mbedtls_x509_crt_parse_path(crt, path);
  if (r < 0 || crt->version == 0) {
    char m[100];
    mbedtls_strerror(r < 0 ? r : MBEDTLS_ERR_X509_INVALID_FORMAT, m, sizeof m);
    chc_seterr(e, CHC_ETLS, "tls.ca_path: no certificate found in '%s': %s",
               path, m);
    return -1;
  }
  return 0;
}

static int load_own(chc_tls_conf *cf, const chc_tls_opts *o, chc_error *e) {
  const char *kf = o->key_file ? o->key_file : o->cert_file;
  const char *kopt = o->key_file ? "key_file" : "cert_file";
  char m[100];
  int r;
  if (o->cert_file == NULL) {
    chc_seterr(e, CHC_ETLS, "tls.key_file needs tls.cert_file");
    return -1;
  }
  if (load_certs(&cf->own, "cert_file", o->cert_file, e) < 0) return -1;
  if (check_readable(kopt, kf, e) < 0) return -1;
  r = mbedtls_pk_parse_keyfile(&cf->key, kf, NULL);
  if (r == MBEDTLS_ERR_PK_PASSWORD_REQUIRED) {
    chc_seterr(e, CHC_ETLS, "tls.%s: the key in '%s' is encrypted "
               "(password-protected keys are not supported)", kopt, kf);
    return -1;
  }
  if (r != 0) {
    mbedtls_strerror(r, m, sizeof m);
    chc_seterr(e, CHC_ETLS, "tls.%s: no private key in '%s': %s", kopt, kf,
               m);
    return -1;
  }
  if (mbedtls_pk_check_pair(&cf->own.pk, &cf->key) != 0) {
    chc_seterr(e, CHC_ETLS, "tls.%s: the key in '%s' does not match the "
               "certificate in '%s'", kopt, kf, o->cert_file);
    return -1;
  }
  r = mbedtls_ssl_conf_own_cert(&cf->conf, &cf->own, &cf->key);
  if (r != 0) {
    mbedtls_strerror(r, m, sizeof m);
    chc_seterr(e, CHC_ETLS, "tls.cert_file: %s", m);
    return -1;
  }
  return 0;
}

chc_tls_conf *chc_tls_conf_new(chc_loop *lp, const chc_tls_opts *o,
                               chc_error *e) {
  chc_tls_conf *cf;
  tls_loop *tl;
  int r, n = 0;
  if (o->min_version == 3) {
    chc_seterr(e, CHC_ETLS, "tls.min_version \"1.3\" is not available: this "
               "build uses mbedTLS %s, which has no TLS 1.3 client",
               MBEDTLS_VERSION_STRING);
    return NULL;
  }
  if (o->min_version != 2) {
    chc_seterr(e, CHC_ETLS, "tls.min_version must be \"1.2\" or \"1.3\"");
    return NULL;
  }
  tl = tls_loop_get(lp, e);
  if (tl == NULL) return NULL;
  cf = calloc(1, sizeof *cf);
  if (cf == NULL) {
    chc_seterr(e, CHC_ETLS, "out of memory");
    return NULL;
  }
  tl->refs++;
  cf->tl = tl;
  cf->id = ++tl->next_id;
  mbedtls_ssl_config_init(&cf->conf);
  mbedtls_x509_crt_init(&cf->ca);
  mbedtls_x509_crt_init(&cf->own);
  mbedtls_pk_init(&cf->key);
  r = mbedtls_ssl_config_defaults(&cf->conf, MBEDTLS_SSL_IS_CLIENT,
                                  MBEDTLS_SSL_TRANSPORT_STREAM,
                                  MBEDTLS_SSL_PRESET_DEFAULT);
  if (r != 0) {
    char m[100];
    mbedtls_strerror(r, m, sizeof m);
    chc_seterr(e, CHC_ETLS, "cannot set up TLS: %s", m);
    goto fail;
  }
  mbedtls_ssl_conf_rng(&cf->conf, mbedtls_ctr_drbg_random, &tl->drbg);
  mbedtls_ssl_conf_min_version(&cf->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                               MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_curves(&cf->conf, GROUPS);
  /* DHE below 2048 bits is weak (Logjam); mbedTLS would take 1024 */
  mbedtls_ssl_conf_dhm_min_bitlen(&cf->conf, 2048);
  if (set_suites(cf, o->ciphers, e) < 0) goto fail;
  mbedtls_ssl_conf_session_tickets(&cf->conf,
                                   MBEDTLS_SSL_SESSION_TICKETS_ENABLED);
  cf->verify = o->verify;
  mbedtls_ssl_conf_authmode(&cf->conf, o->verify ? MBEDTLS_SSL_VERIFY_REQUIRED
                                                 : MBEDTLS_SSL_VERIFY_NONE);
  /* the files are read even with verify = false: a typo is still a typo */
  chc_tls_allow_name_constraints(1); /* CAs: checked by the callback */
  r = (o->ca_file && load_certs(&cf->ca, "ca_file", o->ca_file, e) < 0) ||
      (o->ca_path && load_ca_path(&cf->ca, o->ca_path, e) < 0);
  chc_tls_allow_name_constraints(0);
  if (r) goto fail;
  if (o->ca_file || o->ca_path) {
    mbedtls_ssl_conf_ca_chain(&cf->conf, &cf->ca, NULL);
  } else if (o->verify) {
    /* filled in by the first connection (load_system_ca): a pool that
    ** never sees https does not pay for parsing the bundle */
    cf->system_ca = 1;
    mbedtls_ssl_conf_ca_chain(&cf->conf, &tl->sys_ca, NULL);
  }
  if ((o->cert_file || o->key_file) && load_own(cf, o, e) < 0) goto fail;
  if (o->server_name) {
    cf->server_name = strdup(o->server_name);
    if (cf->server_name == NULL) {
      chc_seterr(e, CHC_ETLS, "out of memory");
      goto fail;
    }
  }
  if (o->alpn_h2) cf->alpn[n++] = "h2";
  if (o->alpn_h1) cf->alpn[n++] = "http/1.1";
  cf->alpn[n] = NULL;
  if (n > 0 && mbedtls_ssl_conf_alpn_protocols(&cf->conf, cf->alpn) != 0) {
    chc_seterr(e, CHC_ETLS, "cannot set the ALPN list");
    goto fail;
  }
  return cf;
fail:
  chc_tls_conf_free(cf);
  return NULL;
}

void chc_tls_conf_free(chc_tls_conf *cf) {
  size_t i;
  if (cf == NULL) return;
  for (i = 0; i < cf->nsess; i++) {
    free(cf->sess[i].key);
    mbedtls_ssl_session_free(&cf->sess[i].s);
  }
  free(cf->sess);
  free(cf->suites);
  free(cf->server_name);
  free(cf->conf_h1); /* a shallow copy: what it points to is conf's */
  mbedtls_ssl_config_free(&cf->conf);
  mbedtls_x509_crt_free(&cf->ca);
  mbedtls_x509_crt_free(&cf->own);
  mbedtls_pk_free(&cf->key);
  tls_loop_unref(cf->tl);
  free(cf);
}

unsigned chc_tls_conf_id(const chc_tls_conf *cf) { return cf->id; }

/* The name the certificate must be valid for: server_name, else the host. */
static const char *ref_name(const chc_tls_conf *cf, const char *host) {
  return cf->server_name ? cf->server_name : host;
}

const char *chc_tls_conf_sni(const chc_tls_conf *cf, const char *host) {
  unsigned char ip[16];
  const char *ref = ref_name(cf, host);
  return chc_tls_ip_literal(ref, ip) ? "" : ref;
}

static sess_entry *sess_find(chc_tls_conf *cf, const char *key) {
  size_t i;
  for (i = 0; i < cf->nsess; i++)
    if (strcmp(cf->sess[i].key, key) == 0) return &cf->sess[i];
  return NULL;
}

/* An entry for key: the existing one, a new one, or the least recently
** used one when the cache is full. NULL when out of memory. */
static sess_entry *sess_slot(chc_tls_conf *cf, const char *key) {
  sess_entry *se = sess_find(cf, key);
  char *k;
  size_t i;
  if (se) return se;
  k = strdup(key);
  if (k == NULL) return NULL;
  if (cf->nsess < SESS_MAX) {
    if (cf->sess == NULL) {
      cf->sess = calloc(SESS_MAX, sizeof *cf->sess);
      if (cf->sess == NULL) {
        free(k);
        return NULL;
      }
    }
    se = &cf->sess[cf->nsess++];
  } else {
    se = &cf->sess[0];
    for (i = 1; i < cf->nsess; i++)
      if (cf->sess[i].used < se->used) se = &cf->sess[i];
    free(se->key);
    mbedtls_ssl_session_free(&se->s);
  }
  mbedtls_ssl_session_init(&se->s);
  se->key = k;
  return se;
}

/* }=================================================================== */

/* {===================================================================
** Connections
** ==================================================================== */

struct chc_tls {
  chc_tls_conf *cf;
  mbedtls_ssl_context ssl;
  chc_tls_bio bio;      /* the transport below: ciphertext goes through it */
  int sys_errno;        /* errno of the last failed socket call */
  unsigned blocked : 1, /* the socket said EAGAIN during the last call */
      done : 1,         /* handshake over */
      broken : 1,       /* a fatal error: no close_notify */
      eof_clean : 1, resumed : 1, offered : 1;
  size_t wpend;         /* length of a write that returned WANT_*, or 0 */
  int rfail;            /* sticky result of a failed read (0: none) */
  chc_tls_check check;  /* the checks added to mbedTLS's (tls_verify.c) */
  unsigned char master[48]; /* of the session offered for resumption */
  char *cache_key;
  char name[256];       /* the name (or address) checked, for messages */
  char err[400];
};

static int bio_send(void *ud, const unsigned char *buf, size_t len) {
  chc_tls *t = ud;
  ssize_t n;
  if (len > INT_MAX) len = INT_MAX;
  do n = t->bio.send(t->bio.ctx, (const char *)buf, len);
  while (n < 0 && errno == EINTR);
  if (n >= 0) return (int)n;
  if (errno == EAGAIN || errno == EWOULDBLOCK) {
    t->blocked = 1;
    return MBEDTLS_ERR_SSL_WANT_WRITE;
  }
  t->sys_errno = errno;
  return MBEDTLS_ERR_NET_SEND_FAILED;
}

static int bio_recv(void *ud, unsigned char *buf, size_t len) {
  chc_tls *t = ud;
  ssize_t n;
  if (len > INT_MAX) len = INT_MAX;
  do n = t->bio.recv(t->bio.ctx, (char *)buf, len);
  while (n < 0 && errno == EINTR);
  if (n >= 0) return (int)n; /* 0: mbedTLS makes it MBEDTLS_ERR_SSL_CONN_EOF */
  if (errno == EAGAIN || errno == EWOULDBLOCK) {
    t->blocked = 1;
    return MBEDTLS_ERR_SSL_WANT_READ;
  }
  t->sys_errno = errno;
  return MBEDTLS_ERR_NET_RECV_FAILED;
}

static chc_tls *tls_new(chc_tls_conf *cf, const mbedtls_ssl_config *conf,
                        const chc_tls_bio *bio, const char *host,
                        const char *cache_key, chc_error *e);

chc_tls *chc_tls_new(chc_tls_conf *cf, const chc_tls_bio *bio, const char *host,
                     const char *cache_key, chc_error *e) {
  return tls_new(cf, &cf->conf, bio, host, cache_key, e);
}

/* mbedTLS 2.28 keeps the ALPN list in the configuration only: the
** HTTP/1.1-only one is a copy of cf->conf (every setting the same; the
** certificates, suites and random source it points to stay cf's) with
** its own list. */
chc_tls *chc_tls_new_h1(chc_tls_conf *cf, const chc_tls_bio *bio,
                        const char *host, const char *cache_key,
                        chc_error *e) {
  static const char *H1[] = {"http/1.1", NULL};
  if (cf->conf_h1 == NULL) {
    cf->conf_h1 = malloc(sizeof *cf->conf_h1);
    if (cf->conf_h1 == NULL) {
      chc_seterr(e, CHC_ETLS, "out of memory");
      return NULL;
    }
    memcpy(cf->conf_h1, &cf->conf, sizeof cf->conf);
    mbedtls_ssl_conf_alpn_protocols(cf->conf_h1, H1);
  }
  return tls_new(cf, cf->conf_h1, bio, host, cache_key, e);
}

static chc_tls *tls_new(chc_tls_conf *cf, const mbedtls_ssl_config *conf,
                        const chc_tls_bio *bio, const char *host,
                        const char *cache_key, chc_error *e) {
  chc_tls *t;
  const char *name;
  char m[100];
  int r;
  if (cf->system_ca && load_system_ca(cf->tl) < 0) {
    chc_seterr(e, CHC_ETLS, "%s", cf->tl->sys_err);
    return NULL;
  }
  t = calloc(1, sizeof *t);
  if (t == NULL) {
    chc_seterr(e, CHC_ETLS, "out of memory");
    return NULL;
  }
  t->cf = cf;
  t->bio = *bio;
  mbedtls_ssl_init(&t->ssl);
  r = mbedtls_ssl_setup(&t->ssl, conf);
  if (r != 0) goto fail;
  mbedtls_ssl_set_bio(&t->ssl, t, bio_send, bio_recv, NULL);
  name = chc_tls_conf_sni(cf, host);
  if (*name) {
    /* SNI and the name checked. Always set: mbedTLS 2.28 silently skips
    ** the name check when no name was set (CVE-2025-27809). */
    r = mbedtls_ssl_set_hostname(&t->ssl, name);
    if (r != 0) goto fail;
    snprintf(t->name, sizeof t->name, "%s", name);
    t->check.name = t->name;
  } else {
    /* an address (the host's, or server_name's): no SNI, and the
    ** iPAddress entries are checked (tls_verify.c) */
    name = ref_name(cf, host);
    t->check.iplen = chc_tls_ip_literal(name, t->check.ip);
    snprintf(t->name, sizeof t->name, "%s", name);
  }
  if (cf->verify) mbedtls_ssl_set_verify(&t->ssl, chc_tls_verify_cb, &t->check);
  if (cache_key) {
    sess_entry *se = sess_find(cf, cache_key);
    t->cache_key = strdup(cache_key);
    if (t->cache_key == NULL) {
      r = MBEDTLS_ERR_SSL_ALLOC_FAILED;
      goto fail;
    }
    if (se && mbedtls_ssl_set_session(&t->ssl, &se->s) == 0) {
      se->used = ++cf->clock;
      t->offered = 1;
      memcpy(t->master, se->s.master, sizeof t->master);
    }
  }
  return t;
fail:
  mbedtls_strerror(r, m, sizeof m);
  chc_seterr(e, CHC_ETLS, "cannot set up TLS: %s", m);
  chc_tls_free(t);
  return NULL;
}

void chc_tls_free(chc_tls *t) {
  if (t == NULL) return;
  mbedtls_ssl_free(&t->ssl);
  free(t->cache_key);
  free(t);
}

/* Keeps the session for the next connection to the origin. */
static void session_store(chc_tls *t) {
  mbedtls_ssl_session s;
  sess_entry *se;
  mbedtls_ssl_session_init(&s);
  if (mbedtls_ssl_get_session(&t->ssl, &s) != 0) {
    mbedtls_ssl_session_free(&s);
    return;
  }
  t->resumed = t->offered && memcmp(s.master, t->master, sizeof s.master) == 0;
  se = t->cache_key ? sess_slot(t->cf, t->cache_key) : NULL;
  if (se == NULL) {
    mbedtls_ssl_session_free(&s);
    return;
  }
  mbedtls_ssl_session_free(&se->s);
  se->s = s; /* moved: s is not freed here */
  se->used = ++t->cf->clock;
}

static const char *alert_name(int a) {
  switch (a) {
    case MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE: return "handshake_failure";
    case MBEDTLS_SSL_ALERT_MSG_BAD_CERT: return "bad_certificate";
    case MBEDTLS_SSL_ALERT_MSG_UNSUPPORTED_CERT:
      return "unsupported_certificate";
    case MBEDTLS_SSL_ALERT_MSG_CERT_REVOKED: return "certificate_revoked";
    case MBEDTLS_SSL_ALERT_MSG_CERT_EXPIRED: return "certificate_expired";
    case MBEDTLS_SSL_ALERT_MSG_CERT_UNKNOWN: return "certificate_unknown";
    case MBEDTLS_SSL_ALERT_MSG_ILLEGAL_PARAMETER: return "illegal_parameter";
    case MBEDTLS_SSL_ALERT_MSG_UNKNOWN_CA: return "unknown_ca";
    case MBEDTLS_SSL_ALERT_MSG_ACCESS_DENIED: return "access_denied";
    case MBEDTLS_SSL_ALERT_MSG_DECODE_ERROR: return "decode_error";
    case MBEDTLS_SSL_ALERT_MSG_DECRYPT_ERROR: return "decrypt_error";
    case MBEDTLS_SSL_ALERT_MSG_PROTOCOL_VERSION: return "protocol_version";
    case MBEDTLS_SSL_ALERT_MSG_INSUFFICIENT_SECURITY:
      return "insufficient_security";
    case MBEDTLS_SSL_ALERT_MSG_INTERNAL_ERROR: return "internal_error";
    case MBEDTLS_SSL_ALERT_MSG_UNRECOGNIZED_NAME: return "unrecognized_name";
    case MBEDTLS_SSL_ALERT_MSG_NO_APPLICATION_PROTOCOL:
      return "no_application_protocol";
    case 116: return "certificate_required";
    default: return "alert";
  }
}

/* Why verification failed, in words a person looks for first. */
static void verify_reason(chc_tls *t, uint32_t flags, char *out, size_t n) {
  size_t k;
  k = (size_t)snprintf(out, n, "certificate verification failed:");
#define ADD(...)                                                  \
  do {                                                            \
    if (k < n) k += (size_t)snprintf(out + k, n - k, __VA_ARGS__); \
  } while (0)
  if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED)
    ADD(" not trusted (not issued by a trusted CA, or self-signed);");
  if (flags & MBEDTLS_X509_BADCERT_EXPIRED) ADD(" expired;");
  if (flags & MBEDTLS_X509_BADCERT_FUTURE) ADD(" not yet valid;");
  if (flags & MBEDTLS_X509_BADCERT_REVOKED) ADD(" revoked;");
  if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH) {
    if (t->check.name == NULL)
      ADD(" name mismatch (the certificate has no IP address entry for %s);",
          t->name);
    else if (t->check.nosan)
      ADD(" name mismatch (the certificate has no subjectAltName, and its "
          "CN is not used (RFC 9525): not valid for '%s');", t->name);
    else
      ADD(" name mismatch (the certificate is not valid for '%s');", t->name);
  }
  if ((flags & MBEDTLS_X509_BADCERT_OTHER) && t->check.why[0])
    ADD(" %s;", t->check.why);
  if (flags & MBEDTLS_X509_BADCERT_EXT_KEY_USAGE)
    ADD(" the certificate's extendedKeyUsage does not allow TLS server "
        "authentication (serverAuth);");
  if (flags & MBEDTLS_X509_BADCERT_KEY_USAGE)
    ADD(" the certificate's keyUsage does not allow the key exchange of the "
        "suite chosen (%s: %s);", mbedtls_ssl_get_ciphersuite(&t->ssl),
        "ECDHE and DHE need digitalSignature, RSA keyEncipherment");
  if (flags & MBEDTLS_X509_BADCERT_MISSING) ADD(" no certificate;");
  flags &= ~(uint32_t)(MBEDTLS_X509_BADCERT_NOT_TRUSTED |
                       MBEDTLS_X509_BADCERT_EXPIRED |
                       MBEDTLS_X509_BADCERT_FUTURE |
                       MBEDTLS_X509_BADCERT_REVOKED |
                       MBEDTLS_X509_BADCERT_CN_MISMATCH |
                       MBEDTLS_X509_BADCERT_EXT_KEY_USAGE |
                       MBEDTLS_X509_BADCERT_KEY_USAGE |
                       MBEDTLS_X509_BADCERT_MISSING);
  if (t->check.why[0]) flags &= ~(uint32_t)MBEDTLS_X509_BADCERT_OTHER;
  if (flags && k < n) {
    /* the rest in mbedTLS's words, one line per flag */
    char info[256], *c;
    mbedtls_x509_crt_verify_info(info, sizeof info, " ", flags);
    for (c = info; *c; c++)
      if (*c == '\n') *c = ';';
    ADD("%s", info);
  }
#undef ADD
  if (k > 0 && k < n && out[k - 1] == ';') out[k - 1] = '\0';
}

/*
** A server that refuses the handshake sends an alert and closes; if we were
** still sending our flight, that fails first (EPIPE, reset) and the alert
** is left unread. It is plaintext during the handshake: peek for it, since
** "handshake_failure" says more than "Broken pipe". -1 if there is none.
*/
static int peek_alert(const chc_tls *t) {
  char b[7];
  ssize_t n = t->bio.peek ? t->bio.peek(t->bio.ctx, b, sizeof b) : -1;
  const unsigned char *u = (const unsigned char *)b;
  if (n == (ssize_t)sizeof b && u[0] == MBEDTLS_SSL_MSG_ALERT && u[1] == 3 &&
      u[3] == 0 && u[4] == 2 && u[5] == MBEDTLS_SSL_ALERT_LEVEL_FATAL)
    return u[6];
  return -1;
}

/* A sentence for a failed call r (also kept for chc_tls_errmsg). */
static void describe(chc_tls *t, int r, char *out, size_t n) {
  char m[120];
  uint32_t vr;
  int a;
  t->broken = 1;
  if (!t->done && (r == MBEDTLS_ERR_NET_RECV_FAILED ||
                   r == MBEDTLS_ERR_NET_SEND_FAILED ||
                   r == MBEDTLS_ERR_SSL_CONN_EOF) &&
      (a = peek_alert(t)) >= 0) {
    snprintf(out, n, "the server sent a fatal alert: %s (%d)", alert_name(a),
             a);
  } else if (r == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED ||
             (r == MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE &&
              (vr = mbedtls_ssl_get_verify_result(&t->ssl)) != 0 &&
              vr != UINT32_MAX)) {
    /* the second: mbedTLS's usage check of the server's certificate (key
    ** usage for the suite, extendedKeyUsage) fails that way, with the
    ** reason in the verify flags */
    verify_reason(t, mbedtls_ssl_get_verify_result(&t->ssl), out, n);
  } else if (r == MBEDTLS_ERR_X509_INVALID_EXTENSIONS +
                      MBEDTLS_ERR_ASN1_UNEXPECTED_TAG) {
    /* what mbedTLS's parser says of a critical extension it does not know,
    ** nameConstraints among them when tls_verify.c's hook is not in use */
    snprintf(out, n, "a certificate of the server's chain has a critical "
             "extension mbedTLS %s cannot parse (nameConstraints, say) "
             "(mbedTLS -0x%04x)", MBEDTLS_VERSION_STRING, (unsigned)-r);
  } else if (r == MBEDTLS_ERR_SSL_CONN_EOF) {
    snprintf(out, n, "the server closed the connection");
  } else if ((r == MBEDTLS_ERR_NET_RECV_FAILED ||
              r == MBEDTLS_ERR_NET_SEND_FAILED) && t->sys_errno) {
    snprintf(out, n, "%s", strerror(t->sys_errno));
  } else if (r == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE &&
             t->ssl.in_msgtype == MBEDTLS_SSL_MSG_ALERT && t->ssl.in_msg) {
    a = t->ssl.in_msg[1];
    snprintf(out, n, "the server sent a fatal alert: %s (%d)", alert_name(a),
             a);
  } else {
    mbedtls_strerror(r, m, sizeof m);
    snprintf(out, n, "%s (mbedTLS -0x%04x)", m, (unsigned)-r);
  }
}

/* Retries a WANT_* that the socket did not cause (see the top). */
static int wanted(chc_tls *t, int r, int *spins) {
  if (r != MBEDTLS_ERR_SSL_WANT_READ && r != MBEDTLS_ERR_SSL_WANT_WRITE)
    return 0;
  if (!t->blocked && ++*spins < SPIN_MAX) return 0;
  return r == MBEDTLS_ERR_SSL_WANT_READ ? CHC_TLS_WANT_READ
                                        : CHC_TLS_WANT_WRITE;
}

int chc_tls_handshake(chc_tls *t, chc_error *e) {
  int spins = 0;
  for (;;) {
    int r, w;
    t->blocked = 0;
    t->sys_errno = 0;
    chc_tls_allow_name_constraints(1); /* checked by chc_tls_verify_cb */
    r = mbedtls_ssl_handshake(&t->ssl);
    chc_tls_allow_name_constraints(0);
    if (r == 0) break;
    if ((w = wanted(t, r, &spins)) != 0) return w;
    if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
      continue;
    describe(t, r, t->err, sizeof t->err);
    chc_seterr(e, CHC_ETLS, "%s", t->err);
    return CHC_TLS_ERROR;
  }
  t->done = 1;
  session_store(t);
  return 0;
}

ssize_t chc_tls_read(chc_tls *t, char *p, size_t n) {
  size_t got = 0;
  int spins = 0;
  if (n > INT_MAX) n = INT_MAX;
  while (got < n && t->rfail == 0) {
    int r, w;
    t->blocked = 0;
    t->sys_errno = 0;
    r = mbedtls_ssl_read(&t->ssl, (unsigned char *)p + got, n - got);
    if (r > 0) {
      got += (size_t)r;
      continue;
    }
    if ((w = wanted(t, r, &spins)) != 0) return got > 0 ? (ssize_t)got : w;
    if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
      continue;
    /* the end or an error: reported now, or after the bytes we have */
    if (r == 0 || r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
      t->eof_clean = r != 0;
      t->rfail = 1;
    } else {
      describe(t, r, t->err, sizeof t->err);
      t->rfail = CHC_TLS_ERROR;
    }
  }
  if (got > 0) return (ssize_t)got;
  return t->rfail == 1 ? 0 : t->rfail;
}

ssize_t chc_tls_write(chc_tls *t, const char *p, size_t n) {
  int spins = 0;
  if (t->wpend) {
    /* finishing the record mbedTLS has already encrypted: the same length
    ** again, or it would count bytes it never sent */
    if (n < t->wpend) {
      snprintf(t->err, sizeof t->err, "internal error: a pending TLS write "
               "was not retried with the same bytes");
      t->broken = 1;
      return CHC_TLS_ERROR;
    }
    n = t->wpend;
  } else if (n > MAX_RECORD) {
    n = MAX_RECORD;
  }
  for (;;) {
    int r, w;
    t->blocked = 0;
    t->sys_errno = 0;
    r = mbedtls_ssl_write(&t->ssl, (const unsigned char *)p, n);
    if (r >= 0) {
      t->wpend = 0;
      return r;
    }
    t->wpend = n;
    if ((w = wanted(t, r, &spins)) != 0) return w;
    if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
      continue;
    describe(t, r, t->err, sizeof t->err);
    return CHC_TLS_ERROR;
  }
}

size_t chc_tls_pending(const chc_tls *t) {
  return mbedtls_ssl_get_bytes_avail(&t->ssl);
}

int chc_tls_eof_clean(const chc_tls *t) { return t->eof_clean; }

int chc_tls_errno(const chc_tls *t) { return t->sys_errno; }

const char *chc_tls_errmsg(const chc_tls *t) {
  return t->err[0] ? t->err : "TLS failure";
}

void chc_tls_close_notify(chc_tls *t) {
  if (!t->done || t->broken) return;
  t->broken = 1; /* once */
  mbedtls_ssl_close_notify(&t->ssl);
}

const char *chc_tls_alpn(const chc_tls *t) {
  return t->done ? mbedtls_ssl_get_alpn_protocol(&t->ssl) : NULL;
}

const char *chc_tls_version(const chc_tls *t) {
  return mbedtls_ssl_get_version(&t->ssl);
}

int chc_tls_resumed(const chc_tls *t) { return t->resumed; }

const char *chc_tls_cipher(const chc_tls *t) {
  return mbedtls_ssl_get_ciphersuite(&t->ssl);
}

/* }=================================================================== */
