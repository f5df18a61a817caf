/*
** sched.c: the coroutine scheduler.
**
** A task is a userdata whose uservalue 1 is its coroutine (and uservalue 2
** its error, once it failed). While a task is alive the loop's task table
** anchors it: registry[&LOOP_KEY] -> loop userdata -> uservalue 1 (table)
** -> [lightuserdata task] = task userdata. Dropping the anchor is one
** rawset.
**
** Only run_ready() resumes coroutines (G9). Waking a task means putting it
** on the ready queue; the loop's deferred callback resumes the ready tasks
** at the end of the iteration, "from" the main thread.
*/
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../buf.h"
#include "binding.h"

enum { T_READY, T_RUNNING, T_WAITING, T_DONE };

static const char LOOP_KEY = 'l';  /* registry[&LOOP_KEY] = loop userdata */
static const char ERRF_KEY = 'e';  /* registry[&ERRF_KEY] = error factory */
static const char WAIT_KEY = 'w';  /* yielded sentinel: "parked" */
static const char NOOP_KEY = 'n';  /* registry[&NOOP_KEY] = an empty Lua fn */
static const char INTR_KEY = 'i';  /* registry[&INTR_KEY] = see drive_until */

/* Failed tasks nobody joined, kept for loop:step to report. Past this many
** unreported ones (http.run and C hosts never ask) a failure is no longer
** kept: the task's __gc prints it when it is collected. */
#define MAX_UNREPORTED 64

/* {===================================================================
** Errors
** ==================================================================== */

void chc_push_err(lua_State *L, int code, const char *msg) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &ERRF_KEY);
  if (lua_isfunction(L, -1)) {
    lua_pushstring(L, chc_err_kind(code));
    lua_pushstring(L, msg);
    lua_call(L, 2, 1);
    return;
  }
  lua_pop(L, 1);
  lua_pushfstring(L, "%s: %s", chc_err_kind(code), msg);
}

int chc_return_err(lua_State *L, int code, const char *msg) {
  lua_pushnil(L);
  chc_push_err(L, code, msg);
  return 2;
}

static int l_set_error_factory(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_settop(L, 1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &ERRF_KEY);
  return 0;
}

/* }=================================================================== */

/* {===================================================================
** The loop userdata
** ==================================================================== */

static void run_ready(chc_loop *lp, chc_defer *d);

static int loop_gc(lua_State *L) {
  chc_lloop *ll = luaL_checkudata(L, 1, CHC_LOOP_MT);
  if (ll->lp) {
    chc_loop_free(ll->lp);
    ll->lp = NULL;
  }
  if (ll->hl) { /* lpool.c's scratch header list: its arrays too */
    chc_hlist_free(ll->hl);
    free(ll->hl);
    ll->hl = NULL;
  }
  while (ll->nhlc > 0) /* lpool.c's header lists kept for reuse */
    chc_hlist_free(&ll->hlc[--ll->nhlc]);
  return 0;
}

chc_lloop *chc_lloop_get(lua_State *L) {
  chc_lloop *ll;
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &LOOP_KEY) == LUA_TUSERDATA) {
    ll = lua_touserdata(L, -1);
    lua_pop(L, 1);
    /* lua_close finalised it already, and a finaliser of an object older
    ** than the library calls in: refuse rather than use a freed loop */
    if (ll->lp == NULL) luaL_error(L, "the c_http_core event loop is closed");
    return ll;
  }
  lua_pop(L, 1);
  ll = lua_newuserdatauv(L, sizeof *ll, 2);
  memset(ll, 0, sizeof *ll);
  ll->lp = chc_loop_new();
  if (ll->lp == NULL) luaL_error(L, "cannot create the event loop: %s",
                                 strerror(errno));
  luaL_setmetatable(L, CHC_LOOP_MT);
  lua_newtable(L); /* the task table */
  lua_setiuservalue(L, -2, 1);
  lua_newtable(L); /* failed tasks nobody was joining: loop:step reports */
  lua_setiuservalue(L, -2, 2);
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  ll->L = lua_tothread(L, -1);
  lua_pop(L, 1);
  chc_list_init(&ll->ready);
  chc_list_init(&ll->pools);
  chc_defer_init(&ll->run, run_ready);
  chc_loop_set_data(ll->lp, ll);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &LOOP_KEY);
  return ll;
}

/* Pushes the loop's task table. */
static void push_tasks(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &LOOP_KEY);
  lua_getiuservalue(L, -1, 1);
  lua_remove(L, -2);
}

/* }=================================================================== */

/* {===================================================================
** Wait queues and waiting
** ==================================================================== */

void chc_waitq_init(chc_waitq *q) {
  chc_list_init(&q->tasks);
  q->main_waiting = q->main_woken = 0;
}

static void ready_push(chc_lloop *ll, chc_task *t) {
  if (t->wq) {
    chc_list_remove(&t->node);
    t->wq = NULL;
  }
  chc_timer_stop(ll->lp, &t->timer);
  t->state = T_READY;
  chc_list_insert_tail(&ll->ready, &t->node);
  chc_defer_queue(ll->lp, &ll->run);
}

void chc_waitq_wake(chc_lloop *ll, chc_waitq *q) {
  if (ll->lp == NULL) return; /* lua_close: the loop is gone, nothing runs */
  while (!chc_list_empty(&q->tasks)) {
    chc_task *t = chc_container_of(q->tasks.next, chc_task, node);
    ready_push(ll, t);
  }
  if (q->main_waiting) q->main_woken = 1;
}

chc_task *chc_task_of(lua_State *L) {
  chc_lloop *ll = chc_lloop_get(L);
  if (ll->current && ll->current->co == L) return ll->current;
  return NULL;
}

/* Why chc_loop_step failed, for a person. */
static const char *step_error(int rc) {
  if (rc == -ECHILD)
    return "the loop was inherited across fork() and belongs to the parent "
           "process (a child must use a fresh lua_State; see docs/API.md)";
  return strerror(-rc);
}

/*
** Signals. While the main thread waits here, no Lua code runs on it, and
** the standalone interpreter's SIGINT handler only sets a hook on the main
** thread that raises "interrupted!" at the next call: so the hook must be
** given a call to run at. It is, after a step whose wait a signal broke
** (EINTR) or once a hook appeared on the main thread (a signal that landed
** outside epoll_wait). Calling an empty Lua function costs nothing when no
** hook is set and lets any hook (a host's too) do what it does. Returns
** LUA_OK, or an error status with the hook's error on the stack.
*/
static int run_signal_hooks(lua_State *L, chc_lloop *ll) {
  lua_State *M = ll->L;
  if (L != M && lua_gethook(M) != NULL) /* a coroutine of the main chunk */
    lua_sethook(L, lua_gethook(M), lua_gethookmask(M), lua_gethookcount(M));
  lua_rawgetp(L, LUA_REGISTRYINDEX, &NOOP_KEY);
  return lua_pcall(L, 0, 0, 0);
}

/* After a step: was there a signal, and did a hook raise for it? A hook
** already seen (`*seen`: a debugger's, say) is not polled again. */
static int signal_check(lua_State *L, chc_lloop *ll, lua_Hook *seen) {
  lua_Hook h = lua_gethook(ll->L);
  if (!chc_loop_take_interrupt(ll->lp) && h == *seen) return LUA_OK;
  *seen = h;
  return run_signal_hooks(L, ll);
}

/* Raises the error a signal hook raised during a main-thread wait. */
static void raise_intr(lua_State *L, chc_lloop *ll) {
  ll->intr = 0;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &INTR_KEY);
  lua_pushnil(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &INTR_KEY);
  lua_error(L);
}

/*
** Drives the loop from a plain script until *flag becomes nonzero. Returns
** 0; or 1 when a signal hook raised an error (Ctrl-C) or the loop failed:
** the error is kept, and the wait's continuation raises it from
** chc_check_cancel_on after the same cleanup as for a cancelled task, so
** the pool stays consistent (and nothing on the waiter's C stack is left
** in the loop).
*/
static int drive_until(lua_State *L, chc_lloop *ll, int *flag) {
  lua_Hook seen = NULL; /* a hook already set is polled once */
  while (!*flag) {
    int rc = chc_loop_step(ll->lp, -1);
    if (rc < 0) lua_pushfstring(L, "event loop failed: %s", step_error(rc));
    if (rc < 0 || signal_check(L, ll, &seen) != LUA_OK) {
      lua_rawsetp(L, LUA_REGISTRYINDEX, &INTR_KEY);
      ll->intr = 1;
      return 1;
    }
  }
  return 0;
}

static void refuse_wait(lua_State *L) {
  chc_lloop *ll = chc_lloop_get(L);
  if (ll->current) /* a coroutine of the user's, resumed by a task */
    luaL_error(L, "cannot wait here: this is a coroutine of your own "
                  "(coroutine.wrap/resume) inside a c_http_core task; wait "
                  "in the task itself, or run it with http.spawn");
  luaL_error(L, "cannot wait here: not inside a c_http_core task (use "
                "http.spawn/http.run, or call from the main chunk)");
}

/* The task cannot yield from here: a C function (table.sort, string.gsub,
** require, a metamethod called from C, a __gc...) stands between it and
** this call. Nothing is parked and no timer runs: raise. */
static void refuse_unyieldable(lua_State *L) {
  luaL_error(L, "cannot wait here: a C function or metamethod stands "
                "between the task and this call (attempt to yield across a "
                "C-call boundary)");
}

int chc_wait(lua_State *L, chc_waitq *q, lua_KFunction k, lua_KContext ctx) {
  return chc_wait_on(L, chc_lloop_get(L), q, k, ctx);
}

int chc_wait_on(lua_State *L, chc_lloop *ll, chc_waitq *q, lua_KFunction k,
                lua_KContext ctx) {
  chc_task *t = ll->current;
  if (t && t->co == L) {
    /* check before parking: lua_yieldk would raise with the task still
    ** linked in q (or its sleep timer armed), marked waiting while it runs
    ** on, and a later wake would resume a running or finished task */
    if (!lua_isyieldable(L)) {
      chc_timer_stop(ll->lp, &t->timer);
      refuse_unyieldable(L);
    }
    t->state = T_WAITING;
    if (q) {
      t->wq = q;
      chc_list_insert_tail(&q->tasks, &t->node);
    }
    lua_pushlightuserdata(L, (void *)&WAIT_KEY);
    return lua_yieldk(L, 1, ctx, k);
  }
  if (chc_loop_running(ll->lp) || q == NULL) refuse_wait(L);
  /* a continuation that waits again without checking gets it here */
  if (ll->intr) raise_intr(L, ll);
  q->main_waiting = 1;
  q->main_woken = 0;
  drive_until(L, ll, &q->main_woken);
  q->main_waiting = 0;
  {
    int n = k(L, LUA_OK, ctx); /* raises a pending interrupt if it checks */
    if (ll->intr) raise_intr(L, ll); /* it returned without checking */
    return n;
  }
}

void chc_check_cancel(lua_State *L, void (*cleanup)(void *), void *ud) {
  chc_check_cancel_on(L, chc_lloop_get(L), cleanup, ud);
}

void chc_check_cancel_on(lua_State *L, chc_lloop *ll, void (*cleanup)(void *),
                         void *ud) {
  chc_task *t = ll->current;
  if (t && t->co == L && t->cancelled) {
    t->cancelled = 0;
    if (cleanup) cleanup(ud);
    chc_push_err(L, CHC_ECANCELLED, "the task was cancelled");
    lua_error(L);
  }
  if (ll->intr && t == NULL) { /* a main-thread wait a signal broke */
    if (cleanup) cleanup(ud);
    raise_intr(L, ll);
  }
}

/* }=================================================================== */

/* {===================================================================
** Tasks
** ==================================================================== */

static chc_task *check_task(lua_State *L, int i) {
  return luaL_checkudata(L, i, CHC_TASK_MT);
}

static void task_finish(chc_lloop *ll, chc_task *t, int ok) {
  lua_State *L = ll->L;
  t->state = T_DONE;
  t->ok = ok;
  ll->ntasks--;
  lua_checkstack(L, 4);
  if (!ok && chc_list_empty(&t->joiners.tasks) && !t->is_run && !t->joined) {
    /* nobody is waiting for it: keep it for loop:step to report (a later
    ** join still gets the error too), but only so many */
    lua_rawgetp(L, LUA_REGISTRYINDEX, &LOOP_KEY);
    lua_getiuservalue(L, -1, 2);
    if (lua_rawlen(L, -1) < MAX_UNREPORTED) {
      push_tasks(L);
      lua_rawgetp(L, -1, t);
      lua_rawseti(L, -3, (lua_Integer)lua_rawlen(L, -3) + 1);
      lua_pop(L, 1);
    }
    lua_pop(L, 2);
  }
  chc_waitq_wake(ll, &t->joiners);
  push_tasks(L);
  lua_pushnil(L);
  lua_rawsetp(L, -2, t);
  lua_pop(L, 1);
}

/*
** Resumes one task. The error value of a failed task is kept as the task
** userdata's uservalue 2, with a traceback taken before the stack unwinds
** (for string errors; error objects are kept as they are and get a
** .traceback field when they are tables).
*/
static void task_resume(chc_lloop *ll, chc_task *t) {
  lua_State *L = ll->L;
  int nres = 0, st, nargs = t->nargs;
  t->nargs = 0;
  t->state = T_RUNNING;
  ll->current = t;
  st = lua_resume(t->co, L, nargs, &nres);
  ll->current = NULL;
  if (st == LUA_YIELD) {
    int parked = nres == 1 && lua_touserdata(t->co, -1) == (void *)&WAIT_KEY;
    lua_pop(t->co, nres);
    if (!parked) ready_push(ll, t); /* a bare coroutine.yield() */
    return;
  }
  if (st == LUA_OK) {
    t->nres = nres;
    task_finish(ll, t, 1);
    return;
  }
  /* failed: the owner hears of it first (before anything here allocates
  ** and may run the collector), then a traceback, while the stack is still
  ** there */
  if (t->on_fail) t->on_fail(t->on_fail_ud, lua_tostring(t->co, -1));
  lua_checkstack(L, 5);
  push_tasks(L);
  lua_rawgetp(L, -1, t); /* the task userdata */
  if (lua_type(t->co, -1) == LUA_TSTRING) {
    luaL_traceback(L, t->co, lua_tostring(t->co, -1), 0);
  } else {
    lua_xmove(t->co, L, 1);
    if (lua_type(L, -1) == LUA_TTABLE) {
      luaL_traceback(L, t->co, NULL, 0);
      lua_setfield(L, -2, "traceback");
      /* ended by its own cancellation: not a failure anyone must hear
      ** of (loop:step, the never-joined warning); join still raises it */
      lua_pushliteral(L, "kind");
      if (lua_rawget(L, -2) == LUA_TSTRING &&
          strcmp(lua_tostring(L, -1), "Cancelled") == 0)
        t->joined = 1;
      lua_pop(L, 1);
    }
  }
  lua_setiuservalue(L, -2, 2);
  lua_pop(L, 2);
#if LUA_VERSION_RELEASE_NUM >= 50406
  lua_closethread(t->co, L);
#else
  lua_resetthread(t->co);
#endif
  lua_settop(t->co, 0);
  t->nres = 0;
  task_finish(ll, t, 0);
}

static void run_ready(chc_loop *lp, chc_defer *d) {
  chc_lloop *ll = chc_container_of(d, chc_lloop, run);
  chc_list batch;
  CHC_UNUSED(lp);
  /* only the tasks ready now: those made ready meanwhile run next round */
  chc_list_init(&batch);
  if (chc_list_empty(&ll->ready)) return;
  batch.next = ll->ready.next;
  batch.prev = ll->ready.prev;
  batch.next->prev = &batch;
  batch.prev->next = &batch;
  chc_list_init(&ll->ready);
  while (!chc_list_empty(&batch)) {
    chc_task *t = chc_container_of(batch.next, chc_task, node);
    chc_list_remove(&t->node);
    task_resume(ll, t);
  }
  if (!chc_list_empty(&ll->ready)) chc_defer_queue(ll->lp, &ll->run);
}

static void on_task_timer(chc_loop *lp, chc_timer *tm) {
  chc_task *t = chc_container_of(tm, chc_task, timer);
  CHC_UNUSED(lp);
  ready_push(t->ll, t);
}

void chc_spawn(lua_State *L, int nargs) {
  chc_lloop *ll = chc_lloop_get(L);
  int fidx = lua_gettop(L) - nargs;
  chc_task *t;
  luaL_checktype(L, fidx, LUA_TFUNCTION);
  t = lua_newuserdatauv(L, sizeof *t, 2);
  memset(t, 0, sizeof *t);
  luaL_setmetatable(L, CHC_TASK_MT);
  t->co = lua_newthread(L);
  lua_setiuservalue(L, -2, 1);
  t->ll = ll;
  chc_list_init(&t->node);
  chc_waitq_init(&t->joiners);
  chc_timer_init(&t->timer, on_task_timer);
  /* [fn args... task] -> [task] with fn args moved to the thread */
  lua_insert(L, fidx);
  lua_xmove(L, t->co, nargs + 1);
  t->nargs = nargs;
  push_tasks(L);
  lua_pushvalue(L, -2);
  lua_rawsetp(L, -2, t);
  lua_pop(L, 1);
  ll->ntasks++;
  ready_push(ll, t);
}

static int l_spawn(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  chc_spawn(L, lua_gettop(L) - 1);
  return 1;
}

/* Pushes true, results... or false, err; returns the count. */
static int push_result(lua_State *L, chc_task *t, int idx) {
  if (t->ok) {
    int i, base = lua_gettop(t->co) - t->nres;
    luaL_checkstack(L, t->nres + 1, "too many results");
    lua_pushboolean(L, 1);
    /* one copy at a time: the finished thread's stack has no room for a
    ** second set of results (and each join gets them all again) */
    if (!lua_checkstack(t->co, 1)) luaL_error(L, "out of memory");
    for (i = 1; i <= t->nres; i++) {
      lua_pushvalue(t->co, base + i);
      lua_xmove(t->co, L, 1);
    }
    return 1 + t->nres;
  }
  lua_pushboolean(L, 0);
  lua_getiuservalue(L, idx, 2);
  return 2;
}

static int join_k(lua_State *L, int status, lua_KContext ctx) {
  chc_task *t = check_task(L, 1);
  CHC_UNUSED(status);
  CHC_UNUSED(ctx);
  chc_check_cancel(L, NULL, NULL);
  if (t->state == T_DONE) {
    t->joined = 1;
    return push_result(L, t, 1);
  }
  return chc_wait(L, &t->joiners, join_k, 0);
}

static int task_join(lua_State *L) {
  chc_task *t = check_task(L, 1);
  lua_settop(L, 1);
  if (chc_task_of(L) == t) { /* init.lua raises it at the caller's line */
    lua_pushnil(L);
    return 1;
  }
  return join_k(L, LUA_OK, 0);
}

/* t:cancel(): the task's pending (or next) wait raises Cancelled. */
static int task_cancel(lua_State *L) {
  chc_task *t = check_task(L, 1);
  if (t->state == T_DONE) {
    lua_pushboolean(L, 0);
    return 1;
  }
  t->cancelled = 1;
  if (t->state == T_WAITING) ready_push(t->ll, t);
  lua_pushboolean(L, 1);
  return 1;
}

static int task_status(lua_State *L) {
  static const char *const names[] = {"ready", "running", "waiting", "done"};
  chc_task *t = check_task(L, 1);
  lua_pushstring(L, t->state == T_DONE && !t->ok ? "failed" : names[t->state]);
  return 1;
}

static int task_gc(lua_State *L) {
  chc_task *t = check_task(L, 1);
  /* only reachable at lua_close for a live task: keep the loop's heap
  ** free of our memory */
  if (t->ll && t->ll->lp) chc_timer_stop(t->ll->lp, &t->timer);
  if (t->state == T_DONE && !t->ok && !t->joined) {
    lua_getiuservalue(L, 1, 2);
    fprintf(stderr, "c_http_core: a task failed and was never joined: %s\n",
            luaL_tolstring(L, -1, NULL));
  }
  return 0;
}

static int task_tostring(lua_State *L) {
  lua_pushfstring(L, "c_http_core.Task (%p)", lua_touserdata(L, 1));
  return 1;
}

/* }=================================================================== */

/* {===================================================================
** run, sleep
** ==================================================================== */

static int l_run(lua_State *L) {
  chc_lloop *ll = chc_lloop_get(L);
  chc_task *t;
  lua_Hook seen = NULL;
  luaL_checktype(L, 1, LUA_TFUNCTION);
  if (ll->current || chc_loop_running(ll->lp))
    return luaL_error(L, "http.run cannot be nested (use http.spawn inside a "
                         "task)");
  chc_spawn(L, lua_gettop(L) - 1);
  t = lua_touserdata(L, -1);
  t->is_run = 1; /* http.run raises its error: loop:step must not report it */
  while (t->state != T_DONE || ll->ntasks > 0) {
    int rc = chc_loop_step(ll->lp, -1);
    if (rc < 0) return luaL_error(L, "event loop failed: %s", step_error(rc));
    /* Ctrl-C: raised from here; the tasks stay as they are (a later
    ** http.run or loop:step goes on with them), and this one's failure,
    ** if it comes, is loop:step's to report */
    if (signal_check(L, ll, &seen) != LUA_OK) {
      t->is_run = 0;
      return lua_error(L);
    }
  }
  t->joined = 1;
  return push_result(L, t, lua_gettop(L));
}

static int sleep_k(lua_State *L, int status, lua_KContext ctx) {
  CHC_UNUSED(status);
  CHC_UNUSED(ctx);
  chc_check_cancel(L, NULL, NULL);
  return 0;
}

struct main_sleep {
  chc_timer tm;
  int fired;
};

static void on_main_sleep(chc_loop *lp, chc_timer *tm) {
  CHC_UNUSED(lp);
  chc_container_of(tm, struct main_sleep, tm)->fired = 1;
}

/* core.now(): monotonic seconds */
static int l_now(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
  return 1;
}

static int l_sleep(lua_State *L) {
  lua_Number s = luaL_checknumber(L, 1);
  chc_lloop *ll = chc_lloop_get(L);
  chc_task *t = chc_task_of(L);
  /* NaN and <= 0: no wait; out-of-range conversions are undefined, and
  ** ~285 million years is forever enough. Rounded up: never shorter. */
  uint64_t ms = !(s > 0)   ? 0
                : s > 9e15 ? (uint64_t)9e18
                           : (uint64_t)ceil(s * 1000.0);
  if (t) {
    if (!lua_isyieldable(L)) refuse_unyieldable(L); /* before the timer */
    chc_timer_start(ll->lp, &t->timer, ms);
    return chc_wait(L, NULL, sleep_k, 0);
  }
  if (chc_loop_running(ll->lp)) refuse_wait(L);
  {
    struct main_sleep m;
    chc_timer_init(&m.tm, on_main_sleep);
    m.fired = 0;
    chc_timer_start(ll->lp, &m.tm, ms);
    if (drive_until(L, ll, &m.fired)) {
      chc_timer_stop(ll->lp, &m.tm); /* it lives on this C stack */
      raise_intr(L, ll);
    }
  }
  return 0;
}

/* }=================================================================== */

/* {===================================================================
** The pollable loop (embedding)
** ==================================================================== */

static chc_lloop *check_loop(lua_State *L) {
  chc_lloop *ll = luaL_checkudata(L, 1, CHC_LOOP_MT);
  if (ll->lp == NULL) luaL_error(L, "the loop is closed");
  return ll;
}

static int l_loop(lua_State *L) {
  chc_lloop_get(L);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &LOOP_KEY);
  return 1;
}

static int loop_fd(lua_State *L) {
  lua_pushinteger(L, chc_loop_fd(check_loop(L)->lp));
  return 1;
}

static int loop_events(lua_State *L) {
  check_loop(L);
  lua_pushliteral(L, "r");
  return 1;
}

static int loop_timeout(lua_State *L) {
  int ms = chc_loop_timeout(check_loop(L)->lp);
  if (ms < 0)
    lua_pushnil(L);
  else
    lua_pushnumber(L, ms / 1000.0);
  return 1;
}

/* Removes the first element of the list at idx (the rest move down). */
static void list_shift(lua_State *L, int idx) {
  lua_Integer i, n = (lua_Integer)lua_rawlen(L, idx);
  for (i = 1; i < n; i++) {
    lua_rawgeti(L, idx, i + 1);
    lua_rawseti(L, idx, i);
  }
  lua_pushnil(L);
  lua_rawseti(L, idx, n);
}

/* loop:step([timeout]): runs ready work, waiting at most timeout seconds
** (default 0). Returns true; or nil, err when a task failed and nobody
** was joining it (one per call, oldest first; err carries a traceback);
** or nil, message when the loop itself failed. */
static int loop_step(lua_State *L) {
  chc_lloop *ll = check_loop(L);
  lua_Number to = luaL_optnumber(L, 2, 0);
  int rc;
  if (ll->current || chc_loop_running(ll->lp))
    return luaL_error(L, "cannot step the loop from inside a task or a step");
  rc = chc_loop_step(ll->lp, to != to    ? 0  /* NaN */
                            : to < 0      ? -1
                            : to >= 2e6   ? INT_MAX /* (int) would be UB */
                                          : (int)(to * 1000.0 + 0.5));
  if (rc < 0) {
    lua_pushnil(L);
    lua_pushstring(L, step_error(rc));
    return 2;
  }
  lua_settop(L, 1);
  lua_getiuservalue(L, 1, 2);
  /* a failure someone joined meanwhile (the main chunk) was raised there */
  while (lua_rawlen(L, 2) > 0 &&
         (lua_rawgeti(L, 2, 1), ((chc_task *)lua_touserdata(L, -1))->joined)) {
    lua_pop(L, 1);
    list_shift(L, 2);
  }
  lua_settop(L, 2);
  if (lua_rawlen(L, 2) > 0) {
    chc_task *t;
    lua_rawgeti(L, 2, 1); /* the task, at 3 */
    t = lua_touserdata(L, 3);
    list_shift(L, 2); /* remove it */
    t->joined = 1; /* reported: not printed at collection */
    lua_pushnil(L);
    lua_getiuservalue(L, 3, 2); /* its error */
    return 2; /* nil, err (the task at 3 is not returned) */
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int loop_alive(lua_State *L) {
  chc_lloop *ll = check_loop(L);
  lua_pushboolean(L, ll->ntasks > 0);
  return 1;
}

/* }=================================================================== */

void chc_sched_open(lua_State *L) {
  static const luaL_Reg task_m[] = {{"join", task_join},
                                    {"cancel", task_cancel},
                                    {"status", task_status},
                                    {NULL, NULL}};
  static const luaL_Reg loop_m[] = {{"fd", loop_fd},
                                    {"pollfd", loop_fd},
                                    {"events", loop_events},
                                    {"timeout", loop_timeout},
                                    {"step", loop_step},
                                    {"alive", loop_alive},
                                    {NULL, NULL}};
  static const luaL_Reg fns[] = {{"spawn", l_spawn},
                                 {"run", l_run},
                                 {"sleep", l_sleep},
                                 {"now", l_now},
                                 {"loop", l_loop},
                                 {"set_error_factory", l_set_error_factory},
                                 {NULL, NULL}};
  luaL_newmetatable(L, CHC_TASK_MT);
  luaL_newlib(L, task_m);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, task_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, task_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  luaL_newmetatable(L, CHC_LOOP_MT);
  luaL_newlib(L, loop_m);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, loop_gc);
  lua_setfield(L, -2, "__gc");
  /* getmetatable(loop).__gc(loop) would free the loop under live pools */
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 1);
  luaL_setfuncs(L, fns, 0);
  (void)luaL_loadstring(L, ""); /* for run_signal_hooks */
  lua_rawsetp(L, LUA_REGISTRYINDEX, &NOOP_KEY);
  chc_lloop_get(L); /* the loop exists before any pool: finalised last */
}

