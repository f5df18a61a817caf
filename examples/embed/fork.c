/*
** fork.c: what a host that forks may do with a lua_State that uses
** c_http_core (see "fork" in docs/API.md).
**
**   fork PLAIN_URL TLS_URL CA_FILE
**
** The parent makes keep-alive connections (PLAIN_URL/conn-id on a plain
** pool, TLS_URL/headers over TLS), so the resolver has worker threads and
** both connections sit idle in their pools. Then it forks. The child:
**   - closes the inherited state with lua_close: this only frees memory
**     and closes the child's copies of the fds (no TLS close_notify, no
**     change to the epoll set it shares with the parent, no thread to
**     join); it must not drive the inherited loop (a step refuses);
**   - makes a request from a fresh lua_State of its own, which works.
** The parent waits for the child, then requests again on both pools: the
** same connections must serve them (the child's teardown left them alone).
** It prints what happened and exits 0 if all went as described.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "chc.h"

/* Global P (plain) and T (TLS) pools, and ids() -> the connection ids that
** served one request on each (the raw peer's /conn-id, nginx's X-Conn). */
static const char *const SETUP =
    "local http = require 'c_http_core'\n"
    "local plain, tls, ca = ...\n"
    "P = http.Pool{ timeout = 5 }\n"
    "T = http.Pool{ timeout = 5, tls = { ca_file = ca } }\n"
    "function ids()\n"
    "  local a = assert(P:request('GET', plain .. '/conn-id'))\n"
    "  local ida = assert(a:read())\n"
    "  local b = assert(T:request('GET', tls .. '/headers'))\n"
    "  assert(b:read())\n"
    "  return ida, b.headers:get('x-conn')\n"
    "end\n";

static lua_State *new_state(void) {
  lua_State *L = luaL_newstate();
  if (L == NULL) return NULL;
  luaL_openlibs(L);
  luaL_requiref(L, "c_http_core", luaopen_c_http_core, 1);
  lua_pop(L, 1);
  return L;
}

/* Runs ids() in L; copies the two ids out. Returns 0, or -1 (printed). */
static int get_ids(lua_State *L, const char *who, char *a, char *b,
                   size_t n) {
  lua_getglobal(L, "ids");
  if (lua_pcall(L, 0, 2, 0) != LUA_OK) {
    printf("%s: request failed: %s\n", who, luaL_tolstring(L, -1, NULL));
    lua_pop(L, 2);
    return -1;
  }
  snprintf(a, n, "%s", lua_tostring(L, -2) ? lua_tostring(L, -2) : "?");
  snprintf(b, n, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
  lua_pop(L, 2);
  return 0;
}

static int setup(lua_State *L, char **argv) {
  if (luaL_loadstring(L, SETUP) != LUA_OK) return -1;
  lua_pushstring(L, argv[1]);
  lua_pushstring(L, argv[2]);
  lua_pushstring(L, argv[3]);
  if (lua_pcall(L, 3, 0, 0) != LUA_OK) {
    printf("setup failed: %s\n", lua_tostring(L, -1));
    return -1;
  }
  return 0;
}

static int child(lua_State *L, char **argv) {
  char a[64], b[64];
  lua_State *fresh;
  alarm(10); /* a hang here kills the child: the parent reports it */
  /* the inherited loop refuses to run: its events are the parent's */
  if (luaL_dostring(L, "return select(2, require('c_http_core').loop():step())")
      == LUA_OK)
    printf("child: step says: %s\n", luaL_tolstring(L, -1, NULL));
  lua_close(L);
  printf("child: closed the inherited state\n");
  fresh = new_state();
  if (fresh == NULL || setup(fresh, argv) < 0 ||
      get_ids(fresh, "child", a, b, sizeof a) < 0)
    return 1;
  printf("child: a fresh state works\n");
  lua_close(fresh);
  return 0;
}

int main(int argc, char **argv) {
  lua_State *L;
  char a0[64], b0[64], a1[64], b1[64];
  pid_t pid;
  int status = 0, waited = 0, ok;
  if (argc < 4) {
    fprintf(stderr, "usage: %s PLAIN_URL TLS_URL CA_FILE\n", argv[0]);
    return 2;
  }
  L = new_state();
  if (L == NULL || setup(L, argv) < 0 || get_ids(L, "parent", a0, b0, 64) < 0)
    return 1;
  fflush(stdout);
  pid = fork();
  if (pid < 0) {
    perror("fork");
    return 1;
  }
  if (pid == 0) {
    int rc = child(L, argv);
    fflush(stdout);
    _exit(rc);
  }
  /* bounded wait for the child (it also has its own alarm) */
  for (waited = 0; waited < 1500; waited++) {
    struct timespec ts = {0, 10 * 1000000L};
    if (waitpid(pid, &status, WNOHANG) == pid) break;
    nanosleep(&ts, NULL);
  }
  if (waited == 1500) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    printf("parent: the child failed (%s %d)\n",
           WIFSIGNALED(status) ? "signal" : "status",
           WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    lua_close(L);
    return 1;
  }
  if (get_ids(L, "parent", a1, b1, 64) < 0) {
    lua_close(L);
    return 1;
  }
  ok = strcmp(a0, a1) == 0 && strcmp(b0, b1) == 0;
  printf("parent: plain connection %s, TLS connection %s\n",
         strcmp(a0, a1) == 0 ? "reused" : "lost",
         strcmp(b0, b1) == 0 ? "reused" : "lost");
  lua_close(L);
  return ok ? 0 : 1;
}
