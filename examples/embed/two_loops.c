/*
** two_loops.c: two loops in two threads, each with its own lua_State.
**
**   two_loops URL [N] [ROUNDS]
**
** Each of two POSIX threads, ROUNDS times (default 2): creates a lua_State,
** opens c_http_core into it (which creates that state's loop), waits at a
** barrier for the other thread, then runs a chunk that does http.run with
** N concurrent tasks (default 10), each sleeping a few ms and then making
** 3 sequential GETs of URL on a small pool (every other task through
** "localhost", so both loops' resolver threads work at the same time), and
** finally closes the state. Nothing is shared between the threads but the
** process.
**
** Prints one line per thread and round, then
**
**   two_loops: R responses, K ok, overlap yes
**
** and exits 0 iff every request of every round succeeded and the two
** threads' runs did overlap in time (1 otherwise).
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "chc.h"

#define NTHREADS 2
#define PER_TASK 3

static const char CHUNK[] =
    "local http = require 'c_http_core'\n"
    "local url, id, n, per = ...\n"
    "local local_url = url:gsub('//127%.0%.0%.1([:/])', '//localhost%1', 1)\n"
    "local pool = http.Pool{ max_connections = 4, timeout = 10 }\n"
    "local responses, ok = 0, 0\n"
    "local fd = http.loop():fd()\n"
    "http.run(function()\n"
    "  local tasks = {}\n"
    "  for i = 1, n do\n"
    "    tasks[i] = http.spawn(function()\n"
    "      http.sleep(((i + id) % 4) * 0.004)\n"
    "      local target = i % 2 == 0 and local_url or url\n"
    "      for _ = 1, per do\n"
    "        local resp, err = pool:request('GET', target)\n"
    "        if not resp then error(err) end\n"
    "        responses = responses + 1\n"
    "        local body = resp:read()\n"
    "        local len = tonumber(resp.headers:get('content-length'))\n"
    "        if resp.status == 200 and body and (len == nil or len == #body)\n"
    "        then ok = ok + 1 end\n"
    "        resp:close()\n"
    "      end\n"
    "    end)\n"
    "  end\n"
    "  for _, t in ipairs(tasks) do t:join() end\n"
    "end)\n"
    "assert(not http.loop():alive(), 'tasks left after http.run')\n"
    "pool:close()\n"
    "return responses, ok, fd\n";

struct job {
  int id, n, rounds;
  const char *url;
  pthread_barrier_t *barrier;
  long responses, ok;
  int failed;
  int64_t start_us[8], end_us[8]; /* per round */
};

static int64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int msgh(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) msg = luaL_tolstring(L, 1, NULL);
  luaL_traceback(L, L, msg, 1);
  return 1;
}

static void one_round(struct job *j, int round) {
  lua_State *L = luaL_newstate();
  if (L == NULL) {
    j->failed = 1;
    pthread_barrier_wait(j->barrier);
    return;
  }
  luaL_openlibs(L);
  luaL_requiref(L, "c_http_core", luaopen_c_http_core, 1);
  lua_pop(L, 1);
  /* both loops exist now: start together */
  pthread_barrier_wait(j->barrier);
  j->start_us[round] = now_us();
  lua_pushcfunction(L, msgh);
  if (luaL_loadbuffer(L, CHUNK, sizeof CHUNK - 1, "=two_loops") != LUA_OK) {
    fprintf(stderr, "two_loops: %s\n", lua_tostring(L, -1));
    j->failed = 1;
  } else {
    lua_pushstring(L, j->url);
    lua_pushinteger(L, j->id);
    lua_pushinteger(L, j->n);
    lua_pushinteger(L, PER_TASK);
    if (lua_pcall(L, 4, 3, 1) != LUA_OK) {
      fprintf(stderr, "two_loops: thread %d round %d failed: %s\n", j->id,
              round + 1, lua_tostring(L, -1));
      j->failed = 1;
    } else {
      long r = (long)lua_tointeger(L, -3), k = (long)lua_tointeger(L, -2);
      printf("two_loops: thread %d round %d: loop fd %d, %ld responses, "
             "%ld ok\n",
             j->id, round + 1, (int)lua_tointeger(L, -1), r, k);
      j->responses += r;
      j->ok += k;
    }
  }
  j->end_us[round] = now_us();
  lua_close(L);
}

static void *thread_main(void *arg) {
  struct job *j = arg;
  int r;
  for (r = 0; r < j->rounds; r++) one_round(j, r);
  return NULL;
}

int main(int argc, char **argv) {
  struct job jobs[NTHREADS];
  pthread_t th[NTHREADS];
  pthread_barrier_t barrier;
  long responses = 0, ok = 0, want;
  int i, r, n, rounds, failed = 0, overlap = 1;
  int64_t t0;

  if (argc < 2) {
    fprintf(stderr, "usage: %s URL [N] [ROUNDS]\n", argv[0]);
    return 2;
  }
  n = argc > 2 ? atoi(argv[2]) : 10;
  rounds = argc > 3 ? atoi(argv[3]) : 2;
  if (n < 1 || rounds < 1 || rounds > 8) {
    fputs("two_loops: N >= 1 and 1 <= ROUNDS <= 8\n", stderr);
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  pthread_barrier_init(&barrier, NULL, NTHREADS);
  t0 = now_us();
  for (i = 0; i < NTHREADS; i++) {
    memset(&jobs[i], 0, sizeof jobs[i]);
    jobs[i].id = i + 1;
    jobs[i].n = n;
    jobs[i].rounds = rounds;
    jobs[i].url = argv[1];
    jobs[i].barrier = &barrier;
    if (pthread_create(&th[i], NULL, thread_main, &jobs[i]) != 0) {
      fputs("two_loops: pthread_create failed\n", stderr);
      return 1;
    }
  }
  for (i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
  pthread_barrier_destroy(&barrier);

  for (i = 0; i < NTHREADS; i++) {
    responses += jobs[i].responses;
    ok += jobs[i].ok;
    failed |= jobs[i].failed;
  }
  /* in every round, each thread's run started before the other's ended */
  for (r = 0; r < rounds; r++)
    if (!(jobs[0].start_us[r] < jobs[1].end_us[r] &&
          jobs[1].start_us[r] < jobs[0].end_us[r]))
      overlap = 0;
  want = (long)NTHREADS * rounds * n * PER_TASK;
  printf("two_loops: %ld responses, %ld ok, overlap %s, %.2f s\n", responses,
         ok, overlap ? "yes" : "no", (double)(now_us() - t0) / 1e6);
  return !failed && overlap && responses == want && ok == want ? 0 : 1;
}
