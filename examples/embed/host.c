/*
** host.c: a C program that embeds Lua 5.4 and c_http_core, and keeps its
** own event loop.
**
**   host SCRIPT URL [N]
**
** It opens the library (the Lua layer is compiled into it: no LUA_PATH is
** needed), runs SCRIPT with URL and N as its arguments (`...`), and then
** drives the library's loop from its own poll(2) loop:
**
**   - chc_loop_fd(lp) is in the poll set; when it is readable the host calls
**     chc_loop_step(lp, 0), which never blocks;
**   - a timerfd of its own ticks every 50 ms: the host's "periodic work"
**     (it prints a tick line);
**   - it never uses chc_loop_timeout() to decide when to step: the library
**     promises that its fd becomes readable whenever there is work (timers
**     and resolver results included), and this program relies on that. A
**     watchdog on the ticks reports the promise broken if the loop says
**     work is due (timeout 0) but its fd stays unreadable for 3 ticks.
**
** The script's main chunk spawns its tasks and returns a result table at
** once. The host stops when the loop has no task left (loop:alive() is
** false), then prints
**
**   host: R responses, K ok, T ticks, S steps, X.XX s
**
** and exits 0 if all N requests succeeded (and the host ticked), 1
** otherwise. It gives up after 30 s.
**
** With CHC_HOST_STALL_MS=M in the environment, the host stops stepping for
** M ms once, as soon as the script's result table has `stall = true`: a
** host busy elsewhere. The library must then not fail operations whose
** data arrived meanwhile (spec/loop_spec.lua).
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "chc.h"

#define TICK_MS 50
#define DEADLINE_MS 30000
#define STALE_TICKS 3

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Message handler: a traceback for string errors, tostring otherwise. */
static int msgh(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) msg = luaL_tolstring(L, 1, NULL);
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* loop:alive() through Lua: true while the loop has unfinished tasks. */
static int loop_alive(lua_State *L, int loop_ref) {
  int alive;
  lua_pushcfunction(L, msgh);
  lua_rawgeti(L, LUA_REGISTRYINDEX, loop_ref);
  lua_getfield(L, -1, "alive");
  lua_insert(L, -2);
  if (lua_pcall(L, 1, 1, -3) != LUA_OK) {
    fprintf(stderr, "host: loop:alive() failed: %s\n", lua_tostring(L, -1));
    lua_pop(L, 2);
    return -1;
  }
  alive = lua_toboolean(L, -1);
  lua_pop(L, 2);
  return alive;
}

static lua_Integer int_field(lua_State *L, int t, const char *k) {
  lua_Integer v;
  lua_getfield(L, t, k);
  v = lua_tointeger(L, -1);
  lua_pop(L, 1);
  return v;
}

/* Is fd readable right now? */
static int readable_now(int fd) {
  struct pollfd p = {fd, POLLIN, 0};
  return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

int main(int argc, char **argv) {
  lua_State *L;
  chc_loop *lp;
  int loop_ref, res_ref, tfd, rc = 1, failed = 0, stale = 0;
  const char *stall_env = getenv("CHC_HOST_STALL_MS");
  long stall_ms = stall_env ? atol(stall_env) : 0;
  long ticks = 0, steps = 0;
  int64_t t0, deadline;
  struct itimerspec its;

  if (argc < 3) {
    fprintf(stderr, "usage: %s SCRIPT URL [N]\n", argv[0]);
    return 2;
  }
  L = luaL_newstate();
  if (L == NULL) {
    fputs("host: cannot create a Lua state\n", stderr);
    return 1;
  }
  luaL_openlibs(L);
  luaL_requiref(L, "c_http_core", luaopen_c_http_core, 1);
  lua_getfield(L, -1, "loop");
  lua_call(L, 0, 1); /* http.loop(): this state's loop */
  loop_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pop(L, 1);
  lp = chc_loop_get(L);

  /* run the script: it spawns tasks and returns its result table */
  t0 = now_ms();
  lua_pushcfunction(L, msgh);
  if (luaL_loadfile(L, argv[1]) != LUA_OK) {
    fprintf(stderr, "host: %s\n", lua_tostring(L, -1));
    lua_close(L);
    return 1;
  }
  lua_pushstring(L, argv[2]);
  lua_pushstring(L, argc > 3 ? argv[3] : "20");
  if (lua_pcall(L, 2, 1, -4) != LUA_OK) {
    fprintf(stderr, "host: script failed: %s\n", lua_tostring(L, -1));
    lua_close(L);
    return 1;
  }
  if (!lua_istable(L, -1)) {
    fputs("host: the script must return a result table\n", stderr);
    lua_close(L);
    return 1;
  }
  res_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pop(L, 1); /* msgh */

  /* the host's own periodic work: a 50 ms timerfd */
  tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (tfd < 0) {
    perror("host: timerfd_create");
    lua_close(L);
    return 1;
  }
  its.it_interval.tv_sec = 0;
  its.it_interval.tv_nsec = TICK_MS * 1000000L;
  its.it_value = its.it_interval;
  timerfd_settime(tfd, 0, &its, NULL);

  deadline = t0 + DEADLINE_MS;
  for (;;) {
    struct pollfd p[2];
    int n, alive, left = (int)(deadline - now_ms());
    alive = loop_alive(L, loop_ref);
    if (alive < 0) {
      failed = 1;
      break;
    }
    if (!alive) break;
    if (left <= 0) {
      fprintf(stderr, "host: gave up after %d ms with tasks left\n",
              DEADLINE_MS);
      failed = 1;
      break;
    }
    p[0].fd = chc_loop_fd(lp);
    p[0].events = POLLIN;
    p[0].revents = 0;
    p[1].fd = tfd;
    p[1].events = POLLIN;
    p[1].revents = 0;
    n = poll(p, 2, left); /* no library timeout here: see the top comment */
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("host: poll");
      failed = 1;
      break;
    }
    if (p[1].revents & POLLIN) {
      uint64_t exp;
      if (read(tfd, &exp, sizeof exp) == (ssize_t)sizeof exp) {
        int to = chc_loop_timeout(lp);
        ticks += (long)exp;
        printf("host: tick %ld, %ld steps, loop timeout %d ms\n", ticks, steps,
               to);
        fflush(stdout);
        /* watchdog of the fd invariant (a late timerfd gets 3 ticks) */
        if (to == 0 && !(p[0].revents & POLLIN) &&
            !readable_now(chc_loop_fd(lp))) {
          if (++stale >= STALE_TICKS) {
            fputs("host: the loop has work due but its fd is not "
                  "readable\n", stderr);
            failed = 1;
            break;
          }
        } else {
          stale = 0;
        }
      }
    }
    if (p[0].revents & (POLLERR | POLLNVAL)) {
      fputs("host: error on the loop fd\n", stderr);
      failed = 1;
      break;
    }
    if (p[0].revents & POLLIN) {
      int r = chc_loop_step(lp, 0);
      steps++;
      if (r < 0) {
        fprintf(stderr, "host: chc_loop_step: %s\n", strerror(-r));
        failed = 1;
        break;
      }
    }
    if (stall_ms > 0) {
      int stall;
      lua_rawgeti(L, LUA_REGISTRYINDEX, res_ref);
      lua_getfield(L, -1, "stall");
      stall = lua_toboolean(L, -1);
      lua_pop(L, 2);
      if (stall) {
        struct timespec ts = {stall_ms / 1000, (stall_ms % 1000) * 1000000L};
        printf("host: not stepping for %ld ms\n", stall_ms);
        fflush(stdout);
        nanosleep(&ts, NULL);
        stall_ms = 0;
      }
    }
  }

  /* the summary */
  lua_rawgeti(L, LUA_REGISTRYINDEX, res_ref);
  {
    lua_Integer want = int_field(L, -1, "n");
    lua_Integer responses = int_field(L, -1, "responses");
    lua_Integer ok = int_field(L, -1, "ok");
    lua_Integer nerr;
    lua_getfield(L, -1, "errors");
    nerr = (lua_Integer)luaL_len(L, -1);
    for (lua_Integer i = 1; i <= nerr && i <= 5; i++) {
      lua_geti(L, -1, i);
      fprintf(stderr, "host: error: %s\n", lua_tostring(L, -1));
      lua_pop(L, 1);
    }
    lua_pop(L, 2);
    printf("host: %lld responses, %lld ok, %ld ticks, %ld steps, %.2f s\n",
           (long long)responses, (long long)ok, ticks, steps,
           (double)(now_ms() - t0) / 1000.0);
    if (!failed && want > 0 && responses == want && ok == want && ticks > 0)
      rc = 0;
  }
  close(tfd);
  lua_close(L);
  return rc;
}
