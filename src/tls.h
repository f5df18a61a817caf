/*
** tls.h: TLS for the transport, over mbedTLS 2.28, below h1 (and h2).
**
** Three levels of state:
**  - per loop: the entropy source and CTR_DRBG, and the system trust store
**    (parsed on first use), shared by every configuration of the loop
**    (chc_loop_tls_slot);
**  - per pool: a chc_tls_conf, the mbedtls_ssl_config with the trust
**    anchors, the client certificate and the ALPN list parsed once, and a
**    bounded cache of resumable sessions per origin;
**  - per connection: a chc_tls, an mbedtls_ssl_context over a
**    non-blocking transport (a chc_tls_bio: the socket, or the TLS session
**    to a proxy for TLS inside TLS); tls.c never touches a socket itself.
**
** Nothing here blocks. A call that would returns CHC_TLS_WANT_READ or
** CHC_TLS_WANT_WRITE once the socket said EAGAIN, so with an edge-
** triggered socket the caller simply retries on the next edge in that
** direction. Protocol agnostic: bytes in, bytes out.
*/
#ifndef CHC_TLS_H
#define CHC_TLS_H

#include <stddef.h>
#include <sys/types.h>

#include "common.h"
#include "loop.h"

/* Options of a configuration. Strings are only read by chc_tls_conf_new. */
typedef struct chc_tls_opts {
  int verify;                       /* 0: an explicit opt-out of all checks */
  const char *ca_file, *ca_path;    /* trust; neither: CHC_TLS_CA_BUNDLE */
  const char *cert_file, *key_file; /* client certificate (key: cert_file) */
  const char *server_name;          /* SNI and name checked, not the host */
  int min_version;                  /* minor: 2 = TLS 1.2, 3 = TLS 1.3 */
  int alpn_h2, alpn_h1;             /* ALPN offers, in that order */
  const char *ciphers; /* IANA suite names, ':'-separated; NULL: default */
} chc_tls_opts;

#define CHC_TLS_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

typedef struct chc_tls_conf chc_tls_conf;
typedef struct chc_tls chc_tls;

void chc_tls_opts_default(chc_tls_opts *o); /* verify, TLS 1.2, http/1.1 */

/* Parses the certificates and keys now: an unreadable or invalid file, a
** key that does not match its certificate or an unavailable min_version
** give NULL with e set (code CHC_ETLS, the message names the option and
** the file), as does an unknown or unavailable suite in ciphers. Owned by one pool; used on the loop's thread only. */
chc_tls_conf *chc_tls_conf_new(chc_loop *lp, const chc_tls_opts *o,
                               chc_error *e);
void chc_tls_conf_free(chc_tls_conf *cf);
/* The SNI name for a host under this configuration: server_name if set,
** else the host, or "" when that is an IP literal (no SNI is sent for
** those: the address is checked against iPAddress entries instead). */
const char *chc_tls_conf_sni(const chc_tls_conf *cf, const char *host);
/* A number that tells configurations apart (part of a pool's origin key). */
unsigned chc_tls_conf_id(const chc_tls_conf *cf);

/* Return values besides byte counts. */
#define CHC_TLS_WANT_READ (-1)
#define CHC_TLS_WANT_WRITE (-2)
#define CHC_TLS_ERROR (-3)

/* The transport below a session; it moves the ciphertext. recv and send
** return a count (recv: 0 at the end of the stream) or -1 with errno
** (EAGAIN: it would block; EINTR is retried). peek, optional (NULL),
** copies up to n bytes that recv would return next without taking them
** (tls.c looks for a plaintext alert with it), or returns -1. */
typedef struct chc_tls_bio {
  ssize_t (*recv)(void *ctx, char *p, size_t n);
  ssize_t (*send)(void *ctx, const char *p, size_t n);
  ssize_t (*peek)(void *ctx, char *p, size_t n);
  void *ctx; /* not owned: must outlive the session */
} chc_tls_bio;

/* A client over a connected transport (bio, copied) to `host` (bare, as
** in the URL). `cache_key` names the origin whose last session is offered
** for resumption (NULL: none). NULL with e set on failure. */
chc_tls *chc_tls_new(chc_tls_conf *cf, const chc_tls_bio *bio,
                     const char *host, const char *cache_key, chc_error *e);
/* The same, offering ALPN "http/1.1" only whatever cf offers: a
** connection that must speak HTTP/1.1 (a WebSocket's Upgrade after an
** HTTP/2 server without RFC 8441). */
chc_tls *chc_tls_new_h1(chc_tls_conf *cf, const chc_tls_bio *bio,
                        const char *host, const char *cache_key,
                        chc_error *e);
/* Frees without sending anything (see chc_tls_close_notify). */
void chc_tls_free(chc_tls *t);

/* Drives the handshake: 0 when done (the session is then cached for the
** origin), CHC_TLS_WANT_READ/WRITE, or CHC_TLS_ERROR with e set (code
** CHC_ETLS; the message names the reason: "certificate verification
** failed: expired (...)", mbedTLS's text for other failures). */
int chc_tls_handshake(chc_tls *t, chc_error *e);

/* Reads decrypted bytes: > 0, 0 at the end of the stream (then
** chc_tls_eof_clean tells whether the peer sent close_notify first),
** CHC_TLS_WANT_READ/WRITE, or CHC_TLS_ERROR (chc_tls_errno,
** chc_tls_errmsg). Fills as much of p as the socket allows: it returns
** fewer than n bytes only once the socket is drained. */
ssize_t chc_tls_read(chc_tls *t, char *p, size_t n);
/* Writes: the number of bytes taken (> 0), CHC_TLS_WANT_READ/WRITE or
** CHC_TLS_ERROR. After a WANT_* the caller must offer the same bytes again
** (at least as many: the same record is finished, not a new one made):
** mbedTLS has already encrypted them. */
ssize_t chc_tls_write(chc_tls *t, const char *p, size_t n);
/* Decrypted bytes mbedTLS holds that no read has returned yet. */
size_t chc_tls_pending(const chc_tls *t);
int chc_tls_eof_clean(const chc_tls *t);
/* After CHC_TLS_ERROR: the errno of a failed socket call (0 if the failure
** was not the socket's), and a sentence for a person. */
int chc_tls_errno(const chc_tls *t);
const char *chc_tls_errmsg(const chc_tls *t);

/* Best effort, never waits: sends close_notify if the handshake completed
** and no fatal error happened on this connection. */
void chc_tls_close_notify(chc_tls *t);

/* After the handshake: the ALPN protocol agreed ("http/1.1", "h2"), or NULL
** when the server chose none; the version ("TLSv1.2"); whether the session
** was resumed. */
const char *chc_tls_alpn(const chc_tls *t);
const char *chc_tls_version(const chc_tls *t);
const char *chc_tls_cipher(const chc_tls *t); /* the suite's name */
int chc_tls_resumed(const chc_tls *t);

#endif
