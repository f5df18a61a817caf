/*
** resolver.h: getaddrinfo off the loop thread.
**
** Each lookup runs in a worker thread of the loop's resolver. Workers are
** started on demand, one per lookup in flight, up to
** CHC_RESOLVER_MAX_THREADS per loop (past that, lookups queue); an idle one
** lingers a few seconds for the next lookup, then exits. So a slow name
** never holds up a fast one (below the cap), and lookups of the same
** host:port in flight are one getaddrinfo call whose result every caller
** gets a copy of. A cancelled lookup, or one still running when the loop
** is freed, is abandoned: its worker is detached and frees it when
** getaddrinfo returns, and nothing ever waits for it (idle workers are
** joined at shutdown: they exit at once).
**
** Results come back through chc_loop_post, so callbacks always run on the
** loop thread, inside a step. IP literals are answered without a thread
** (still via a deferred callback: never synchronously from
** chc_resolve_start).
*/
#ifndef CHC_RESOLVER_H
#define CHC_RESOLVER_H

#include <netdb.h>

#include "loop.h"

#define CHC_RESOLVER_MAX_THREADS 32

typedef struct chc_resolve chc_resolve;

/* status: 0 with res (the caller owns it: chc_resolve_free_result), or a
** nonzero getaddrinfo EAI_* code with res NULL; `msg` is a sentence naming
** the host ("cannot resolve host 'x': Name or service not known"). */
typedef void (*chc_resolve_cb)(void *ud, int status, struct addrinfo *res,
                               const char *msg);

/* Starts resolving host:port (TCP, AF_UNSPEC, AI_ADDRCONFIG for names).
** Returns a handle, or NULL on ENOMEM. The callback is called exactly once
** unless chc_resolve_cancel is called first. */
chc_resolve *chc_resolve_start(chc_loop *lp, const char *host, int port,
                               chc_resolve_cb cb, void *ud);
/* The callback will not be called; the handle is freed at once. Safe to
** call from inside any loop callback, the handle's own included. */
void chc_resolve_cancel(chc_resolve *r);

/* Frees a result list given to a callback (one block: not freeaddrinfo). */
void chc_resolve_free_result(struct addrinfo *res);

/* An IP literal (brackets allowed) resolves at once: 1 with *res (the
** caller owns it: chc_resolve_free_result); 0 when host is a name, or the
** literal failed (chc_resolve_start then reports it as usual). */
int chc_resolve_literal(const char *host, int port, struct addrinfo **res);

/* Frees the per-loop state and every handle, calling nothing; abandons the
** lookups in flight without waiting for them (chc_loop_free calls it). In a
** forked child (chc_loop_inherited) it only frees memory: the parent's
** workers do not exist there. */
void chc_resolver_shutdown(chc_loop *lp);

#endif
