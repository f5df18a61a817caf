/*
** lpool.c: Pool and Response userdata, and request-body producers.
**
** A Response userdata is one pointer to the core stream plus a wait queue.
** Its uservalues anchor what the stream borrows: 1 = the request body
** (string, or the producer function), 2 = the Pool userdata (the pool must
** outlive its streams), 3 = the on_progress function, 4 = the trace
** function (each only when given). :close(), __close and __gc share
** resp_close (B5).
*/
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../buf.h"
#include "../h1.h"
#include "../pool.h"
#include "binding.h"

#define LRESP_MAGIC 0x52657370u /* "Resp": the fast type check */

typedef struct lresp {
  uint32_t magic;
  chc_stream *s;
  chc_lloop *ll;
  chc_waitq q;     /* requester, readers and the producer wait here */
  chc_hlist hdrs;  /* the head's fields, taken over when the stream goes */
  int closed;
  int traced;      /* a trace function is uservalue 4 */
  unsigned burst;  /* producer chunks since it last let others run */
  int progress;    /* an on_progress function is uservalue 3 */
  int producer;    /* a producer task sends the body (it holds the resp) */
  int ended;       /* the body was read to its end and the stream given
                   ** back early (resp_ended): reads find the end */
  unsigned long long reported; /* body bytes on_progress was last told */
} lresp;

/* Trace records reach Lua only from these calls on the Response (at i). */
#define DELIVER(L, i, u) \
  do {                   \
    if ((u)->traced) chc_trace_deliver(L, i, (u)->s); \
  } while (0)

/* {===================================================================
** Pool
** ==================================================================== */

static chc_lpool *check_lpool(lua_State *L, int i) {
  chc_lpool *u = lua_touserdata(L, i);
  if (u && lua_rawlen(L, i) == sizeof *u && u->magic == CHC_LPOOL_MAGIC &&
      lua_type(L, i) == LUA_TUSERDATA)
    return u;
  return luaL_checkudata(L, i, CHC_POOL_MT);
}

/* core.Pool(opts) */
static int l_pool_new(lua_State *L) {
  chc_lloop *ll = chc_lloop_get(L);
  chc_pool_opts o;
  chc_lpool *u;
  const char *uds = NULL;
  chc_tls_opts to;
  chc_error e = {CHC_OK, ""};
  chc_pool_opts_default(&o);
  chc_tls_opts_default(&to);
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TTABLE);
    o.max_connections = (int)chc_opt_int(L, 1, "max_connections", 100, 1);
    o.max_keepalive = (int)chc_opt_int(L, 1, "max_keepalive", 20, 0);
    o.retries = (int)chc_opt_int(L, 1, "retries", 0, 0);
    o.max_header_size = (size_t)chc_opt_int(L, 1, "max_header_size", 65536, 256);
    o.http1 = chc_opt_bool(L, 1, "http1", 1);
    o.http2 = chc_opt_bool(L, 1, "http2", 0);
    if (lua_getfield(L, 1, "keepalive_expiry") != LUA_TNIL) {
      lua_Number v = lua_tonumber(L, -1);
      if (!lua_isnumber(L, -1) || !(v >= 0) || v > 1e9)
        luaL_error(L, "keepalive_expiry must be a number of seconds from 0 "
                   "to 1e9");
      o.keepalive_expiry = (int64_t)ceil(v * 1000.0);
    }
    lua_pop(L, 1);
    /* options.lua checked it: seconds, or false for never */
    if (lua_getfield(L, 1, "h2_ping_after") == LUA_TNUMBER)
      o.h2_ping_after = (int64_t)ceil(lua_tonumber(L, -1) * 1000.0);
    else if (lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1))
      o.h2_ping_after = -1;
    lua_pop(L, 1);
    lua_getfield(L, 1, "timeout");
    chc_opt_timeouts(L, -1, &o.to);
    lua_pop(L, 1);
    if (lua_getfield(L, 1, "uds") != LUA_TNIL) {
      size_t n;
      if (!lua_isstring(L, -1)) luaL_error(L, "uds must be a path string");
      uds = lua_tolstring(L, -1, &n);
      if (strlen(uds) != n) luaL_error(L, "uds must not contain a NUL byte");
    }
    o.uds = uds; /* copied by chc_pool_new; the string stays on the stack */
    lua_getfield(L, 1, "tls");
    chc_opt_tls(L, -1, &to); /* its strings live on in opts.tls */
    lua_pop(L, 1);
  }
  u = lua_newuserdatauv(L, sizeof *u, 0);
  memset(u, 0, sizeof *u);
  u->magic = CHC_LPOOL_MAGIC;
  chc_list_init(&u->node);
  luaL_setmetatable(L, CHC_POOL_MT);
  u->ll = ll;
  /* ALPN offers what the pool allows, h2 first */
  to.alpn_h1 = o.http1;
  to.alpn_h2 = o.http2;
  /* certificates and keys are read now: a file that cannot be used is
  ** configuration misuse and raises here, not at every request */
  o.tls = chc_tls_conf_new(ll->lp, &to, &e);
  if (o.tls == NULL) { /* no position: the Lua layer raises at its caller */
    lua_pushstring(L, e.msg);
    return lua_error(L);
  }
  if (!lua_isnoneornil(L, 1)) {
    if (lua_getfield(L, 1, "proxy") != LUA_TNIL) {
      o.proxy = chc_lproxy_new(L, lua_gettop(L), ll, &e); /* lproxy.c */
      if (o.proxy == NULL) {
        chc_tls_conf_free(o.tls);
        lua_pushstring(L, e.msg);
        return lua_error(L);
      }
    }
    lua_pop(L, 1);
  }
  u->p = chc_pool_new(ll->lp, &o);
  if (u->p == NULL) return luaL_error(L, "out of memory creating a pool");
  chc_list_insert_tail(&ll->pools, &u->node);
  return 1;
}

static int pool_close(lua_State *L) {
  chc_lpool *u = check_lpool(L, 1);
  if (u->p) {
    chc_pool_free(u->p); /* streams still open fail with Closed */
    u->p = NULL;
    chc_list_remove(&u->node);
  }
  return 0;
}

static int pool_stats(lua_State *L) {
  chc_lpool *u = check_lpool(L, 1);
  chc_pool_stats st = {0, 0, 0, 0, 0};
  if (u->p) chc_pool_stats_get(u->p, &st);
  lua_createtable(L, 0, 5);
  lua_pushinteger(L, st.connections);
  lua_setfield(L, -2, "connections");
  lua_pushinteger(L, st.idle);
  lua_setfield(L, -2, "idle");
  lua_pushinteger(L, st.active);
  lua_setfield(L, -2, "active");
  lua_pushinteger(L, st.waiting);
  lua_setfield(L, -2, "waiting");
  lua_pushinteger(L, st.origins);
  lua_setfield(L, -2, "origins");
  return 1;
}

/* }=================================================================== */

/* {===================================================================
** Response
** ==================================================================== */

/* A Response userdata at i. The fast path (size and magic) spares the
** registry lookup of luaL_checkudata on every call; anything else goes
** through it, for its error message. */
static lresp *check_resp(lua_State *L, int i) {
  lresp *u = lua_touserdata(L, i);
  if (u && lua_rawlen(L, i) == sizeof *u && u->magic == LRESP_MAGIC &&
      lua_type(L, i) == LUA_TUSERDATA)
    return u;
  return luaL_checkudata(L, i, CHC_RESP_MT);
}

static void resp_notify(chc_stream *s, void *ud) {
  lresp *u = ud;
  CHC_UNUSED(s);
  chc_waitq_wake(u->ll, &u->q);
}

static void resp_release(void *ud) {
  lresp *u = ud;
  if (u->s) {
    if (chc_stream_has_head(u->s)) {
      /* keep the fields; the stream gets an empty list with memory */
      if (u->hdrs.f == NULL && u->ll->nhlc > 0)
        u->hdrs = u->ll->hlc[--u->ll->nhlc];
      chc_stream_take_headers(u->s, &u->hdrs);
    }
    chc_stream_release(u->s);
    u->s = NULL;
    /* the release never notifies: wake whoever waits on this response
    ** (its producer, other readers) so that they see it is closed */
    chc_waitq_wake(u->ll, &u->q);
  }
  u->closed = 1;
}

/*
** The body was read to its end: give the stream back now rather than when
** the collector finds the Response, so that the pool reuses it (and its
** buffers) for the next request: in a loop of requests the collector frees
** Responses in bursts, far more than the pool's cache of streams keeps.
** The head's fields stay (resp_release takes them). Not when something may
** still need the stream: trace records to deliver, trailers, a producer or
** an on_progress function; those go at close or collection as before.
*/
static void resp_ended(lresp *u) {
  if (u->traced || u->progress || u->producer ||
      chc_stream_trailers(u->s) != NULL)
    return;
  resp_release(u);
  u->ended = 1;
}

static int resp_close(lua_State *L) {
  lresp *u = check_resp(L, 1);
  if (u->traced && u->s) { /* an explicit close: Lua may run here */
    chc_trace_deliver(L, 1, u->s);
    chc_trace_event(L, 1, CHC_TR_CLOSED, CHC_TR_STARTED);
    resp_release(u);
    chc_trace_event(L, 1, CHC_TR_CLOSED, CHC_TR_COMPLETE);
    return 0;
  }
  resp_release(u);
  return 0;
}

static int resp_gc(lua_State *L) {
  lresp *u = check_resp(L, 1);
  resp_release(u);
  if (u->hdrs.f && u->ll->lp && u->ll->nhlc < 16) { /* memory reused */
    chc_hlist_reset(&u->hdrs);
    u->ll->hlc[u->ll->nhlc++] = u->hdrs;
    memset(&u->hdrs, 0, sizeof u->hdrs);
  }
  chc_hlist_free(&u->hdrs);
  return 0;
}

static int push_stream_err(lua_State *L, lresp *u) {
  const chc_error *e = chc_stream_error(u->s);
  return chc_return_err(L, e->code, e->msg);
}

static int closed_err(lua_State *L) {
  return chc_return_err(L, CHC_ECLOSED, "the response is closed");
}

/* resp:chunk() -> string | nil (end) | nil, err */
static int chunk_k(lua_State *L, int status, lua_KContext ctx) {
  lresp *u = check_resp(L, 1);
  const char *p;
  size_t n;
  int r;
  CHC_UNUSED(status);
  CHC_UNUSED(ctx);
  chc_check_cancel_on(L, u->ll, NULL, NULL);
  if (u->s == NULL) {
    if (!u->ended) return closed_err(L);
    lua_pushnil(L);
    return 1;
  }
  r = chc_stream_peek(u->s, &p, &n);
  DELIVER(L, 1, u);
  if (r > 0) {
    lua_pushlstring(L, p, n);
    chc_stream_consume(u->s, n);
    return 1;
  }
  if (chc_stream_error(u->s)) return push_stream_err(L, u);
  if (r < 0) {
    resp_ended(u);
    lua_pushnil(L);
    return 1;
  }
  return chc_wait_on(L, u->ll, &u->q, chunk_k, 0);
}

static int resp_chunk(lua_State *L) {
  lua_settop(L, 1);
  return chunk_k(L, LUA_OK, 0);
}

/* resp:read() -> whole (rest of the) body. The first chunk sits at stack
** index 2; more chunks gather in a table at index 3 (both survive yields)
** and are concatenated at the end. A body that arrives in one piece (most
** small responses) costs no table. */
static int read_k(lua_State *L, int status, lua_KContext ctx) {
  lresp *u = check_resp(L, 1);
  CHC_UNUSED(status);
  CHC_UNUSED(ctx);
  chc_check_cancel_on(L, u->ll, NULL, NULL);
  for (;;) {
    const char *p;
    size_t n;
    int r;
    if (u->s == NULL) {
      if (!u->ended) return closed_err(L);
      lua_pushliteral(L, ""); /* read again after the end */
      return 1;
    }
    r = chc_stream_peek(u->s, &p, &n);
    if (r > 0) {
      lua_pushlstring(L, p, n);
      chc_stream_consume(u->s, n);
      if (lua_isnil(L, 2)) {
        lua_replace(L, 2);
      } else {
        if (lua_isnil(L, 3)) {
          lua_newtable(L);
          lua_pushvalue(L, 2);
          lua_rawseti(L, -2, 1);
          lua_replace(L, 3);
        }
        lua_rawseti(L, 3, (lua_Integer)lua_rawlen(L, 3) + 1);
      }
      continue;
    }
    DELIVER(L, 1, u);
    if (chc_stream_error(u->s)) return push_stream_err(L, u);
    if (r < 0) {
      lua_Integer k, i;
      luaL_Buffer b;
      resp_ended(u);
      if (lua_isnil(L, 3)) { /* zero or one piece */
        if (lua_isnil(L, 2)) lua_pushliteral(L, "");
        else lua_pushvalue(L, 2);
        return 1;
      }
      k = (lua_Integer)lua_rawlen(L, 3);
      luaL_buffinit(L, &b);
      for (i = 1; i <= k; i++) {
        lua_rawgeti(L, 3, i);
        luaL_addvalue(&b);
      }
      luaL_pushresult(&b);
      return 1;
    }
    return chc_wait_on(L, u->ll, &u->q, read_k, 0);
  }
}

static int resp_read(lua_State *L) {
  lua_settop(L, 1);
  check_resp(L, 1);
  lua_pushnil(L);
  lua_pushnil(L);
  return read_k(L, LUA_OK, 0);
}

/* nil, err with err.bytes_written (resp:write_to's failures) */
static int write_err(lua_State *L, int code, const char *msg,
                     lua_Integer done) {
  chc_return_err(L, code, msg);
  if (lua_istable(L, -1)) {
    lua_pushinteger(L, done);
    lua_setfield(L, -2, "bytes_written");
  }
  return 2;
}

/* Writes all of p[0..n) to fd: 0, or -1 with errno. */
static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/*
** resp:write_to(file) -> bytes | nil, err (err.bytes_written). [resp,
** file, count]. The body goes from the stream's buffer to the file's
** descriptor, a region at a time: no Lua string is made, and nothing is
** consumed (so the socket is not read further) until the disk took it.
** The FILE's own buffer was flushed first, and its position is brought
** up to date at the end, so Lua's writes before and after stay in order.
*/
static int write_to_k(lua_State *L, int status, lua_KContext ctx) {
  lresp *u = check_resp(L, 1);
  luaL_Stream *fs = luaL_checkudata(L, 2, LUA_FILEHANDLE);
  lua_Integer done = lua_tointeger(L, 3);
  int fd = fileno(fs->f);
  CHC_UNUSED(status);
  CHC_UNUSED(ctx);
  chc_check_cancel_on(L, u->ll, NULL, NULL);
  for (;;) {
    const char *p;
    size_t n;
    int r;
    if (u->s == NULL) {
      if (!u->ended)
        return write_err(L, CHC_ECLOSED, "the response is closed", done);
      lua_pushinteger(L, done);
      return 1;
    }
    r = chc_stream_peek(u->s, &p, &n);
    if (r > 0) {
      if (write_all(fd, p, n) < 0) {
        char m[CHC_ERRMSG_MAX];
        snprintf(m, sizeof m, "writing the body to the file failed: %s",
                 strerror(errno));
        fseek(fs->f, 0, SEEK_CUR);
        return write_err(L, CHC_EWRITE, m, done);
      }
      chc_stream_consume(u->s, n);
      done += (lua_Integer)n;
      lua_pushinteger(L, done);
      lua_replace(L, 3);
      continue;
    }
    DELIVER(L, 1, u);
    if (chc_stream_error(u->s)) {
      const chc_error *e = chc_stream_error(u->s);
      fseek(fs->f, 0, SEEK_CUR);
      return write_err(L, e->code, e->msg, done);
    }
    if (r < 0) {
      fseek(fs->f, 0, SEEK_CUR); /* the FILE learns where the fd is */
      resp_ended(u);
      lua_pushinteger(L, done);
      return 1;
    }
    return chc_wait_on(L, u->ll, &u->q, write_to_k, 0);
  }
}

static int resp_write_to(lua_State *L) {
  luaL_Stream *fs;
  check_resp(L, 1);
  fs = luaL_checkudata(L, 2, LUA_FILEHANDLE);
  if (fs->closef == NULL) return luaL_argerror(L, 2, "the file is closed");
  if (fflush(fs->f) != 0)
    return write_err(L, CHC_EWRITE, "cannot flush the file", 0);
  lua_settop(L, 2);
  lua_pushinteger(L, 0);
  return write_to_k(L, LUA_OK, 0);
}

static void push_hlist_flat(lua_State *L, const chc_hlist *h) {
  size_t i;
  lua_createtable(L, (int)(h->n * 2), 0);
  for (i = 0; i < h->n; i++) {
    lua_pushlstring(L, chc_hlist_name(h, i), h->f[i].name_len);
    lua_rawseti(L, -2, (lua_Integer)(2 * i + 1));
    lua_pushlstring(L, chc_hlist_value(h, i), h->f[i].value_len);
    lua_rawseti(L, -2, (lua_Integer)(2 * i + 2));
  }
}

/* resp:head() -> status, reason, version. The fields are a separate call
** (resp:headers()): most callers never look at them. */
static int resp_head(lua_State *L) {
  lresp *u = check_resp(L, 1);
  if (u->s == NULL || !chc_stream_has_head(u->s))
    return luaL_error(L, "the response has no head");
  lua_pushinteger(L, chc_stream_status(u->s));
  lua_pushstring(L, chc_stream_reason(u->s));
  lua_pushstring(L, chc_stream_version(u->s));
  lua_pushboolean(L, chc_stream_reused(u->s));
  return 4;
}

/* resp:headers() -> flat list {n1, v1, n2, v2, ...}; it still answers
** after the response was closed (the fields were taken over then). */
static int resp_headers(lua_State *L) {
  lresp *u = check_resp(L, 1);
  push_hlist_flat(L, u->s ? chc_stream_headers(u->s) : &u->hdrs);
  return 1;
}

static int resp_trailers(lua_State *L) {
  lresp *u = check_resp(L, 1);
  const chc_hlist *h = u->s ? chc_stream_trailers(u->s) : NULL;
  if (h == NULL) return 0;
  push_hlist_flat(L, h);
  return 1;
}

/* }=================================================================== */

/* {===================================================================
** Request-body producers
** ==================================================================== */

enum { P_START, P_WAITED, P_CALLED };

/* A producer that the socket keeps up with yields after this many chunks
** in a row, so that other tasks and the loop's I/O get to run. */
#define PRODUCER_BURST 16

static void producer_fail(lresp *u, const char *why) {
  if (u->s) chc_stream_abort(u->s, CHC_ELOCAL_PROTO, why);
}

/* Handles what fn returned (status of the pcall). Returns 1 to stop. */
static int producer_took(lua_State *L, lresp *u, int status) {
  if (status != LUA_OK && status != LUA_YIELD) {
    const char *m = lua_tostring(L, -1);
    char msg[CHC_ERRMSG_MAX];
    snprintf(msg, sizeof msg, "the request body function failed: %s",
             m ? m : "(error object)");
    producer_fail(u, msg);
    return 1;
  }
  if (u->s == NULL || chc_stream_writable(u->s) < 0) return 1;
  if (lua_isnil(L, -1)) {
    chc_stream_write_end(u->s);
    return 1;
  }
  if (lua_type(L, -1) != LUA_TSTRING) {
    producer_fail(u, "the request body function must return strings (or nil)");
    return 1;
  }
  {
    size_t n;
    const char *p = lua_tolstring(L, -1, &n);
    if (chc_stream_write(u->s, p, n) < 0) return 1;
    if (n == 0) u->burst = PRODUCER_BURST; /* "nothing now": let others run */
  }
  lua_settop(L, 2);
  return 0;
}

/* A file body's block: read from C, so no Lua string per block. */
#define FILE_BLOCK 65536

/* One block of a file body (the task's stack: [resp, file, buffer]).
** A fixed-length body on plain HTTP/1.1 goes by sendfile while the socket
** takes it (the FILE's position follows); otherwise, and while the socket
** is full, blocks are read into the buffer and written. Returns 1 to stop
** (end of file, an error, or the stream gone). */
static int file_step(lua_State *L, lresp *u) {
  luaL_Stream *fs = (luaL_Stream *)lua_touserdata(L, 2);
  char *buf;
  size_t n;
  long long off, w;
  if (fs->closef == NULL) {
    producer_fail(u, "the request body file was closed while it was sent");
    return 1;
  }
  off = ftello(fs->f);
  w = off < 0 ? -1 : chc_stream_sendfile(u->s, fileno(fs->f), off,
                                         4 * FILE_BLOCK);
  if (w == -2) return 1;
  if (w > 0) {
    u->ll->sendfile_bytes += (unsigned long long)w;
    if (fseeko(fs->f, (off_t)(off + w), SEEK_SET) == 0) return 0;
    producer_fail(u, "cannot move the request body file's position");
    return 1;
  }
  if (lua_gettop(L) < 3) {
    lua_settop(L, 2);
    lua_newuserdatauv(L, FILE_BLOCK, 0);
  }
  buf = lua_touserdata(L, 3);
  n = fread(buf, 1, FILE_BLOCK, fs->f);
  if (n > 0) return chc_stream_write(u->s, buf, n) < 0;
  if (ferror(fs->f)) {
    char msg[CHC_ERRMSG_MAX];
    snprintf(msg, sizeof msg, "reading the request body file failed: %s",
             strerror(errno));
    producer_fail(u, msg);
    return 1;
  }
  chc_stream_write_end(u->s);
  return 1;
}

/*
** Calls on_progress(written, total) when more request body bytes went to
** the socket since the last call. Runs only at safe points (the producer
** task between blocks, the requester when the head came), never from an
** engine callback. Returns the lua_pcall status (the error on the stack).
*/
static int progress(lua_State *L, lresp *u, int ridx) {
  unsigned long long w;
  long long total;
  if (!u->progress || u->s == NULL) return LUA_OK;
  w = chc_stream_body_written(u->s, &total);
  if (w <= u->reported) return LUA_OK;
  u->reported = w;
  lua_getiuservalue(L, ridx, 3);
  lua_pushinteger(L, (lua_Integer)w);
  if (total >= 0)
    lua_pushinteger(L, (lua_Integer)total);
  else
    lua_pushnil(L);
  return lua_pcall(L, 2, 0, 0);
}

/*
** The producer task: [resp, fn] (or [resp, file, buffer] for a file
** body, read by file_step). Loops: wait until the stream can take
** bytes, call fn (which may itself wait: it runs through lua_pcallk with
** this function as continuation), write the chunk.
*/
static int producer_k(lua_State *L, int status, lua_KContext ctx) {
  lresp *u = check_resp(L, 1);
  if (ctx == P_CALLED) {
    if (producer_took(L, u, status)) return 0;
  } else if (ctx == P_WAITED) {
    chc_check_cancel_on(L, u->ll, NULL, NULL);
  }
  for (;;) {
    int w;
    if (u->s == NULL) return 0;
    if (u->progress && progress(L, u, 1) != LUA_OK) {
      const char *m = lua_tostring(L, -1);
      char msg[CHC_ERRMSG_MAX];
      snprintf(msg, sizeof msg, "the on_progress function failed: %s",
               m ? m : "(error object)");
      producer_fail(u, msg);
      return 0;
    }
    w = chc_stream_writable(u->s);
    if (w < 0) return 0;
    if (w == 0) {
      u->burst = 0;
      return chc_wait_on(L, u->ll, &u->q, producer_k, P_WAITED);
    }
    if (++u->burst > PRODUCER_BURST) { /* a bare yield: ready again at once */
      u->burst = 0;
      if (!lua_isuserdata(L, 2)) lua_settop(L, 2);
      return lua_yieldk(L, 0, P_WAITED, producer_k);
    }
    if (lua_isuserdata(L, 2)) {
      if (file_step(L, u)) return 0;
      continue;
    }
    lua_settop(L, 2);
    lua_pushvalue(L, 2);
    status = lua_pcallk(L, 0, 1, 0, P_CALLED, producer_k);
    if (producer_took(L, u, status)) return 0;
  }
}

/* The producer task failed outside the body function (it could not even
** start: out of memory in lua_resume): the stream must not wait for a body
** that no one sends. */
static void producer_died(void *ud, const char *msg) {
  char m[CHC_ERRMSG_MAX];
  snprintf(m, sizeof m, "the request body task failed: %s",
           msg ? msg : "(error object)");
  producer_fail(ud, m);
}

static int producer_main(lua_State *L) {
  return producer_k(L, LUA_OK, P_START);
}

/* }=================================================================== */

/* {===================================================================
** pool:request(method, scheme, host, port, target, headers, body, timeout)
** ==================================================================== */

static int request_k(lua_State *L, int status, lua_KContext ctx) {
  lresp *u = check_resp(L, -1);
  CHC_UNUSED(status);
  CHC_UNUSED(ctx);
  chc_check_cancel_on(L, u->ll, resp_release, u);
  if (u->s == NULL) return closed_err(L);
  DELIVER(L, -1, u);
  if (chc_stream_has_head(u->s)) {
    /* the last report: the body usually went out whole before the head */
    if (u->progress && progress(L, u, lua_absindex(L, -1)) != LUA_OK) {
      resp_release(u);
      return lua_error(L);
    }
    return 1;
  }
  if (chc_stream_error(u->s)) {
    const chc_error *e = chc_stream_error(u->s);
    int code = e->code;
    char msg[CHC_ERRMSG_MAX];
    memcpy(msg, e->msg, sizeof msg);
    resp_release(u);
    return chc_return_err(L, code, msg);
  }
  return chc_wait_on(L, u->ll, &u->q, request_k, 0);
}

static chc_hlist *scratch_hlist(chc_lloop *ll) {
  if (ll->hl == NULL) {
    ll->hl = calloc(1, sizeof(chc_hlist));
    if (ll->hl == NULL) return NULL;
  }
  chc_hlist_reset(ll->hl);
  return ll->hl;
}

/* Copies the {name, value} pairs at idx into h (binding.h). */
void chc_collect_headers(lua_State *L, int idx, chc_hlist *h) {
  lua_Integer i, n;
  if (lua_isnoneornil(L, idx)) return;
  luaL_checktype(L, idx, LUA_TTABLE);
  n = luaL_len(L, idx);
  for (i = 1; i <= n; i++) {
    size_t nl, vl;
    const char *k, *v;
    if (lua_rawgeti(L, idx, i) != LUA_TTABLE)
      luaL_error(L, "headers[%d] must be a {name, value} pair", (int)i);
    lua_rawgeti(L, -1, 1);
    lua_rawgeti(L, -2, 2);
    k = lua_tolstring(L, -2, &nl);
    v = lua_tolstring(L, -1, &vl);
    if (k == NULL || v == NULL)
      luaL_error(L, "headers[%d] must hold two strings", (int)i);
    if (chc_hlist_add(h, k, nl, v, vl) < 0) luaL_error(L, "out of memory");
    lua_pop(L, 3);
  }
}

static int pool_request(lua_State *L) {
  chc_lpool *pu = check_lpool(L, 1);
  const char *method = luaL_checkstring(L, 2);
  const char *scheme = luaL_checkstring(L, 3);
  const char *host = luaL_checkstring(L, 4);
  lua_Integer port = luaL_checkinteger(L, 5);
  const char *target = luaL_checkstring(L, 6);
  int bt = lua_type(L, 8);
  int producer = bt == LUA_TFUNCTION;
  chc_lloop *ll = pu->ll;
  chc_request rq;
  chc_error e = {CHC_OK, ""};
  lresp *u;
  chc_hlist *h;
  if (pu->p == NULL)
    return chc_return_err(L, CHC_ECLOSED, "the pool is closed");
  if (port < 1 || port > 65535) luaL_argerror(L, 5, "port out of range");
  if (bt == LUA_TUSERDATA) { /* an open Lua file, read from C */
    luaL_Stream *fs = luaL_testudata(L, 8, LUA_FILEHANDLE);
    if (fs == NULL || fs->closef == NULL)
      luaL_argerror(L, 8, "body must be nil, a string, a function or an open file");
    producer = 1;
  } else if (bt != LUA_TNIL && bt != LUA_TNONE && bt != LUA_TSTRING &&
             bt != LUA_TFUNCTION) {
    luaL_argerror(L, 8, "body must be nil, a string, a function or an open file");
  }
  memset(&rq, 0, sizeof rq);
  rq.method = method;
  rq.https = strcmp(scheme, "https") == 0;
  if (!rq.https && strcmp(scheme, "http") != 0)
    return chc_return_err(L, CHC_EUNSUPPORTED, "unsupported URL scheme");
  rq.host = host;
  rq.port = (int)port;
  rq.target = target;
  rq.to = *chc_pool_timeouts(pu->p); /* then the request's overrides */
  chc_opt_timeouts(L, 9, &rq.to);
  h = scratch_hlist(ll);
  if (h == NULL) return luaL_error(L, "out of memory");
  chc_collect_headers(L, 7, h);
  rq.headers = h;
  if (bt == LUA_TSTRING) {
    rq.body_kind = CHC_BODY_BYTES;
    rq.body = lua_tolstring(L, 8, &rq.body_len);
  } else if (producer) {
    rq.body_kind = CHC_BODY_STREAM;
  }
  rq.trace = lua_type(L, 11) == LUA_TFUNCTION;
  u = lua_newuserdatauv(L, sizeof *u, rq.trace ? 4
                         : lua_type(L, 10) == LUA_TFUNCTION ? 3 : 2);
  memset(u, 0, sizeof *u);
  u->magic = LRESP_MAGIC;
  u->ll = ll;
  chc_waitq_init(&u->q);
  luaL_setmetatable(L, CHC_RESP_MT);
  lua_pushvalue(L, 8);
  lua_setiuservalue(L, -2, 1); /* anchors the borrowed body */
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 2); /* the pool outlives the stream */
  if (lua_type(L, 10) == LUA_TFUNCTION) {
    lua_pushvalue(L, 10);
    lua_setiuservalue(L, -2, 3); /* the on_progress function */
    u->progress = 1;
  }
  if (rq.trace) {
    lua_pushvalue(L, 11);
    lua_setiuservalue(L, -2, 4); /* the trace function */
    u->traced = 1;
  }
  u->s = chc_pool_request(pu->p, &rq, resp_notify, u, &e);
  if (u->s == NULL) {
    u->closed = 1;
    return chc_return_err(L, e.code, e.msg);
  }
  if (producer) {
    int top = lua_gettop(L);
    u->producer = 1;
    lua_pushcfunction(L, producer_main);
    lua_pushvalue(L, top);  /* resp */
    lua_pushvalue(L, 8);    /* fn or file */
    chc_spawn(L, 2);
    ((chc_task *)lua_touserdata(L, -1))->on_fail = producer_died;
    ((chc_task *)lua_touserdata(L, -1))->on_fail_ud = u;
    lua_pop(L, 1); /* the producer task is anchored by the loop */
  }
  return request_k(L, LUA_OK, 0);
}

/* }=================================================================== */

static int l_valid_token(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  lua_pushboolean(L, n > 0 && chc_h1_is_token(s, n));
  return 1;
}

static int l_valid_field_value(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  lua_pushboolean(L, chc_h1_is_field_value(s, n));
  return 1;
}

static int l_stats(lua_State *L) {
  chc_lloop *ll = chc_lloop_get(L);
  chc_list *n;
  int conns = 0, idle = 0;
  for (n = ll->pools.next; n != &ll->pools; n = n->next) {
    chc_lpool *pl = chc_container_of(n, chc_lpool, node);
    chc_pool_stats st;
    chc_pool_stats_get(pl->p, &st);
    conns += st.connections;
    idle += st.idle;
  }
  lua_createtable(L, 0, 4);
  lua_pushinteger(L, (lua_Integer)ll->sendfile_bytes);
  lua_setfield(L, -2, "sendfile_bytes");
  lua_pushinteger(L, ll->ntasks);
  lua_setfield(L, -2, "tasks");
  lua_pushinteger(L, conns);
  lua_setfield(L, -2, "connections");
  lua_pushinteger(L, idle);
  lua_setfield(L, -2, "idle");
  return 1;
}

void chc_lpool_open(lua_State *L) {
  static const luaL_Reg pool_m[] = {{"request", pool_request},
                                    {"close", pool_close},
                                    {"stats", pool_stats},
                                    {NULL, NULL}};
  static const luaL_Reg resp_m[] = {{"head", resp_head},
                                    {"headers", resp_headers},
                                    {"chunk", resp_chunk},
                                    {"read", resp_read},
                                    {"write_to", resp_write_to},
                                    {"trailers", resp_trailers},
                                    {"close", resp_close},
                                    {NULL, NULL}};
  static const luaL_Reg fns[] = {{"Pool", l_pool_new},
                                 {"valid_token", l_valid_token},
                                 {"valid_field_value", l_valid_field_value},
                                 {"stats", l_stats},
                                 {NULL, NULL}};
  luaL_newmetatable(L, CHC_POOL_MT);
  luaL_newlib(L, pool_m);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, pool_close);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, pool_close);
  lua_setfield(L, -2, "__close");
  lua_pop(L, 1);
  luaL_newmetatable(L, CHC_RESP_MT);
  luaL_newlib(L, resp_m);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, resp_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, resp_close);
  lua_setfield(L, -2, "__close");
  lua_pop(L, 1);
  luaL_setfuncs(L, fns, 0);
}

/* {===================================================================
** For the binding's other files (lsse.c): a Response's parts
** ==================================================================== */

void *chc_resp_check(lua_State *L, int i) { return check_resp(L, i); }

chc_stream *chc_resp_stream(void *r, chc_waitq **q) {
  lresp *u = r;
  *q = &u->q;
  return u->s;
}

void chc_resp_release(void *r) { resp_release(r); }

/* }=================================================================== */
