/*
** core.c: module entry points and the embedding API.
*/
#include <string.h>

#include "../chc.h"
#include "binding.h"

#ifndef CHC_VERSION /* the Makefile passes http.VERSION (mk/install.mk) */
#define CHC_VERSION "unknown"
#endif

struct chc_luasrc {
  const char *name;
  const unsigned char *src;
  size_t len;
};
extern const struct chc_luasrc chc_luasrc[]; /* build/gen/luasrc.c */

CHC_API int luaopen_c_http_core_core(lua_State *L) {
  lua_newtable(L);
  chc_sched_open(L);
  chc_lpool_open(L);
  chc_lsem_open(L);
  chc_lsse_open(L);
  chc_lws_open(L);
  chc_lmem_open(L);
  lua_pushcfunction(L, chc_trace_lcall);
  lua_setfield(L, -2, "trace_call");
  lua_pushliteral(L, CHC_VERSION);
  lua_setfield(L, -2, "VERSION");
  return 1;
}

/*
** The whole library for hosts that embed Lua: preloads the C core and the
** compiled-in Lua modules (unless the host preloaded its own), then runs
** the Lua layer's init.
*/
CHC_API int luaopen_c_http_core(lua_State *L) {
  const struct chc_luasrc *m, *init = NULL;
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  if (lua_getfield(L, -1, "c_http_core.core") == LUA_TNIL) {
    lua_pushcfunction(L, luaopen_c_http_core_core);
    lua_setfield(L, -3, "c_http_core.core");
  }
  lua_pop(L, 1);
  for (m = chc_luasrc; m->name; m++) {
    if (strcmp(m->name, "c_http_core") == 0) {
      init = m;
      continue;
    }
    if (lua_getfield(L, -1, m->name) == LUA_TNIL) {
      if (luaL_loadbuffer(L, (const char *)m->src, m->len, m->name) != LUA_OK)
        return lua_error(L);
      lua_setfield(L, -3, m->name);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  if (init == NULL) return luaL_error(L, "c_http_core: Lua layer missing");
  if (luaL_loadbuffer(L, (const char *)init->src, init->len, "=c_http_core") !=
      LUA_OK)
    return lua_error(L);
  lua_pushstring(L, "c_http_core");
  lua_call(L, 1, 1);
  return 1;
}

/*
** A host may ask for the loop before it opens the library: the loop
** userdata needs the library's metatables (its __gc frees the loop, and
** http.loop() returns the same userdata), so open the C core first.
*/
CHC_API chc_loop *chc_loop_get(lua_State *L) {
  if (luaL_getmetatable(L, CHC_LOOP_MT) == LUA_TNIL) {
    luaL_requiref(L, "c_http_core.core", luaopen_c_http_core_core, 0);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return chc_lloop_get(L)->lp;
}
