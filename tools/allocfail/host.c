/*
** host.c: the Lua host of the allocation-failure runs (`make allocfail`,
** spec/allocfail_spec.lua).
**
**   af_host SCRIPT [ARG...]
**
** It is linked with the allocfail build of the library (every allocation
** of our C code, nghttp2's and zlib's counted by src/allocfail.c) and
** creates its Lua state with the same counter as allocator
** (chc_af_lua_alloc), so one count numbers every allocation the binding,
** the core and Lua make. The script gets a global `allocfail` table:
**   allocfail.arm(n [, k])        fail allocations n..n+k-1 from now
**                                 (k defaults to 1; 0: all from n on);
**                                 arm(0) counts without failing
**   allocfail.count()             allocations since the last arm
**   allocfail.failed()            allocations failed since the last arm
** It runs SCRIPT with the ARGs as `...`; the exit status is 0 when the
** script returns true, 1 when it returns anything else or raises, 2 on
** usage errors, 3 when it runs longer than CHC_AF_TIMEOUT seconds (default
** 300): a hang. The state is closed before exit, so that ASan's leak check
** sees what the library failed to free.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "allocfail.h"
#include "chc.h"

static int l_arm(lua_State *L) {
  long n = (long)luaL_checkinteger(L, 1);
  chc_af_arm(n, (long)luaL_optinteger(L, 2, 1));
  return 0;
}

static int l_count(lua_State *L) {
  lua_pushinteger(L, chc_af_count());
  return 1;
}

static int l_failed(lua_State *L) {
  lua_pushinteger(L, chc_af_failed());
  return 1;
}

static int msgh(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) msg = luaL_tolstring(L, 1, NULL);
  luaL_traceback(L, L, msg, 1);
  return 1;
}

static void on_alarm(int sig) {
  static const char m[] = "af_host: TIMEOUT (a hang)\n";
  (void)sig;
  if (write(2, m, sizeof m - 1) < 0) _exit(3);
  _exit(3);
}

int main(int argc, char **argv) {
  static const luaL_Reg fns[] = {
      {"arm", l_arm}, {"count", l_count}, {"failed", l_failed}, {NULL, NULL}};
  const char *to = getenv("CHC_AF_TIMEOUT");
  lua_State *L;
  int i, rc;
  if (argc < 2) {
    fprintf(stderr, "usage: %s SCRIPT [ARG...]\n", argv[0]);
    return 2;
  }
  signal(SIGALRM, on_alarm);
  alarm(to && *to ? (unsigned)atoi(to) : 300);
  chc_af_arm(0, 0);
  L = lua_newstate(chc_af_lua_alloc, NULL);
  if (L == NULL) {
    fputs("af_host: cannot create a Lua state\n", stderr);
    return 1;
  }
  luaL_openlibs(L);
  luaL_requiref(L, "c_http_core", luaopen_c_http_core, 0);
  lua_pop(L, 1);
  luaL_newlib(L, fns);
  lua_setglobal(L, "allocfail");
  lua_pushcfunction(L, msgh);
  if (luaL_loadfile(L, argv[1]) != LUA_OK) {
    fprintf(stderr, "af_host: %s\n", lua_tostring(L, -1));
    lua_close(L);
    return 1;
  }
  for (i = 2; i < argc; i++) lua_pushstring(L, argv[i]);
  if (lua_pcall(L, argc - 2, 1, 1) != LUA_OK) {
    fprintf(stderr, "af_host: script failed: %s\n", lua_tostring(L, -1));
    rc = 1;
  } else {
    rc = lua_toboolean(L, -1) ? 0 : 1;
  }
  chc_af_arm(0, 0);
  lua_close(L);
  return rc;
}
