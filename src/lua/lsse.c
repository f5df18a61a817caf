/*
** lsse.c: the SSE parser userdata, the binding of src/sse.c to a Response.
**
** One parser per event stream. It is attached to a Response userdata
** (its uservalue 1 anchors it) and pulls the body through
** chc_stream_peek/chc_stream_consume: it consumes only what the parser
** took, and chc_sse_feed stops after each event, so the bytes of events
** not yet asked for stay in the transport, which then stops reading
** (backpressure: memory is one read buffer plus max_event, however far the
** server runs ahead). Events already in the buffer are handed back
** without waiting; the caller waits (a task yields, a plain script drives
** the loop) only when the parser needs bytes.
**
** A parser outlives its responses: http.sse attaches the same parser to
** each reconnection's response, so the last event ID and the server's
** retry carry over (chc_sse_reset keeps both).
*/
#include <stdint.h>
#include <string.h>

#include "../pool.h"
#include "../sse.h"
#include "binding.h"

#define CHC_SSE_MT "c_http_core.SSE"
#define LSSE_MAGIC 0x53534550u /* "SSEP": the fast type check */

typedef struct lsse {
  uint32_t magic;
  chc_sse p;
  chc_lloop *ll;
  void *r;      /* the Response userdata attached (uservalue 1), or NULL */
  int ended;    /* the attached body ended */
  int attached; /* attached once already: the next attach resets */
} lsse;

/* The fast path (size and magic) spares luaL_checkudata's registry lookup
** on every event; anything else goes through it, for its message. */
static lsse *check_sse(lua_State *L, int i) {
  lsse *u = lua_touserdata(L, i);
  if (u && lua_rawlen(L, i) == sizeof *u && u->magic == LSSE_MAGIC &&
      lua_type(L, i) == LUA_TUSERDATA)
    return u;
  return luaL_checkudata(L, i, CHC_SSE_MT);
}

/* core.sse_parser([max_event]) -> parser */
static int l_sse_parser(lua_State *L) {
  lua_Integer max = luaL_optinteger(L, 1, 0);
  chc_lloop *ll = chc_lloop_get(L);
  lsse *u;
  luaL_argcheck(L, max >= 0, 1, "max_event must be a positive integer");
  u = lua_newuserdatauv(L, sizeof *u, 1);
  memset(u, 0, sizeof *u);
  u->magic = LSSE_MAGIC;
  u->ll = ll;
  chc_sse_init(&u->p, (size_t)max);
  luaL_setmetatable(L, CHC_SSE_MT);
  return 1;
}

/* parser:attach(response): parse that response's body from now on (a new
** stream for the parser: the unfinished event of the last one is gone,
** the last event ID and retry stay). */
static int sse_attach(lua_State *L) {
  lsse *u = check_sse(L, 1);
  void *r = chc_resp_check(L, 2);
  if (u->attached) chc_sse_reset(&u->p);
  u->attached = 1;
  u->ended = 0;
  u->r = r;
  lua_settop(L, 2);
  lua_setiuservalue(L, 1, 1);
  return 0;
}

/* The error: `nil, err, from_parser` (step) or raised (iterator). A
** parser error (max_event) is not the transport's: http.sse does not
** reconnect after it, the server would send the same event again. */
static int sse_fail(lua_State *L, int raise, int code, const char *msg,
                    int from_parser) {
  if (raise) {
    chc_push_err(L, code, msg);
    return lua_error(L);
  }
  lua_pushnil(L);
  chc_push_err(L, code, msg);
  lua_pushboolean(L, from_parser);
  return 3;
}

/* The event table. The keys (and "message") are the step functions'
** upvalues, set with lua_rawset: lua_setfield and lua_pushstring would
** look each C string up in the string cache (a strcmp) per event. */
enum { UV_EVENT = 1, UV_DATA, UV_ID, UV_RETRY, UV_MESSAGE, UV_N = UV_MESSAGE };

static void push_event(lua_State *L, const chc_sse_event *ev) {
  lua_createtable(L, 0, 4);
  lua_pushvalue(L, lua_upvalueindex(UV_EVENT));
  if (ev->type_len == 7 && memcmp(ev->type, "message", 7) == 0)
    lua_pushvalue(L, lua_upvalueindex(UV_MESSAGE));
  else
    lua_pushlstring(L, ev->type, ev->type_len);
  lua_rawset(L, -3);
  lua_pushvalue(L, lua_upvalueindex(UV_DATA));
  lua_pushlstring(L, ev->data, ev->data_len);
  lua_rawset(L, -3);
  lua_pushvalue(L, lua_upvalueindex(UV_ID));
  lua_pushlstring(L, ev->id, ev->id_len);
  lua_rawset(L, -3);
  if (ev->retry >= 0) {
    lua_pushvalue(L, lua_upvalueindex(UV_RETRY));
    lua_pushinteger(L, (lua_Integer)ev->retry);
    lua_rawset(L, -3);
  }
}

/* A task cancelled while it waits for events: the response is closed, so
** its connection slot is free at once (the connection is not reused: the
** body was not read to its end). */
static void cancel_cleanup(void *ud) {
  lsse *u = ud;
  if (u->r) chc_resp_release(u->r);
}

/* The step: [parser] -> event | nil (the body ended) | error (ctx: raise
** it, or return nil, err, from_parser). */
static int next_k(lua_State *L, int status, lua_KContext ctx) {
  lsse *u = check_sse(L, 1);
  CHC_UNUSED(status);
  chc_check_cancel_on(L, u->ll, cancel_cleanup, u);
  if (u->r == NULL || u->ended) {
    lua_pushnil(L);
    return 1;
  }
  for (;;) {
    chc_waitq *q;
    chc_stream *s = chc_resp_stream(u->r, &q);
    const char *p;
    size_t n;
    int r;
    if (s == NULL)
      return sse_fail(L, (int)ctx, CHC_ECLOSED, "the response is closed", 0);
    r = chc_stream_peek(s, &p, &n);
    if (r > 0) {
      ssize_t k = chc_sse_feed(&u->p, p, n);
      if (k < 0)
        return sse_fail(L, (int)ctx, u->p.err.code, u->p.err.msg, 1);
      chc_stream_consume(s, (size_t)k);
      if (u->p.ready) {
        push_event(L, &u->p.ev);
        return 1;
      }
      continue;
    }
    if (chc_stream_error(s)) {
      const chc_error *e = chc_stream_error(s);
      return sse_fail(L, (int)ctx, e->code, e->msg, 0);
    }
    if (r < 0) { /* the end: an unfinished event is discarded */
      chc_sse_eof(&u->p);
      u->ended = 1;
      lua_pushnil(L);
      return 1;
    }
    return chc_wait_on(L, u->ll, q, next_k, ctx);
  }
}

/* parser:next() -> event | nil | nil, err, from_parser */
static int sse_next(lua_State *L) {
  lua_settop(L, 1);
  return next_k(L, LUA_OK, 0);
}

/* parser:iter(): as next, but raises the error (resp:iter()'s way: a
** failed stream never ends a for loop as if it were complete). */
static int sse_iter(lua_State *L) {
  lua_settop(L, 1);
  return next_k(L, LUA_OK, 1);
}

/* parser:feed(s, off) -> event, next_off | false, next_off | nil, err:
** parses the string s from byte off (1-based) up to the next complete
** event. For bodies that are not a core stream (the mock transport), which
** arrive as Lua strings. */
static int sse_feed(lua_State *L) {
  lsse *u = check_sse(L, 1);
  size_t n;
  const char *p = luaL_checklstring(L, 2, &n);
  lua_Integer off = luaL_optinteger(L, 3, 1);
  ssize_t k;
  luaL_argcheck(L, off >= 1 && (size_t)off <= n + 1, 3, "offset out of range");
  k = chc_sse_feed(&u->p, p + off - 1, n - (size_t)(off - 1));
  if (k < 0) return sse_fail(L, 0, u->p.err.code, u->p.err.msg, 1);
  if (u->p.ready)
    push_event(L, &u->p.ev);
  else
    lua_pushboolean(L, 0);
  lua_pushinteger(L, off + (lua_Integer)k);
  return 2;
}

/* parser:eof(): the body ended (an unfinished event is discarded). */
static int sse_eof(lua_State *L) {
  chc_sse_eof(&check_sse(L, 1)->p);
  return 0;
}

static int sse_last_id(lua_State *L) {
  size_t n;
  const char *s = chc_sse_last_id(&check_sse(L, 1)->p, &n);
  lua_pushlstring(L, s, n);
  return 1;
}

static int sse_set_last_id(lua_State *L) {
  lsse *u = check_sse(L, 1);
  size_t n;
  const char *s = luaL_checklstring(L, 2, &n);
  if (chc_sse_set_last_id(&u->p, s, n) < 0) return luaL_error(L, "out of memory");
  return 0;
}

/* parser:retry() -> the server's reconnection time in ms, or nil */
static int sse_retry(lua_State *L) {
  lsse *u = check_sse(L, 1);
  if (u->p.retry < 0) return 0;
  lua_pushinteger(L, (lua_Integer)u->p.retry);
  return 1;
}

static int sse_gc(lua_State *L) {
  lsse *u = check_sse(L, 1);
  chc_sse_free(&u->p);
  u->r = NULL;
  return 0;
}

static void push_upvalues(lua_State *L) {
  lua_pushliteral(L, "event");
  lua_pushliteral(L, "data");
  lua_pushliteral(L, "id");
  lua_pushliteral(L, "retry");
  lua_pushliteral(L, "message");
}

void chc_lsse_open(lua_State *L) {
  static const luaL_Reg m[] = {{"attach", sse_attach},
                               {"next", sse_next},
                               {"iter", sse_iter},
                               {"last_id", sse_last_id},
                               {"set_last_id", sse_set_last_id},
                               {"retry", sse_retry},
                               {"feed", sse_feed},
                               {"eof", sse_eof},
                               {NULL, NULL}};
  luaL_newmetatable(L, CHC_SSE_MT);
  lua_createtable(L, 0, 6);
  push_upvalues(L);
  luaL_setfuncs(L, m, UV_N); /* every method gets them: only two need them */
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, sse_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  lua_pushcfunction(L, l_sse_parser);
  lua_setfield(L, -2, "sse_parser");
  push_upvalues(L);
  lua_pushcclosure(L, sse_next, UV_N);
  lua_setfield(L, -2, "sse_next");
  push_upvalues(L);
  lua_pushcclosure(L, sse_iter, UV_N);
  lua_setfield(L, -2, "sse_iter");
}
