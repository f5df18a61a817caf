/*
** lmem.c: the binding of slab.c's per-loop memory policy: core.mem_trim
** (http.config's trim_memory) and core.mem_stats (for specs and the
** bench).
*/
#include "binding.h"
#include "slab.h"

/* core.mem_trim([on]): sets the trim policy of this state's loop when on
** is given; returns whether it is on. */
static int l_mem_trim(lua_State *L) {
  chc_lloop *ll = chc_lloop_get(L);
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TBOOLEAN);
    chc_mem_set_trim(ll->lp, lua_toboolean(L, 1));
  }
  lua_pushboolean(L, chc_mem_get_trim(ll->lp));
  return 1;
}

/* core.mem_stats(): { trims = n } (trims done on this loop). */
static int l_mem_stats(lua_State *L) {
  chc_lloop *ll = chc_lloop_get(L);
  lua_createtable(L, 0, 1);
  lua_pushinteger(L, (lua_Integer)chc_mem_trims(ll->lp));
  lua_setfield(L, -2, "trims");
  return 1;
}

void chc_lmem_open(lua_State *L) {
  static const luaL_Reg fns[] = {{"mem_trim", l_mem_trim},
                                 {"mem_stats", l_mem_stats},
                                 {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
