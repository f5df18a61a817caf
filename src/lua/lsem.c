/*
** lsem.c: counting semaphores for tasks, http.semaphore(n).
**
** A semaphore holds n permits. acquire() takes one, waiting while none is
** free (a task yields; the main chunk drives the loop, as every wait
** does); release() gives one back and wakes the waiters, each of which
** checks again. A waiter that is cancelled leaves the queue (the
** scheduler's waitq does that), so no permit is ever lost to it.
*/
#include "binding.h"

#define CHC_SEM_MT "c_http_core.Semaphore"

typedef struct lsem {
  chc_lloop *ll;
  lua_Integer free, max;
  chc_waitq q;
} lsem;

static lsem *check_sem(lua_State *L) {
  return luaL_checkudata(L, 1, CHC_SEM_MT);
}

static int acquire_k(lua_State *L, int status, lua_KContext ctx) {
  lsem *m = check_sem(L);
  CHC_UNUSED(status);
  CHC_UNUSED(ctx);
  chc_check_cancel_on(L, m->ll, NULL, NULL);
  if (m->free > 0) {
    m->free--;
    return 0;
  }
  return chc_wait_on(L, m->ll, &m->q, acquire_k, 0);
}

static int sem_acquire(lua_State *L) {
  check_sem(L);
  lua_settop(L, 1);
  return acquire_k(L, LUA_OK, 0);
}

static int sem_release(lua_State *L) {
  lsem *m = check_sem(L);
  if (m->free >= m->max)
    return luaL_error(L, "semaphore released more often than acquired");
  m->free++;
  chc_waitq_wake(m->ll, &m->q);
  return 0;
}

/* sem:available() -> permits free now */
static int sem_available(lua_State *L) {
  lua_pushinteger(L, check_sem(L)->free);
  return 1;
}

static int l_semaphore(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  lsem *m;
  luaL_argcheck(L, n >= 1, 1, "a semaphore needs at least one permit");
  m = lua_newuserdatauv(L, sizeof *m, 0);
  m->ll = chc_lloop_get(L);
  m->free = m->max = n;
  chc_waitq_init(&m->q);
  luaL_setmetatable(L, CHC_SEM_MT);
  return 1;
}

void chc_lsem_open(lua_State *L) {
  static const luaL_Reg sem_m[] = {{"acquire", sem_acquire},
                                   {"release", sem_release},
                                   {"available", sem_available},
                                   {NULL, NULL}};
  luaL_newmetatable(L, CHC_SEM_MT);
  luaL_newlib(L, sem_m);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  lua_pushcfunction(L, l_semaphore);
  lua_setfield(L, -2, "semaphore");
}
