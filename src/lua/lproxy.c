/*
** lproxy.c: a Pool's `proxy` option, as the Lua layer shaped it
** (lua/c_http_core/proxy.lua checked it: nothing here raises), into a
** chc_proxy (src/proxy.h) the pool takes over.
*/
#include <string.h>

#include "../proxy.h"
#include "binding.h"

/* A string field of table t, or NULL; the table keeps it alive. */
static const char *field_str(lua_State *L, int t, const char *k) {
  const char *v = NULL;
  if (lua_getfield(L, t, k) == LUA_TSTRING) v = lua_tostring(L, -1);
  lua_pop(L, 1);
  return v;
}

static const char *const KINDS[] = {"http", "https", "socks5", "socks5h",
                                    NULL};

chc_proxy *chc_lproxy_new(lua_State *L, int t, chc_lloop *ll, chc_error *e) {
  const char *kind = field_str(L, t, "kind"), *host = field_str(L, t, "host");
  chc_tls_conf *tls = NULL;
  chc_hlist h;
  chc_proxy *px;
  int i, k = 0;
  lua_Integer n;
  for (i = 0; kind && KINDS[i]; i++)
    if (strcmp(kind, KINDS[i]) == 0) k = CHC_PROXY_HTTP + i;
  lua_getfield(L, t, "port");
  n = lua_tointeger(L, -1);
  lua_pop(L, 1);
  if (k == 0 || host == NULL || n < 1 || n > 65535) {
    chc_seterr(e, CHC_ELOCAL_PROTO, "proxy: bad kind, host or port");
    return NULL;
  }
  if (k == CHC_PROXY_HTTPS) { /* TLS to the proxy: its own settings */
    chc_tls_opts to;
    chc_tls_opts_default(&to);
    to.alpn_h1 = 1;
    to.alpn_h2 = 0;
    if (lua_getfield(L, t, "tls") == LUA_TTABLE) /* the Pool's tls keys */
      chc_opt_tls(L, -1, &to); /* its strings stay in the table */
    tls = chc_tls_conf_new(ll->lp, &to, e);
    lua_pop(L, 1);
    if (tls == NULL) return NULL;
  }
  memset(&h, 0, sizeof h);
  if (lua_getfield(L, t, "headers") == LUA_TTABLE) {
    lua_Integer j, m = (lua_Integer)lua_rawlen(L, -1);
    for (j = 1; j <= m; j++) {
      size_t nl = 0, vl = 0;
      const char *nm, *v;
      lua_rawgeti(L, -1, j);
      lua_rawgeti(L, -1, 1);
      lua_rawgeti(L, -2, 2);
      nm = lua_tolstring(L, -2, &nl);
      v = lua_tolstring(L, -1, &vl);
      if (nm && v && chc_hlist_add(&h, nm, nl, v, vl) < 0) {
        chc_seterr(e, CHC_ELOCAL_PROTO, "out of memory");
        lua_pop(L, 4);
        chc_hlist_free(&h);
        chc_tls_conf_free(tls);
        return NULL;
      }
      lua_pop(L, 3);
    }
  }
  lua_pop(L, 1);
  px = chc_proxy_new(k, host, (int)n, field_str(L, t, "user"),
                     field_str(L, t, "pass"), &h, tls, e);
  chc_hlist_free(&h);
  return px;
}
