/*
** chc.h: the embedding contract of c_http_core.
**
** A host program that embeds Lua opens the library with
**   luaL_requiref(L, "c_http_core", luaopen_c_http_core, 0);
** (the Lua layer is compiled into the library, no LUA_PATH needed), then
** puts chc_loop_fd(chc_loop_get(L)) into its own poll set and calls
** chc_loop_step(lp, 0) whenever that fd is readable, or when
** chc_loop_timeout(lp) milliseconds have passed. The library never takes
** the host's main thread: tasks run only inside chc_loop_step.
*/
#ifndef CHC_H
#define CHC_H

#include <lua.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct chc_loop chc_loop;

/* The full module (Lua layer included) and the C core module alone. */
int luaopen_c_http_core(lua_State *L);
int luaopen_c_http_core_core(lua_State *L);

/* The loop of this lua_State (created on first use; opens the C core into
** L first if the library was not opened yet). Raises a Lua error if the
** loop cannot be created. */
chc_loop *chc_loop_get(lua_State *L);
/* An fd that is readable whenever chc_loop_step has work to do. */
int chc_loop_fd(const chc_loop *lp);
/* Milliseconds until chc_loop_step has work: 0 = now, -1 = no timer. */
int chc_loop_timeout(const chc_loop *lp);
/* Runs ready work, waiting at most timeout_ms (0: don't wait; -1: until
** something happens). Returns 0, or -errno. Not re-entrant: calling it
** from inside a task or a step returns -EBUSY. */
int chc_loop_step(chc_loop *lp, int timeout_ms);

#ifdef __cplusplus
}
#endif

#endif
