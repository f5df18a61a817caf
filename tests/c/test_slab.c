/*
** test_slab.c: standalone tests of src/slab.c: the slab (slots, blocks,
** the empty block kept, release with live objects, a failed mmap) and the
** per-loop memory (slabs by size, the trim policy's timing). Build and
** run with tests/c/Makefile (`make -C tests/c test_slab`). Exits nonzero
** if any check fails.
*/
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"
#include "slab.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif


#include "check.h"

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static chc_slab_stats stats(const chc_slab *sl) {
  chc_slab_stats st;
  chc_slab_get_stats(sl, &st);
  return st;
}

static int all_zero(const unsigned char *p, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    if (p[i]) return 0;
  return 1;
}

/* Slots: zeroed, distinct, aligned, in their block; a freed slot is the
** next one handed out (LIFO: the block being used stays hot). */
static void test_slots(void) {
  chc_slab *sl = chc_slab_new(232);
  unsigned char *a, *b, *c;
  CHECK(sl != NULL);
  if (sl == NULL) return;
  CHECK(stats(sl).size == 240); /* rounded to 16 */
  CHECK(stats(sl).blocks == 0); /* nothing mapped before the first object */
  a = chc_slab_alloc(sl);
  b = chc_slab_alloc(sl);
  CHECK(a && b && a != b);
  CHECK(((uintptr_t)a & 15u) == 0 && ((uintptr_t)b & 15u) == 0);
  CHECK(((uintptr_t)a & ~(uintptr_t)(CHC_SLAB_BLOCK - 1u)) ==
        ((uintptr_t)b & ~(uintptr_t)(CHC_SLAB_BLOCK - 1u)));
  CHECK(all_zero(a, 232) && all_zero(b, 232));
  memset(a, 0xAB, 232);
  memset(b, 0xCD, 232);
  CHECK(stats(sl).live == 2 && stats(sl).blocks == 1);
  chc_slab_free(a);
  c = chc_slab_alloc(sl);
  CHECK(c == a);
  CHECK(c && all_zero(c, 232)); /* zeroed again, like calloc */
  CHECK(b[0] == 0xCD && b[231] == 0xCD); /* the neighbour is untouched */
  chc_slab_free(b);
  chc_slab_free(c);
  chc_slab_free(NULL);
  CHECK(stats(sl).live == 0);
  CHECK(stats(sl).blocks == 1); /* the empty block is kept */
  chc_slab_release(sl);
  CHECK(chc_slab_new(0) == NULL);
  CHECK(chc_slab_new(CHC_SLAB_BLOCK / 4 + 1) == NULL);
}

/* Blocks: more objects than one block holds map more blocks; emptied,
** all but one are unmapped, and that one serves the next objects. */
static void test_blocks(void) {
  enum { N = 400 };
  chc_slab *sl = chc_slab_new(576);
  void *p[N];
  size_t i, per;
  CHECK(sl != NULL);
  if (sl == NULL) return;
  for (i = 0; i < N; i++) {
    p[i] = chc_slab_alloc(sl);
    CHECK(p[i] != NULL);
    if (p[i]) memset(p[i], (int)(i & 0xFF), 576);
  }
  per = (N + stats(sl).blocks - 1) / stats(sl).blocks;
  CHECK(stats(sl).blocks >= 4);  /* 64 KiB holds about 110 of them */
  CHECK(per >= 100 && per <= 113);
  for (i = 0; i < N; i++) /* every object kept its bytes */
    CHECK(p[i] == NULL || ((unsigned char *)p[i])[575] == (i & 0xFF));
  for (i = 0; i < N; i += 2) chc_slab_free(p[i]); /* holes everywhere */
  CHECK(stats(sl).live == N / 2);
  for (i = 0; i < N; i += 2) p[i] = chc_slab_alloc(sl); /* holes reused */
  CHECK(stats(sl).blocks == (N + per - 1) / per);
  for (i = 0; i < N; i++) chc_slab_free(p[i]);
  CHECK(stats(sl).live == 0);
  CHECK(stats(sl).blocks == 1);
  for (i = 0; i < 50; i++) p[i] = chc_slab_alloc(sl);
  CHECK(stats(sl).blocks == 1); /* the kept block, no new mapping */
  for (i = 0; i < 50; i++) chc_slab_free(p[i]);
  chc_slab_release(sl);
}

/* Released with live objects, the slab stays until the last is freed (a
** connection taken over may outlive its loop's teardown). */
static void test_orphan(void) {
  chc_slab *sl = chc_slab_new(64);
  void *a, *b;
  if (sl == NULL) {
    CHECK(0);
    return;
  }
  a = chc_slab_alloc(sl);
  b = chc_slab_alloc(sl);
  chc_slab_release(sl);
  memset(a, 1, 64); /* still usable */
  chc_slab_free(a);
  chc_slab_free(b); /* the last one: the slab goes (leak checkers agree) */
}

/* A block that cannot be mapped is NULL (errno ENOMEM), as from malloc;
** the objects already handed out stay good. In a child, under a small
** address-space limit (not under ASan or valgrind: they need the space). */
static void test_mmap_fails(void) {
#if !defined(__SANITIZE_ADDRESS__)
  pid_t pid;
  int st = 0;
  if (RUNNING_ON_VALGRIND) return;
  pid = fork();
  if (pid == 0) {
    chc_slab *sl = chc_slab_new(128);
    struct rlimit rl;
    unsigned char *first;
    void *q = NULL;
    long i;
    if (sl == NULL) _exit(2);
    first = chc_slab_alloc(sl);
    if (first == NULL) _exit(3);
    first[127] = 7;
    getrlimit(RLIMIT_AS, &rl);
    rl.rlim_cur = 64u << 20; /* well past what the child uses */
    if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(0); /* cannot test: pass */
    for (i = 0; i < 10000000; i++) { /* at most 640 MiB of objects */
      q = chc_slab_alloc(sl);
      if (q == NULL) break;
    }
    if (q != NULL) _exit(4);
    if (errno != ENOMEM) _exit(5);
    if (first[127] != 7) _exit(6);
    _exit(0);
  }
  CHECK(pid > 0);
  if (pid > 0) {
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  }
#endif
}

/* Steps lp until trims reaches want or deadline_ms passes; the time. */
static uint64_t step_until_trims(chc_loop *lp, unsigned long want,
                                 uint64_t deadline_ms) {
  uint64_t t0 = now_ms();
  while (chc_mem_trims(lp) < want && now_ms() - t0 < deadline_ms)
    chc_loop_step(lp, 100);
  return now_ms() - t0;
}

/* The per-loop memory: one slab per size; the trim comes once the notes
** stopped for a whole quiet second after a burst, not after a small one, at most
** every few seconds, and never when turned off. */
static void test_loop_mem(void) {
  chc_loop *lp = chc_loop_new();
  void *a, *b, *c, *keep;
  uint64_t t;
  unsigned i;
  CHECK(lp != NULL);
  if (lp == NULL) return;
  CHECK(chc_mem_get_trim(lp) == 1);
  a = chc_mem_alloc(lp, 232);
  b = chc_mem_alloc(lp, 576);
  c = chc_mem_alloc(lp, 232);
  CHECK(a && b && c);
  CHECK(((uintptr_t)a & ~(uintptr_t)(CHC_SLAB_BLOCK - 1u)) ==
        ((uintptr_t)c & ~(uintptr_t)(CHC_SLAB_BLOCK - 1u)));
  CHECK(((uintptr_t)a & ~(uintptr_t)(CHC_SLAB_BLOCK - 1u)) !=
        ((uintptr_t)b & ~(uintptr_t)(CHC_SLAB_BLOCK - 1u)));
  chc_mem_free(a);
  chc_mem_free(b);
  chc_mem_free(c);

  /* a small burst: no trim */
  chc_mem_note(lp, CHC_TRIM_AFTER - 1);
  CHECK(chc_loop_timeout(lp) == -1); /* nothing armed */
  t = step_until_trims(lp, 1, 1300);
  CHECK(chc_mem_trims(lp) == 0);

  /* a burst that goes on for a while: the trim waits for the quiet */
  chc_mem_note(lp, 1);
  t = now_ms();
  for (i = 0; i < 6; i++) { /* notes every 250 ms for 1.5 s */
    chc_loop_step(lp, 250);
    chc_loop_update_time(lp);
    chc_mem_note(lp, 1);
    CHECK(chc_mem_trims(lp) == 0);
  }
  step_until_trims(lp, 1, 3000);
  t = now_ms() - t;
  CHECK(chc_mem_trims(lp) == 1);
  CHECK(t >= 1500 + CHC_TRIM_QUIET_MS - 50 &&
        t < 1500 + 2 * CHC_TRIM_QUIET_MS + 1500);
  CHECK(chc_loop_timeout(lp) == -1); /* the timer is done */

  /* the next burst right away: at most one trim every CHC_TRIM_EVERY_MS */
  chc_mem_note(lp, CHC_TRIM_AFTER);
  t = step_until_trims(lp, 2, CHC_TRIM_EVERY_MS + 3000);
  CHECK(chc_mem_trims(lp) == 2);
  CHECK(t >= CHC_TRIM_EVERY_MS - 100); /* counted from the last trim */

  /* turned off: nothing armed, no trim */
  chc_mem_set_trim(lp, 0);
  CHECK(chc_mem_get_trim(lp) == 0);
  chc_mem_note(lp, 10 * CHC_TRIM_AFTER);
  CHECK(chc_loop_timeout(lp) == -1);
  chc_mem_set_trim(lp, 1);

  /* an object that outlives its loop is freed later without harm */
  keep = chc_mem_alloc(lp, 576);
  CHECK(keep != NULL);
  chc_loop_free(lp);
  chc_mem_free(keep);
}

int main(void) {
  test_slots();
  test_blocks();
  test_orphan();
  test_mmap_fails();
  test_loop_mem();
  if (failures) {
    fprintf(stderr, "test_slab: %d check(s) failed\n", failures);
    return 1;
  }
  printf("test_slab: all checks passed\n");
  return 0;
}
