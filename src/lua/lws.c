/*
** lws.c: the WebSocket userdata (the C half of lua/c_http_core/ws.lua).
**
** One userdata per WebSocket: the connection (wsconn.h) and one wait queue
** that the connection's notify wakes (handshake over, a message, the
** peer's close, an error, room to send). Waiters recheck their own
** condition, so receivers, senders and a closer may share the queue.
** Uservalue 1 anchors the Pool userdata (the pool outlives the handshake's
** stream); uservalue 2, the trace function, when the handshake is
** traced. __gc and __close free the connection.
*/
#include <errno.h>
#include <math.h>
#include <string.h>

#include "../pool.h"
#include "../ws.h"
#include "../wsconn.h"
#include "binding.h"

#define CHC_WS_MT "c_http_core.WebSocket"
/* send waits while more than this is queued and unsent */
#define SEND_HWM (256 * 1024)
/* a message over this is sent in fragments of this size */
#define SEND_PART (1024 * 1024)
/* receive_part's default size */
#define RECV_PART (1024 * 1024)

typedef struct lws {
  chc_wsc *w;
  chc_lloop *ll;
  chc_waitq q;
  int receiving;  /* a task is in receive */
  int streaming;  /* a message is partly sent: only its sender may send */
  lua_State *stream_L; /* ... that sender's thread */
  size_t sent;    /* bytes of its current string queued so far */
  int traced;     /* uservalue 2 is the handshake's trace function */
  int64_t close_ms;
} lws;

/*
** The methods are closures over the metatable and the two kind strings
** (upvalues 1-3): checking self compares metatables without the
** registry lookup (and its strcmp) of luaL_checkudata, and a received
** message's kind is pushed without hashing a string. Continuations run
** with their function's upvalues, and find self already checked.
*/
#define UV_MT lua_upvalueindex(1)
#define UV_TEXT lua_upvalueindex(2)
#define UV_BINARY lua_upvalueindex(3)

static lws *check_ws(lua_State *L) {
  lws *u = lua_touserdata(L, 1);
  if (u != NULL && lua_getmetatable(L, 1)) {
    int same = lua_rawequal(L, -1, UV_MT);
    lua_pop(L, 1);
    if (same) return u;
  }
  return luaL_checkudata(L, 1, CHC_WS_MT); /* raises, or __gc/__close */
}

/* self in a continuation: its function checked it. */
static lws *self_ws(lua_State *L) { return lua_touserdata(L, 1); }

static void ws_notify(chc_wsc *w, void *ud) {
  lws *u = ud;
  CHC_UNUSED(w);
  chc_waitq_wake(u->ll, &u->q);
}

static void ws_drop(lws *u) {
  if (u->w) {
    if (u->ll->lp) chc_wsc_free(u->w); /* else lua_close freed the loop */
    u->w = NULL;
    chc_waitq_wake(u->ll, &u->q);
  }
}

static int ws_gc(lua_State *L) {
  ws_drop(check_ws(L));
  return 0;
}

static int closed_err(lua_State *L) {
  return chc_return_err(L, CHC_ECLOSED, "the WebSocket is closed");
}

/* nil, err[, status] for a failed connection. */
static int push_fail(lua_State *L, lws *u) {
  const chc_error *e = chc_wsc_error(u->w);
  chc_push_err(L, e ? e->code : CHC_ECLOSED, e ? e->msg : "closed");
  lua_pushnil(L);
  lua_insert(L, -2);
  if (chc_wsc_status(u->w) == 0) return 2;
  lua_pushinteger(L, chc_wsc_status(u->w));
  return 3;
}

/* {===================================================================
** Opening
** ==================================================================== */

/* The handshake's trace records, once it ended (a safe point: the
** binding's own call). */
static void deliver_trace(lua_State *L, lws *u, int i) {
  chc_trace_rec r;
  int fn;
  if (!u->traced) return;
  lua_getiuservalue(L, i, 2);
  fn = lua_gettop(L);
  while (chc_wsc_trace_next(u->w, &r)) chc_trace_call(L, fn, &r);
  lua_settop(L, fn - 1);
}

static int open_k(lua_State *L, int status, lua_KContext ctx) {
  lws *u = luaL_checkudata(L, -1, CHC_WS_MT);
  int i = lua_gettop(L);
  CHC_UNUSED(status);
  CHC_UNUSED(ctx);
  chc_check_cancel_on(L, u->ll, (void (*)(void *))ws_drop, u);
  if (u->w == NULL) return closed_err(L);
  if (chc_wsc_opened(u->w)) {
    deliver_trace(L, u, i);
    return 1;
  }
  switch (chc_wsc_state(u->w)) {
  case CHC_WSC_DONE: {
    int n;
    deliver_trace(L, u, i);
    n = push_fail(L, u);
    ws_drop(u);
    return n;
  }
  default:
    return chc_wait_on(L, u->ll, &u->q, open_k, 0);
  }
}

static int64_t opt_ms(lua_State *L, int t, const char *k, int64_t d) {
  int64_t ms = d;
  if (lua_getfield(L, t, k) != LUA_TNIL) {
    lua_Number v = lua_tonumber(L, -1);
    if (!lua_isnumber(L, -1) || !(v >= 0) || v > 1e9)
      luaL_error(L, "%s must be a non-negative number of seconds", k);
    ms = (int64_t)ceil(v * 1000.0);
  }
  lua_pop(L, 1);
  return ms;
}

/* core.websocket(pool, scheme, host, port, target, headers, timeout (as
** a request's: seconds), opts[, trace]) -> ws | nil, err,
** status.
** opts: protocols (list), compress, no_context_takeover, max_message,
** ping_interval,
** ping_timeout, close_timeout (seconds). */
static int l_websocket(lua_State *L) {
  chc_lpool *pu = luaL_checkudata(L, 1, CHC_POOL_MT);
  const char *scheme = luaL_checkstring(L, 2);
  chc_request rq;
  chc_wsc_opts o;
  chc_error e = {CHC_OK, ""};
  chc_hlist h = CHC_HLIST_INIT;
  const char *protos[32];
  lws *u;
  size_t i;
  luaL_checktype(L, 8, LUA_TTABLE);
  if (pu->p == NULL)
    return chc_return_err(L, CHC_ECLOSED, "the pool is closed");
  memset(&rq, 0, sizeof rq);
  memset(&o, 0, sizeof o);
  rq.https = strcmp(scheme, "https") == 0;
  rq.host = luaL_checkstring(L, 3);
  rq.port = (int)luaL_checkinteger(L, 4);
  rq.target = luaL_checkstring(L, 5);
  rq.to = *chc_pool_timeouts(pu->p);
  chc_opt_timeouts(L, 7, &rq.to); /* the handshake's, as for a request */
  lua_getfield(L, 8, "protocols");
  if (!lua_isnil(L, -1)) {
    o.nprotocols = (size_t)luaL_len(L, -1);
    if (o.nprotocols > 32) luaL_error(L, "at most 32 protocols");
    for (i = 0; i < o.nprotocols; i++) {
      lua_rawgeti(L, -1, (lua_Integer)i + 1);
      protos[i] = lua_tostring(L, -1);
      if (protos[i] == NULL) luaL_error(L, "protocols must be strings");
      lua_pop(L, 1); /* still anchored by the table */
    }
    o.protocols = protos;
  }
  lua_pop(L, 1);
  lua_getfield(L, 8, "compress");
  o.compress = lua_isnil(L, -1) || lua_toboolean(L, -1);
  lua_pop(L, 1);
  lua_getfield(L, 8, "no_context_takeover");
  o.no_context_takeover = lua_toboolean(L, -1);
  lua_pop(L, 1);
  lua_getfield(L, 8, "max_message");
  o.max_message = lua_isnil(L, -1) ? 0 : (size_t)lua_tointeger(L, -1);
  lua_pop(L, 1);
  o.ping_interval = opt_ms(L, 8, "ping_interval", -1);
  o.ping_timeout = opt_ms(L, 8, "ping_timeout", -1);
  if (o.ping_interval > 0 && o.ping_timeout < 0)
    o.ping_timeout = o.ping_interval;
  rq.trace = lua_type(L, 9) == LUA_TFUNCTION;
  u = lua_newuserdatauv(L, sizeof *u, rq.trace ? 2 : 1);
  memset(u, 0, sizeof *u);
  if (rq.trace) {
    lua_pushvalue(L, 9);
    lua_setiuservalue(L, -2, 2);
    u->traced = 1;
  }
  u->ll = pu->ll;
  u->close_ms = opt_ms(L, 8, "close_timeout", 5000);
  chc_waitq_init(&u->q);
  luaL_setmetatable(L, CHC_WS_MT);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  chc_collect_headers(L, 6, &h);
  rq.headers = &h;
  u->w = chc_wsc_open(pu->p, &rq, &o, ws_notify, u, &e);
  chc_hlist_free(&h);
  if (u->w == NULL) return chc_return_err(L, e.code, e.msg);
  return open_k(L, LUA_OK, 0);
}

/* }=================================================================== */

/* {===================================================================
** Receiving
** ==================================================================== */

static void recv_cleanup(void *ud) { ((lws *)ud)->receiving = 0; }

/* nil, err, code, reason: the WebSocket ended (or failed). */
static int push_end(lua_State *L, lws *u) {
  size_t n;
  const char *reason = chc_wsc_close_reason(u->w, &n);
  int code = chc_wsc_close_code(u->w);
  if (chc_wsc_error(u->w)) {
    push_fail(L, u);
    lua_settop(L, lua_gettop(L) - (chc_wsc_status(u->w) ? 1 : 0));
  } else {
    char msg[CHC_ERRMSG_MAX];
    if (code)
      snprintf(msg, sizeof msg, "the WebSocket is closed (%d%s%.*s)", code,
               n ? " " : "", (int)(n > 123 ? 123 : n), reason);
    else
      snprintf(msg, sizeof msg, "the WebSocket is closed");
    lua_pushnil(L);
    chc_push_err(L, CHC_ECLOSED, msg);
  }
  if (code == 0) return 2;
  lua_pushinteger(L, code);
  lua_pushlstring(L, reason, n);
  return 4;
}

/* ctx: 0 for receive (a whole message); for receive_part, 1: the result
** is part, kind, last (a part of the size asked, unless last) */
static int receive_k(lua_State *L, int status, lua_KContext ctx) {
  lws *u = self_ws(L);
  int kind;
  const char *p;
  size_t n;
  CHC_UNUSED(status);
  chc_check_cancel_on(L, u->ll, recv_cleanup, u);
  if (u->w == NULL) {
    u->receiving = 0;
    return closed_err(L);
  }
  if (chc_wsc_message(u->w, &kind, &p, &n)) {
    int last = !chc_wsc_message_more(u->w);
    u->receiving = 0;
    lua_pushlstring(L, p, n);
    lua_pushvalue(L, kind == CHC_WS_TEXT ? UV_TEXT : UV_BINARY);
    chc_wsc_release(u->w);
    if (!ctx) return 2;
    lua_pushboolean(L, last);
    return 3;
  }
  if (chc_wsc_state(u->w) == CHC_WSC_DONE ||
      chc_wsc_close_code(u->w) != 0) {
    u->receiving = 0;
    return push_end(L, u);
  }
  return chc_wait_on(L, u->ll, &u->q, receive_k, ctx);
}

/* [ws], part: the engine's mode for this receive (0: whole messages) */
static int receive_start(lua_State *L, lws *u, size_t part) {
  lua_settop(L, 1);
  if (u->receiving)
    return luaL_error(L, "another task is already receiving on this "
                         "WebSocket");
  u->receiving = 1;
  if (u->w != NULL) chc_wsc_set_part(u->w, part); /* (unchanged: no-op) */
  return receive_k(L, LUA_OK, part != 0);
}

static int ws_receive(lua_State *L) { return receive_start(L, check_ws(L), 0); }

/* ws:receive_part([size]): the next part of the current message */
static int ws_receive_part(lua_State *L) {
  lws *u = check_ws(L);
  lua_Integer size = luaL_optinteger(L, 2, RECV_PART);
  luaL_argcheck(L, size > 0, 2, "the part size must be positive");
  return receive_start(L, u, (size_t)size);
}

/* }=================================================================== */

/* {===================================================================
** Sending, ping, close
** ==================================================================== */

static int send_result(lua_State *L, lws *u, int r) {
  if (r == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  if (r == -EINVAL)
    return luaL_error(L, "a text message must be valid UTF-8 (send it as "
                         "\"binary\"), and a ping at most 125 bytes");
  if (r == -ENOMEM) return luaL_error(L, "out of memory");
  if (chc_wsc_error(u->w)) return push_fail(L, u);
  return closed_err(L);
}

/* A task cancelled while its message is partly sent: nothing else may
** follow on the wire, so the WebSocket goes. */
static void send_cleanup(void *ud) {
  lws *u = ud;
  if (u->streaming) {
    u->streaming = 0;
    ws_drop(u);
  }
}

/*
** [ws, data, kind]: waits while the queue is over the high-water mark (or
** another thread's message is going out in parts), then queues the data.
** Up to SEND_PART bytes it is queued at once; more goes out as fragments
** of SEND_PART, each queued when the queue is under the mark, so its
** frames are never copied whole (the string stays on this thread's stack
** until the last part). With MORE (the Lua side sends a message from an
** iterator, a call per part) the message goes on after this data, and the
** calls that follow from the same thread continue it. Frames of two
** messages never interleave. ctx: the kind, MORE, and SENDING once this
** call has queued a part with more to follow.
*/
#define SENDING 0x100
#define MORE 0x200
static int send_k(lua_State *L, int status, lua_KContext ctx) {
  lws *u = self_ws(L);
  size_t n;
  const char *p = lua_tolstring(L, 2, &n);
  int kind = (int)(ctx & 0xff), r;
  CHC_UNUSED(status);
  /* only the thread sending in parts drops the WebSocket when cancelled */
  chc_check_cancel_on(L, u->ll, u->streaming && u->stream_L == L
                                    ? send_cleanup : NULL, u);
  if (u->w == NULL) return closed_err(L);
  if (chc_wsc_state(u->w) == CHC_WSC_OPEN &&
      (chc_wsc_pending(u->w) > SEND_HWM ||
       (u->streaming && u->stream_L != L)))
    return chc_wait_on(L, u->ll, &u->q, send_k, ctx);
  if (n <= SEND_PART && !u->streaming && !(ctx & MORE))
    return send_result(L, u, chc_wsc_send(u->w, kind, p, n));
  if (!(ctx & SENDING)) {
    /* a whole message is checked before a part goes; an iterator's parts
    ** one by one (the engine's check, which keeps its state across them) */
    if (!(ctx & MORE) && !u->streaming && kind == CHC_WS_TEXT &&
        !chc_ws_utf8_valid(p, n))
      return send_result(L, u, -EINVAL);
    u->streaming = 1;
    u->stream_L = L;
    u->sent = 0;
    ctx |= SENDING;
  }
  for (;;) {
    size_t k = n - u->sent < SEND_PART ? n - u->sent : SEND_PART;
    int more = u->sent + k < n || (ctx & MORE);
    r = chc_wsc_send_part(u->w, kind, p + u->sent, k, more);
    if (r < 0 || u->sent + k == n) break;
    u->sent += k;
    if (chc_wsc_pending(u->w) > SEND_HWM)
      return chc_wait_on(L, u->ll, &u->q, send_k, ctx);
  }
  if (r == 0 && (ctx & MORE)) { /* the message goes on with the next call */
    lua_pushboolean(L, 1);
    return 1;
  }
  u->streaming = 0;
  if (r == -EINVAL) ws_drop(u); /* an unfinished message cannot be ended */
  chc_waitq_wake(u->ll, &u->q); /* other senders */
  return send_result(L, u, r);
}

/* ws:send(data [, kind [, more]]): more (for the Lua side's iterator
** sends): further parts of this message follow, in calls from this thread */
static int ws_send(lua_State *L) {
  static const char *const kinds[] = {"text", "binary", NULL};
  int kind;
  check_ws(L);
  luaL_checktype(L, 2, LUA_TSTRING);
  if (lua_isnoneornil(L, 3) || lua_rawequal(L, 3, UV_TEXT))
    kind = CHC_WS_TEXT;
  else if (lua_rawequal(L, 3, UV_BINARY))
    kind = CHC_WS_BINARY;
  else /* raises, unless a string that equals one without being it */
    kind = luaL_checkoption(L, 3, "text", kinds) == 0 ? CHC_WS_TEXT
                                                       : CHC_WS_BINARY;
  if (lua_toboolean(L, 4)) kind |= MORE;
  lua_settop(L, 2);
  return send_k(L, LUA_OK, kind);
}

static int ws_ping(lua_State *L) {
  lws *u = check_ws(L);
  size_t n;
  const char *p = luaL_optlstring(L, 2, "", &n);
  if (u->w == NULL) return closed_err(L);
  return send_result(L, u, chc_wsc_ping(u->w, p, n));
}

static int close_k(lua_State *L, int status, lua_KContext ctx) {
  lws *u = self_ws(L);
  CHC_UNUSED(status);
  CHC_UNUSED(ctx);
  chc_check_cancel_on(L, u->ll, (void (*)(void *))ws_drop, u);
  if (u->w == NULL || chc_wsc_state(u->w) == CHC_WSC_DONE) {
    lua_pushboolean(L, 1);
    return 1;
  }
  return chc_wait_on(L, u->ll, &u->q, close_k, 0);
}

/* ws:close([code [, reason]]): our close, then the peer's (at most the
** close timeout). */
static int ws_close(lua_State *L) {
  lws *u = check_ws(L);
  lua_Integer code = luaL_optinteger(L, 2, 1000);
  size_t n;
  const char *reason = luaL_optlstring(L, 3, "", &n);
  if (u->w == NULL) {
    lua_pushboolean(L, 1);
    return 1;
  }
  if (chc_wsc_close(u->w, (int)code, reason, n, u->close_ms) == -EINVAL)
    return luaL_error(L, "invalid close code %d or reason (1000-1003, "
                         "1007-1011, 3000-4999; reason UTF-8, <= 123 bytes)",
                      (int)code);
  lua_settop(L, 1);
  return close_k(L, LUA_OK, 0);
}

/* ws:info() -> protocol, extensions, version, close_code, close_reason */
static int ws_info(lua_State *L) {
  lws *u = check_ws(L);
  size_t n;
  const char *r;
  if (u->w == NULL) return 0;
  lua_pushstring(L, chc_wsc_protocol(u->w));
  lua_pushstring(L, chc_wsc_extensions(u->w));
  lua_pushstring(L, chc_wsc_version(u->w));
  if (chc_wsc_close_code(u->w) == 0) return 3;
  r = chc_wsc_close_reason(u->w, &n);
  lua_pushinteger(L, chc_wsc_close_code(u->w));
  lua_pushlstring(L, r, n);
  return 5;
}

/* }=================================================================== */

void chc_lws_open(lua_State *L) {
  static const luaL_Reg m[] = {{"send", ws_send},       {"receive", ws_receive},
                               {"receive_part", ws_receive_part},
                               {"ping", ws_ping},       {"close", ws_close},
                               {"info", ws_info},       {"drop", ws_gc},
                               {NULL, NULL}};
  luaL_newmetatable(L, CHC_WS_MT);
  luaL_newlibtable(L, m);
  lua_pushvalue(L, -2);
  lua_pushliteral(L, "text");
  lua_pushliteral(L, "binary");
  luaL_setfuncs(L, m, 3);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, ws_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, ws_gc);
  lua_setfield(L, -2, "__close");
  lua_pop(L, 1);
  lua_pushcfunction(L, l_websocket);
  lua_setfield(L, -2, "websocket");
}
