/*
** resolver.h: getaddrinfo off the loop thread.
**
** A small pool of worker threads per loop (created on first use, at most
** CHC_RESOLVER_THREADS) runs getaddrinfo; results come back through
** chc_loop_post, so callbacks always run on the loop thread, inside a step.
** IP literals are answered without a thread (still via a deferred
** callback: never synchronously from chc_resolve_start).
*/
#ifndef CHC_RESOLVER_H
#define CHC_RESOLVER_H

#include <netdb.h>

#include "loop.h"

#define CHC_RESOLVER_THREADS 4

typedef struct chc_resolve chc_resolve;

/* status: 0 with res (the caller owns it: freeaddrinfo), or a nonzero
** getaddrinfo EAI_* code with res NULL; `msg` is a sentence naming the host
** ("cannot resolve host 'x': Name or service not known"). */
typedef void (*chc_resolve_cb)(void *ud, int status, struct addrinfo *res,
                               const char *msg);

/* Starts resolving host:port (TCP, AF_UNSPEC, AI_ADDRCONFIG for names).
** Returns a handle, or NULL on ENOMEM. The callback is called exactly once
** unless chc_resolve_cancel is called first. */
chc_resolve *chc_resolve_start(chc_loop *lp, const char *host, int port,
                               chc_resolve_cb cb, void *ud);
/* The callback will not be called; memory is reclaimed when the worker is
** done with it. Safe to call from inside any loop callback. */
void chc_resolve_cancel(chc_resolve *r);

/* Joins the worker threads and frees the per-loop state (chc_loop_free
** calls it). */
void chc_resolver_shutdown(chc_loop *lp);

#endif
