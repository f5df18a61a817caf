/*
** slab.c: fixed-size objects from mmap'd 64 KiB blocks, and the loop's
** trim policy (see slab.h for why).
*/
#include "slab.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef VALGRIND_MALLOCLIKE_BLOCK
#define VALGRIND_MALLOCLIKE_BLOCK(a, n, rz, z) ((void)0)
#define VALGRIND_FREELIKE_BLOCK(a, rz) ((void)0)
#endif

/* {===================================================================
** The slab
** ==================================================================== */

/* A block: this header, the slots' free-list links (indexes, so the free
** slots themselves are never written: valgrind and ASan see them as
** freed), then the slots from sl->first on. */
typedef struct block {
  chc_slab *sl;
  chc_list node;    /* in sl->partial while it has free and used slots */
  uint32_t nfree;
  uint32_t head;    /* first free slot; nslots when none */
  uint16_t next[];  /* free-list links */
} block;

struct chc_slab {
  size_t size;      /* slot size (a multiple of 16) */
  uint32_t nslots;  /* slots per block */
  size_t first;     /* offset of slot 0 in a block */
  chc_list partial; /* blocks with a free slot, that are not empty */
  block *spare;     /* one empty block kept (hysteresis) */
  size_t live, nblocks;
  int orphan;       /* released by its owner: goes with its last object */
};

static void slab_destroy(chc_slab *sl);

chc_slab *chc_slab_new(size_t size) {
  chc_slab *sl;
  size_t hdr;
  if (size == 0 || size > CHC_SLAB_BLOCK / 4) {
    errno = EINVAL;
    return NULL;
  }
  sl = calloc(1, sizeof *sl);
  if (sl == NULL) return NULL;
  sl->size = (size + 15u) & ~(size_t)15u;
  /* slots and their 2-byte links share what the header leaves */
  sl->nslots = (uint32_t)((CHC_SLAB_BLOCK - sizeof(block) - 64u) /
                          (sl->size + sizeof(uint16_t)));
  hdr = sizeof(block) + sl->nslots * sizeof(uint16_t);
  sl->first = (hdr + 63u) & ~(size_t)63u;
  chc_list_init(&sl->partial);
  return sl;
}

/* A new block, aligned to its size (map twice the size, unmap the rest):
** an object finds its block by masking its address. */
static block *block_map(chc_slab *sl) {
  size_t n = 2u * CHC_SLAB_BLOCK, lead;
  uint32_t i;
  char *m = mmap(NULL, n, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  block *b;
  if (m == MAP_FAILED) {
    errno = ENOMEM;
    return NULL;
  }
  lead = (CHC_SLAB_BLOCK - ((uintptr_t)m & (CHC_SLAB_BLOCK - 1u))) &
         (CHC_SLAB_BLOCK - 1u);
  if (lead) munmap(m, lead);
  munmap(m + lead + CHC_SLAB_BLOCK, CHC_SLAB_BLOCK - lead);
  b = (block *)(void *)(m + lead);
  b->sl = sl;
  chc_list_init(&b->node);
  b->nfree = sl->nslots;
  b->head = 0;
  for (i = 0; i < sl->nslots; i++) b->next[i] = (uint16_t)(i + 1u);
  POISON((char *)b + sl->first, (size_t)sl->nslots * sl->size);
  sl->nblocks++;
  return b;
}

static void block_unmap(chc_slab *sl, block *b) {
  UNPOISON((char *)b + sl->first, (size_t)sl->nslots * sl->size);
  munmap(b, CHC_SLAB_BLOCK);
  sl->nblocks--;
}

void *chc_slab_alloc(chc_slab *sl) {
  block *b;
  char *p;
#ifdef CHC_ALLOCFAIL /* the allocation-failure build counts us too */
  if (chc_af_should_fail()) return NULL;
#endif
  if (!chc_list_empty(&sl->partial)) {
    b = chc_container_of(sl->partial.next, block, node);
  } else {
    b = sl->spare ? sl->spare : block_map(sl);
    if (b == NULL) return NULL;
    sl->spare = NULL;
    chc_list_insert_head(&sl->partial, &b->node);
  }
  p = (char *)b + sl->first + (size_t)b->head * sl->size;
  b->head = b->next[b->head];
  if (--b->nfree == 0) chc_list_remove(&b->node); /* full */
  sl->live++;
  UNPOISON(p, sl->size);
  VALGRIND_MALLOCLIKE_BLOCK(p, sl->size, 0, 1);
  memset(p, 0, sl->size);
  return p;
}

void chc_slab_free(void *p) {
  block *b;
  chc_slab *sl;
  uint32_t i;
  if (p == NULL) return;
  b = (block *)(void *)((uintptr_t)p & ~(uintptr_t)(CHC_SLAB_BLOCK - 1u));
  sl = b->sl;
  i = (uint32_t)(((char *)p - ((char *)b + sl->first)) / sl->size);
  VALGRIND_FREELIKE_BLOCK(p, 0);
  POISON(p, sl->size);
  b->next[i] = (uint16_t)b->head;
  b->head = i;
  sl->live--;
  if (b->nfree++ == 0) /* was full: allocate from the others first */
    chc_list_insert_tail(&sl->partial, &b->node);
  if (b->nfree == sl->nslots) { /* empty: keep one, unmap the rest */
    chc_list_remove(&b->node);
    if (sl->spare == NULL && !sl->orphan)
      sl->spare = b;
    else
      block_unmap(sl, b);
  }
  if (sl->orphan && sl->live == 0) slab_destroy(sl);
}

static void slab_destroy(chc_slab *sl) {
  if (sl->spare) block_unmap(sl, sl->spare);
  free(sl);
}

void chc_slab_release(chc_slab *sl) {
  if (sl == NULL) return;
  if (sl->live == 0) {
    slab_destroy(sl);
    return;
  }
  sl->orphan = 1;
  if (sl->spare) block_unmap(sl, sl->spare);
  sl->spare = NULL;
}

void chc_slab_get_stats(const chc_slab *sl, chc_slab_stats *st) {
  st->size = sl->size;
  st->live = sl->live;
  st->blocks = sl->nblocks;
}

/* }=================================================================== */

/* {===================================================================
** Per loop: slabs by size, and the trim policy
** ==================================================================== */

typedef struct mem {
  chc_loop *lp;
  size_t sizes[CHC_MEM_CLASSES];
  chc_slab *slabs[CHC_MEM_CLASSES];
  int nclasses;
  int trim_off;
  unsigned noted;       /* units noted since the last trim */
  unsigned seen;        /* noted when the timer last fired */
  uint64_t last_trim;   /* loop time (ms) of the last trim (0: never) */
  unsigned long trims;
  chc_timer timer;
} mem;

static void mem_release(void *p) {
  mem *m = p;
  int i;
  for (i = 0; i < m->nclasses; i++) chc_slab_release(m->slabs[i]);
  free(m);
}

static void on_trim_timer(chc_loop *lp, chc_timer *t);

/* lp's state, created on first use; NULL out of memory. */
static mem *mem_get(chc_loop *lp) {
  chc_loop_ext *x = chc_loop_mem_slot(lp);
  mem *m = x->p;
  if (m) return m;
  m = calloc(1, sizeof *m);
  if (m == NULL) return NULL;
  m->lp = lp;
  chc_timer_init(&m->timer, on_trim_timer);
  x->p = m;
  x->release = mem_release;
  return m;
}

void *chc_mem_alloc(chc_loop *lp, size_t size) {
  mem *m = mem_get(lp);
  int i;
  if (m == NULL) return NULL;
  for (i = 0; i < m->nclasses; i++)
    if (m->sizes[i] == size) return chc_slab_alloc(m->slabs[i]);
  if (m->nclasses == CHC_MEM_CLASSES) { /* a caller too many: a bug */
    errno = ENOMEM;
    return NULL;
  }
  m->slabs[i] = chc_slab_new(size);
  if (m->slabs[i] == NULL) return NULL;
  m->sizes[i] = size;
  m->nclasses++;
  return chc_slab_alloc(m->slabs[i]);
}

void chc_mem_free(void *p) { chc_slab_free(p); }

/*
** The trim policy. Freed memory of a burst (its requests' coroutines,
** streams, buffers, Responses) lies in holes of the malloc heap that the
** live memory around it pins: glibc returns the top of the heap by itself,
** never the holes. malloc_trim(0) walks the heap and gives the whole free
** pages back (madvise), which is what an idle process holding many
** connections wants, but it costs time proportional to the heap and
** concerns the whole process: so only once the burst is over (nothing
** noted for a quiet second: the timer fires every second and compares the
** count, so the trim comes 1 to 2 s after the last note), only after a burst (enough noted since the
** last trim), and at most every few seconds. Like jemalloc's decay of
** dirty pages, memory a busy loop frees is kept for reuse.
*/
static void on_trim_timer(chc_loop *lp, chc_timer *t) {
  mem *m = chc_container_of(t, mem, timer);
  uint64_t now = chc_loop_now(lp);
  if (m->trim_off) return;
  if (m->noted != m->seen) { /* notes in the last second: not quiet yet */
    m->seen = m->noted;
    chc_timer_start(lp, &m->timer, CHC_TRIM_QUIET_MS);
    return;
  }
  if (m->last_trim && now < m->last_trim + CHC_TRIM_EVERY_MS) {
    chc_timer_start(lp, &m->timer, m->last_trim + CHC_TRIM_EVERY_MS - now);
    return;
  }
  m->noted = m->seen = 0;
  m->last_trim = now;
  m->trims++;
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}

/* Per request: no clock read, the timer tells quiet seconds by the count. */
void chc_mem_note(chc_loop *lp, unsigned n) {
  mem *m = chc_loop_mem_slot(lp)->p;
  if (m == NULL) return; /* nothing of ours allocated yet */
  m->noted += n;
  if (m->noted >= CHC_TRIM_AFTER && !chc_timer_active(&m->timer) &&
      !m->trim_off) {
    m->seen = m->noted;
    chc_timer_start(lp, &m->timer, CHC_TRIM_QUIET_MS);
  }
}

void chc_mem_set_trim(chc_loop *lp, int on) {
  mem *m = mem_get(lp);
  if (m == NULL) return;
  m->trim_off = !on;
  if (!on) chc_timer_stop(lp, &m->timer);
}

int chc_mem_get_trim(chc_loop *lp) {
  mem *m = chc_loop_mem_slot(lp)->p;
  return m == NULL || !m->trim_off;
}

unsigned long chc_mem_trims(chc_loop *lp) {
  mem *m = chc_loop_mem_slot(lp)->p;
  return m ? m->trims : 0;
}

/* }=================================================================== */
