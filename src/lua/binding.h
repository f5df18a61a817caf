/*
** binding.h: what the binding's files share. Only src/lua/ includes lua.h.
*/
#ifndef CHC_BINDING_H
#define CHC_BINDING_H

#include <stdint.h>

#include <lauxlib.h>
#include <lua.h>

#include "../buf.h"
#include "../loop.h"
#include "../pool.h"

#define CHC_TASK_MT "c_http_core.Task"
#define CHC_LOOP_MT "c_http_core.Loop"
#define CHC_POOL_MT "c_http_core.Pool"
#define CHC_RESP_MT "c_http_core.Response"

typedef struct chc_task chc_task;

/* Tasks waiting for one thing. A plain script's main chunk waits by
** stepping the loop until `main_woken` is set. */
typedef struct chc_waitq {
  chc_list tasks;
  int main_waiting, main_woken;
} chc_waitq;

/* The per-lua_State scheduler, stored as a userdata in the registry. */
typedef struct chc_lloop {
  chc_loop *lp;
  lua_State *L;      /* the main thread: every resume is "from" it */
  chc_task *current; /* the task being resumed, or NULL */
  chc_list ready;    /* tasks to resume */
  chc_defer run;     /* resumes the ready tasks */
  int ntasks;        /* spawned and not finished */
  chc_list pools;    /* live pools (stats) */
  void *hl;          /* scratch chc_hlist for requests (lpool.c) */
  chc_hlist hlc[16]; /* emptied header lists kept for reuse (lpool.c) */
  int nhlc;
  int intr;          /* a signal hook raised during a main-thread wait */
  unsigned long long sendfile_bytes; /* file body bytes sent by sendfile */
} chc_lloop;

struct chc_task {
  lua_State *co; /* anchored: uservalue 1 of the task userdata */
  chc_lloop *ll;
  chc_list node;   /* in ll->ready or in a waitq */
  chc_waitq *wq;   /* the queue it waits in, if any */
  chc_waitq joiners;
  chc_timer timer; /* sleep */
  int nargs;       /* values to pass on the next resume */
  int state;       /* see sched.c */
  int cancelled;   /* a Cancelled error is due at the next wait */
  int ok;          /* finished without error */
  int joined;      /* someone took the result */
  int is_run;      /* the task of http.run: its caller gets the result */
  int nres;        /* results left on co's stack */
  /* called when the task ends by an error (even one raised before its
  ** function ran, such as running out of memory in lua_resume), with the
  ** error message (NULL for an error object); NULL: nothing */
  void (*on_fail)(void *ud, const char *msg);
  void *on_fail_ud;
};

chc_lloop *chc_lloop_get(lua_State *L);

void chc_waitq_init(chc_waitq *q);
/* Makes every waiter ready (never resumes anything here). */
void chc_waitq_wake(chc_lloop *ll, chc_waitq *q);

/*
** Waits on q. In a task of ours: parks the task and yields (k runs when it
** is woken: k must start with chc_check_cancel). In a plain script (not
** inside a step): steps the loop until q is woken, then calls k. Anywhere
** else it raises.
*/
int chc_wait(lua_State *L, chc_waitq *q, lua_KFunction k, lua_KContext ctx);
/* The same with the loop at hand (no registry lookup: hot paths). */
int chc_wait_on(lua_State *L, chc_lloop *ll, chc_waitq *q, lua_KFunction k,
                lua_KContext ctx);
void chc_check_cancel_on(lua_State *L, chc_lloop *ll, void (*cleanup)(void *),
                         void *ud);
/* Raises Cancelled if the running task was cancelled (clears the flag).
** `cleanup` (may be NULL) runs first with `ud`. */
void chc_check_cancel(lua_State *L, void (*cleanup)(void *), void *ud);
/* The task that L is, or NULL. */
chc_task *chc_task_of(lua_State *L);

/* Spawns a task running the function at stack index fidx with nargs values
** above it (all are popped). Pushes the task userdata. */
void chc_spawn(lua_State *L, int nargs);

/* Errors: builds an error object of kind `code` through the factory the
** Lua layer installed (a string if none). */
void chc_push_err(lua_State *L, int code, const char *msg);
int chc_return_err(lua_State *L, int code, const char *msg); /* nil, err */

/* A Pool userdata: the pool plus its link in ll->pools. */
struct chc_pool;
#define CHC_LPOOL_MAGIC 0x506f6f6cu /* "Pool": the fast type check */
typedef struct chc_lpool {
  uint32_t magic;
  struct chc_pool *p; /* NULL once closed */
  chc_lloop *ll;
  chc_list node;
} chc_lpool;

/* Registration, one per file. */
void chc_sched_open(lua_State *L);  /* spawn, run, sleep, loop, task mt */
void chc_lpool_open(lua_State *L);  /* Pool, Response */
void chc_lsem_open(lua_State *L);   /* semaphore */
/* ltrace.c: calls the trace function of the Response at index resp
** (its uservalue 4) with every record s queued (s may be NULL), or with
** one event made now. Protected; an error in it is a Lua warning. */
struct chc_stream;
void chc_trace_deliver(lua_State *L, int resp, struct chc_stream *s);
void chc_trace_event(lua_State *L, int resp, int phase, int what);
/* Calls fn (at that index) with one record; core.trace_call(fn, event,
** info) is the same protected call for events made in Lua. */
struct chc_trace_rec;
void chc_trace_call(lua_State *L, int fn, const struct chc_trace_rec *r);
int chc_trace_lcall(lua_State *L);
/* lproxy.c: the Pool's checked `proxy` table at t, or NULL with e set. */
struct chc_proxy *chc_lproxy_new(lua_State *L, int t, chc_lloop *ll,
                                 chc_error *e);

/* A Response userdata's parts, for the binding's other files (defined in
** lpool.c; lsse.c uses them):
** chc_resp_check raises unless a Response is at i; chc_resp_stream gives
** its stream (NULL once closed) and the queue its waiters park on;
** chc_resp_release closes it (as resp:close()). */
struct chc_stream;
void *chc_resp_check(lua_State *L, int i);
struct chc_stream *chc_resp_stream(void *r, chc_waitq **q);
void chc_resp_release(void *r);
void chc_lsse_open(lua_State *L);   /* the SSE parser userdata (lsse.c) */
/* lpool.c: copies the {name, value} pairs at idx into h (raises on a
** malformed pair). */
void chc_collect_headers(lua_State *L, int idx, chc_hlist *h);
/* lopts.c: a timeout option at idx (seconds: a number, or a table of
** connect/read/write/pool/total, false = none) over *to; raises on a bad
** one. A tls option table at t into *to (its strings stay in the table). */
void chc_opt_timeouts(lua_State *L, int idx, chc_timeouts *to);
void chc_opt_tls(lua_State *L, int t, chc_tls_opts *to);
/* t's integer field k (>= min; d when absent), boolean field k (d when
** absent); misuse raises */
lua_Integer chc_opt_int(lua_State *L, int t, const char *k, lua_Integer d,
                        lua_Integer min);
int chc_opt_bool(lua_State *L, int t, const char *k, int d);
void chc_lws_open(lua_State *L);    /* WebSocket (lws.c) */
void chc_lmem_open(lua_State *L);   /* mem_trim, mem_stats (lmem.c) */

#endif
