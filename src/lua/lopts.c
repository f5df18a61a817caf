/*
** lopts.c: option tables from Lua read into the core's option structs
** (timeouts, tls, integers and booleans), shared by the Pool constructor,
** pool:request, WebSocket and proxy options. Misuse raises at the caller.
*/
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "binding.h"

/* Reads a timeout table's field: absent -> keep *ms; false -> none;
** number -> ms. */
static void opt_timeout_field(lua_State *L, int t, const char *k,
                              int64_t *ms) {
  int ty = lua_getfield(L, t, k);
  if (ty == LUA_TNUMBER) {
    lua_Number v = lua_tonumber(L, -1);
    if (!(v >= 0) || v > 1e9)
      luaL_error(L, "timeout.%s must be a non-negative number of seconds", k);
    *ms = (int64_t)ceil(v * 1000.0);
  } else if (ty == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
    *ms = -1;
  } else if (ty != LUA_TNIL) {
    luaL_error(L, "timeout.%s must be a number or false", k);
  }
  lua_pop(L, 1);
}

void chc_opt_timeouts(lua_State *L, int idx, chc_timeouts *to) {
  if (lua_isnoneornil(L, idx)) return;
  if (lua_type(L, idx) == LUA_TNUMBER) {
    lua_Number v = lua_tonumber(L, idx);
    int64_t ms;
    if (!(v >= 0) || v > 1e9)
      luaL_error(L, "timeout must be a number of seconds from 0 to 1e9");
    ms = (int64_t)ceil(v * 1000.0);
    to->connect = to->read = to->write = to->pool = ms;
    return;
  }
  luaL_checktype(L, idx, LUA_TTABLE);
  idx = lua_absindex(L, idx);
  opt_timeout_field(L, idx, "connect", &to->connect);
  opt_timeout_field(L, idx, "read", &to->read);
  opt_timeout_field(L, idx, "write", &to->write);
  opt_timeout_field(L, idx, "pool", &to->pool);
  opt_timeout_field(L, idx, "total", &to->total);
}

lua_Integer chc_opt_int(lua_State *L, int t, const char *k, lua_Integer d,
                        lua_Integer min) {
  lua_Integer v = d;
  int isnum;
  if (lua_getfield(L, t, k) != LUA_TNIL) {
    v = lua_tointegerx(L, -1, &isnum);
    if (!isnum || v < min)
      luaL_error(L, "%s must be an integer >= %d", k, (int)min);
  }
  lua_pop(L, 1);
  return v;
}

int chc_opt_bool(lua_State *L, int t, const char *k, int d) {
  int v = d;
  if (lua_getfield(L, t, k) != LUA_TNIL) v = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

/* A string field of a tls table, or NULL; the table keeps it alive. */
static const char *opt_tls_str(lua_State *L, int t, const char *k) {
  const char *v = NULL;
  if (lua_getfield(L, t, k) != LUA_TNIL) {
    if (lua_type(L, -1) != LUA_TSTRING)
      luaL_error(L, "tls.%s must be a string", k);
    v = lua_tostring(L, -1);
  }
  lua_pop(L, 1);
  return v;
}

void chc_opt_tls(lua_State *L, int t, chc_tls_opts *to) {
  const char *mv;
  if (lua_isnoneornil(L, t)) return;
  luaL_checktype(L, t, LUA_TTABLE);
  t = lua_absindex(L, t);
  to->verify = chc_opt_bool(L, t, "verify", 1);
  to->ca_file = opt_tls_str(L, t, "ca_file");
  to->ca_path = opt_tls_str(L, t, "ca_path");
  to->cert_file = opt_tls_str(L, t, "cert_file");
  to->key_file = opt_tls_str(L, t, "key_file");
  to->server_name = opt_tls_str(L, t, "server_name");
  to->ciphers = opt_tls_str(L, t, "ciphers"); /* names joined by ':' */
  mv = opt_tls_str(L, t, "min_version");
  if (mv && strcmp(mv, "1.3") == 0)
    to->min_version = 3; /* refused by chc_tls_conf_new, with the reason */
  else if (mv && strcmp(mv, "1.2") != 0)
    luaL_error(L, "tls.min_version must be \"1.2\" or \"1.3\"");
}
