/*
** allocfail.c: the counter behind allocfail.h (allocation-failure
** injection); linked only into the allocfail build. Atomic: the resolver's
** threads allocate too.
*/
#include "allocfail.h"

/* the build force-includes allocfail.h: here the names are the C library's */
#undef malloc
#undef calloc
#undef realloc
#undef strdup

#include <sanitizer/common_interface_defs.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_long count = 0;  /* allocations since the last arm */
static atomic_long fail_at = 0; /* 0: disarmed */
static atomic_long fail_n = 1; /* how many fail from fail_at on; 0: all */
static atomic_long failed = 0;
static atomic_int env_read = 0;
static int trace = 0; /* CHC_AF_TRACE=1: a stack trace at each failure */

static void report(void) {
  fprintf(stderr, "allocfail: %ld allocations, %ld failed\n",
          atomic_load(&count), atomic_load(&failed));
}

/* CHC_FAIL_AT / CHC_FAIL_COUNT / CHC_AF_REPORT: for programs that cannot
** call chc_af_arm (the C engine tests). */
static void read_env(void) {
  const char *at, *cnt;
  if (atomic_exchange(&env_read, 1)) return;
  trace = getenv("CHC_AF_TRACE") != NULL;
  if (getenv("CHC_AF_REPORT")) atexit(report);
  at = getenv("CHC_FAIL_AT");
  cnt = getenv("CHC_FAIL_COUNT");
  if (at && *at) chc_af_arm(atol(at), cnt && *cnt ? atol(cnt) : 1);
}

void chc_af_arm(long n, long k) {
  if (!atomic_load(&env_read)) read_env();
  atomic_store(&count, 0);
  atomic_store(&failed, 0);
  atomic_store(&fail_n, k);
  atomic_store(&fail_at, n);
}

long chc_af_count(void) { return atomic_load(&count); }
long chc_af_failed(void) { return atomic_load(&failed); }

int chc_af_should_fail(void) {
  long n, at, k;
  if (!atomic_load(&env_read)) read_env();
  n = atomic_fetch_add(&count, 1) + 1;
  at = atomic_load(&fail_at);
  k = atomic_load(&fail_n);
  if (at <= 0 || n < at || (k > 0 && n >= at + k)) return 0;
  atomic_fetch_add(&failed, 1);
  if (trace) {
    fprintf(stderr, "allocfail: allocation %ld fails here:\n", n);
    __sanitizer_print_stack_trace();
  }
  return 1;
}

void *chc_af_malloc(size_t n) {
  return chc_af_should_fail() ? NULL : malloc(n);
}

void *chc_af_calloc(size_t n, size_t m) {
  return chc_af_should_fail() ? NULL : calloc(n, m);
}

void *chc_af_realloc(void *p, size_t n) {
  /* every realloc to a non-zero size counts (its old size is unknown here) */
  if (n > 0 && chc_af_should_fail()) return NULL;
  return realloc(p, n);
}

char *chc_af_strdup(const char *s) {
  return chc_af_should_fail() ? NULL : strdup(s);
}

/* Lua assumes that shrinking never fails (lua_Alloc in the manual), so
** only a growing request counts. */
void *chc_af_lua_alloc(void *ud, void *p, size_t osize, size_t nsize) {
  (void)ud;
  if (nsize == 0) {
    free(p);
    return NULL;
  }
  if (p != NULL && nsize <= osize) return realloc(p, nsize);
  if (chc_af_should_fail()) return NULL;
  return realloc(p, nsize);
}
