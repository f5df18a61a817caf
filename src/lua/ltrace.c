/*
** ltrace.c: delivering trace records (src/trace.h) to a request's trace
** function. The core only queues records; they reach Lua here, from the
** binding's own calls on the Response (the wait for the head, reads,
** close): points where the task runs Lua anyway, never from an engine
** callback or a __gc (G9). The function is called protected and must not
** wait (it runs inside a C call): an error it raises is reported as a
** Lua warning ("c_http_core: trace function failed: ...") and the
** request goes on unharmed.
*/
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../pool.h"
#include "binding.h"

static void set_str(lua_State *L, const char *k, const char *v) {
  if (v[0] == 0) return;
  lua_pushstring(L, v);
  lua_setfield(L, -2, k);
}

static void set_int(lua_State *L, const char *k, long long v) {
  if (v < 0) return;
  lua_pushinteger(L, (lua_Integer)v);
  lua_setfield(L, -2, k);
}

/* Calls the function under its two arguments at the top, protected: an
** error becomes a Lua warning. */
static void pcall_warn(lua_State *L) {
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    const char *m = lua_tostring(L, -1);
    lua_warning(L, "c_http_core: trace function failed: ", 1);
    lua_warning(L, m ? m : "(error object)", 0);
    lua_pop(L, 1);
  }
}

/* Calls the function at fn (an absolute index) with (event, info). */
static void call(lua_State *L, int fn, const chc_trace_rec *r) {
  static const char *const WHAT[] = {"started", "complete", "failed"};
  lua_pushvalue(L, fn);
  lua_pushfstring(L, "%s.%s", chc_trace_phase(r->phase), WHAT[r->what]);
  lua_createtable(L, 0, 4);
  lua_pushnumber(L, r->t);
  lua_setfield(L, -2, "t");
  if (r->phase == CHC_TR_SEND_HEADERS && r->what == CHC_TR_STARTED) {
    lua_pushboolean(L, r->reused);
    lua_setfield(L, -2, "reused");
  }
  set_str(L, r->phase == CHC_TR_CONNECT ? "address" : "peer", r->addr);
  set_int(L, "port", r->port);
  set_int(L, "status", r->status);
  set_int(L, "bytes", r->bytes);
  set_str(L, "alpn", r->alpn);
  set_str(L, "tls_version", r->tls_version);
  set_str(L, "cipher", r->cipher);
  if (r->what == CHC_TR_FAILED) {
    chc_push_err(L, r->ecode, r->emsg);
    lua_setfield(L, -2, "error");
  }
  pcall_warn(L);
}

void chc_trace_call(lua_State *L, int fn, const chc_trace_rec *r) {
  call(L, lua_absindex(L, fn), r);
}

/* core.trace_call(fn, event, info): the Lua layer's events (WebSocket,
** SSE), called as the core's are. */
int chc_trace_lcall(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_settop(L, 3);
  pcall_warn(L);
  return 0;
}

void chc_trace_deliver(lua_State *L, int resp, chc_stream *s) {
  chc_trace_rec r;
  int fn;
  if (s == NULL) return;
  resp = lua_absindex(L, resp);
  lua_getiuservalue(L, resp, 4);
  fn = lua_gettop(L);
  while (chc_stream_trace_next(s, &r))
    if (lua_isfunction(L, fn)) call(L, fn, &r);
  lua_settop(L, fn - 1);
}

void chc_trace_event(lua_State *L, int resp, int phase, int what) {
  chc_trace_rec r;
  struct timespec ts;
  resp = lua_absindex(L, resp);
  memset(&r, 0, sizeof r);
  clock_gettime(CLOCK_MONOTONIC, &ts);
  r.t = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
  r.phase = phase;
  r.what = what;
  r.port = r.status = -1;
  r.bytes = -1;
  if (lua_getiuservalue(L, resp, 4) == LUA_TFUNCTION)
    call(L, lua_gettop(L), &r);
  lua_pop(L, 1);
}
