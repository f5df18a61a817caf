/*
** slab.h: a slab for long-lived fixed-size objects, and the loop's policy
** for giving freed memory back to the system.
**
** Why: an idle keep-alive connection holds only its pool and transport
** structs, but taken from malloc they sit between the transient memory of
** the requests that opened them (coroutines, streams, buffers), so when
** that is freed its pages stay pinned by the live structs around it. A
** slab keeps the long-lived structs together in blocks of their own,
** mmap'd outside the malloc heap: the heap can then shrink after a burst.
**
** A slab hands out objects of one size from 64 KiB blocks (mmap'd and
** aligned to their size, so an object finds its block by masking its
** address). Each block keeps a free list of slot indexes; allocation and
** freeing are O(1). A block that becomes entirely free is unmapped, except
** one kept per slab (hysteresis: a connection closed and opened again does
** not cost an mmap/munmap pair). A failed mmap returns NULL, as malloc
** does. Objects come zeroed, like calloc's.
**
** Under ASan free slots are poisoned, and under valgrind every object is
** announced as a heap block (VALGRIND_MALLOCLIKE_BLOCK), so use after free
** and leaks of slab objects are reported like those of malloc'd ones.
**
** Per loop (chc_loop_mem): the slabs the pool and the transport allocate
** from, and the trim policy: after a burst of finished work (requests and
** connections noted by chc_mem_note), once nothing more was noted for a
** quiet second, glibc's malloc_trim(0) gives the free pages of the heap
** back (at most once every few seconds). Nothing global: two loops in two
** threads have their own slabs and their own trim state.
*/
#ifndef CHC_SLAB_H
#define CHC_SLAB_H

#include <stddef.h>
#include <stdint.h>

#include "loop.h"

#define CHC_SLAB_BLOCK 65536u /* block size and alignment */

typedef struct chc_slab chc_slab;

/* A slab of objects of `size` bytes (at most a quarter of a block); NULL
** out of memory. */
chc_slab *chc_slab_new(size_t size);
/* A zeroed object, or NULL (errno ENOMEM) when no block could be mapped. */
void *chc_slab_alloc(chc_slab *sl);
/* Gives p (from any slab; NULL is a no-op) back to its slab. */
void chc_slab_free(void *p);
/* Destroys the slab when no object is live; otherwise it goes when its
** last object is freed (objects may outlive their owner, e.g. a
** connection taken over after the loop's pool went). */
void chc_slab_release(chc_slab *sl);

/* Counters (for tests and the bench). */
typedef struct chc_slab_stats {
  size_t size;    /* object size, rounded */
  size_t live;    /* objects in use */
  size_t blocks;  /* blocks mapped (an empty one kept included) */
} chc_slab_stats;
void chc_slab_get_stats(const chc_slab *sl, chc_slab_stats *st);

/* {===================================================================
** Per loop
** ==================================================================== */

/* An object of `size` bytes from lp's slab for that size (created on
** first use; a loop has at most CHC_MEM_CLASSES sizes, past that or out
** of memory: calloc). Free with chc_mem_free. NULL out of memory. */
#define CHC_MEM_CLASSES 4
void *chc_mem_alloc(chc_loop *lp, size_t size);
/* Frees an object from chc_mem_alloc (NULL is a no-op). */
void chc_mem_free(void *p);

/* Notes n units of finished work (a request's stream, a connection) whose
** transient memory went back to malloc. Cheap: a counter. */
void chc_mem_note(chc_loop *lp, unsigned n);

/* The trim policy (on by default; see docs/API.md, http.config): after at
** least CHC_TRIM_AFTER units noted, once a whole CHC_TRIM_QUIET_MS passed
** with nothing noted (so 1 to 2 quiet periods after the last note),
** malloc_trim(0), at most once per CHC_TRIM_EVERY_MS. */
#define CHC_TRIM_AFTER 256u
#define CHC_TRIM_QUIET_MS 1000u
#define CHC_TRIM_EVERY_MS 5000u
void chc_mem_set_trim(chc_loop *lp, int on);
int chc_mem_get_trim(chc_loop *lp);
/* Trims done on this loop (for tests). */
unsigned long chc_mem_trims(chc_loop *lp);

/* }=================================================================== */

#endif
