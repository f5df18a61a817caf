/* bench/lua_host.c: a minimal lua5.4 for bench/profile.sh, linked with
** liblua5.4.a so that callgrind names the interpreter's own functions
** (Debian's lua5.4 binary is stripped). Runs a script with arg set and
** the generational collector lua.c switches on, so that the counts match
** lua5.4's. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>

int main(int argc, char **argv) {
  lua_State *L = luaL_newstate();
  int i;
  if (L == NULL || argc < 2) return 2;
  lua_gc(L, LUA_GCGEN, 0, 0); /* as lua.c does: the same collector work */
  luaL_openlibs(L);
  lua_createtable(L, argc, 1);
  for (i = 1; i < argc; i++) { /* arg[0] = the script, as lua5.4 does */
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - 1);
  }
  lua_setglobal(L, "arg");
  if (luaL_dofile(L, argv[1]) != LUA_OK) {
    fprintf(stderr, "%s\n", lua_tostring(L, -1));
    lua_close(L);
    return 1;
  }
  lua_close(L);
  return 0;
}
