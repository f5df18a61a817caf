/*
** allocfail.h: allocation-failure injection (the `make allocfail` build).
**
** That build compiles every source of the library with
**   -DCHC_ALLOCFAIL -include src/allocfail.h
** so that each malloc, calloc, realloc and strdup in our code (the core and
** the binding), and the allocators we hand to nghttp2 and zlib, go through
** one counter. Lua's own allocations go through the same counter when the
** host creates its state with chc_af_lua_alloc (tools/allocfail/host.c).
** mbedTLS allocates with the C library's calloc directly (Debian builds it
** without MBEDTLS_PLATFORM_MEMORY), so its allocations are not counted.
**
** The counter starts disarmed. chc_af_arm(n, k) arms it: allocations
** number n to n+k-1 from then on fail (return NULL); k = 0 fails every one
** from n on, n = 0 only counts. Lua retries a failed allocation once after
** an emergency collection, so k = 2 is what makes Lua itself see a memory
** error. The environment arms it at the first allocation for programs
** that cannot call chc_af_arm (the C engine tests): CHC_FAIL_AT=N and
** CHC_FAIL_COUNT=K (default 1); CHC_AF_TRACE=1 prints a stack trace at each
** injected failure, CHC_AF_REPORT=1 the totals at exit. Freeing never fails, and neither does a Lua request
** that shrinks or keeps the size.
**
** Normal builds do not include this file; the macros below exist only in
** the allocfail build.
*/
#ifndef CHC_ALLOCFAIL_H
#define CHC_ALLOCFAIL_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

void chc_af_arm(long n, long k);
long chc_af_count(void);  /* allocations counted since the last arm */
long chc_af_failed(void); /* allocations failed since the last arm */
int chc_af_should_fail(void); /* count one allocation: 1 if it must fail */
void *chc_af_malloc(size_t n);
void *chc_af_calloc(size_t n, size_t m);
void *chc_af_realloc(void *p, size_t n);
char *chc_af_strdup(const char *s);
/* a lua_Alloc (Lua's allocator), on the same counter: ud is unused */
void *chc_af_lua_alloc(void *ud, void *p, size_t osize, size_t nsize);

#ifdef CHC_ALLOCFAIL
#define malloc(n) chc_af_malloc(n)
#define calloc(n, m) chc_af_calloc(n, m)
#define realloc(p, n) chc_af_realloc(p, n)
#define strdup(s) chc_af_strdup(s)
#endif

#endif
