/*
** loop.h: the event loop. One per thread; nothing global.
**
** epoll for fds, a binary min-heap of timers, an eventfd for wake-ups from
** other threads (resolver results) and a queue of deferred callbacks that
** run at the end of an iteration (the scheduler's ready queue hangs off it).
**
** Embedding invariant: the loop's fd (the epoll fd) is readable whenever
** chc_loop_step() has work: ready fds, a due timer (a timerfd in the epoll
** set is armed for the earliest timer before step returns), a posted
** result, or deferred work left over (the eventfd is signalled for it).
*/
#ifndef CHC_LOOP_H
#define CHC_LOOP_H

#include <stdint.h>

#include "common.h"

typedef struct chc_loop chc_loop;

/* events */
#define CHC_EV_READ 1u
#define CHC_EV_WRITE 2u
#define CHC_EV_ERROR 4u /* EPOLLERR/EPOLLHUP/EPOLLRDHUP: always reported */
/* Edge-triggered (EPOLLET): the owner reads/writes until EAGAIN and keeps
** its own readable/writable flags, so interest never changes per request. */
#define CHC_EV_EDGE 8u
/* Asked for with READ: the peer's FIN is queued (EPOLLRDHUP), reported with
** the READ edge. Without it an owner cannot tell, after a read that did not
** fill its buffer, whether the socket is empty or a 0 (the end) is next. */
#define CHC_EV_RDHUP 16u

/* An fd watcher, embedded in its owner. The owner keeps it alive until
** chc_io_stop() (or chc_io_close()) has been called. */
typedef struct chc_io chc_io;
typedef void (*chc_io_cb)(chc_loop *lp, chc_io *io, unsigned revents);
struct chc_io {
  int fd;
  unsigned events; /* current interest (CHC_EV_READ|CHC_EV_WRITE) */
  chc_io_cb cb;
  /* private */
  int registered;  /* in the epoll set */
  unsigned gen;    /* invalidation of events pending in the current batch */
};

/* A one-shot timer, embedded in its owner. */
typedef struct chc_timer chc_timer;
typedef void (*chc_timer_cb)(chc_loop *lp, chc_timer *t);
struct chc_timer {
  uint64_t due; /* loop time (us) */
  chc_timer_cb cb;
  /* private */
  uint32_t idx; /* heap slot + 1; 0 when not active */
  uint64_t seq; /* tie-break: FIFO among equal due times */
};

/* A deferred callback, embedded in its owner: runs once at the end of the
** current iteration (or the next step). Queuing one that is queued is a
** no-op. */
typedef struct chc_defer chc_defer;
typedef void (*chc_defer_cb)(chc_loop *lp, chc_defer *d);
struct chc_defer {
  chc_defer_cb cb;
  /* private */
  chc_list node; /* linked while queued */
};

/* Life cycle. chc_loop_new returns NULL (errno set) on failure. */
chc_loop *chc_loop_new(void);
/* Frees the loop. Pending timers/ios/defers are simply forgotten; lookups
** in flight are abandoned (never waited for). Must not be called from
** inside a step. In a forked child it only frees memory and closes fds. */
void chc_loop_free(chc_loop *lp);

/* The pollable fd (epoll fd). */
CHC_API int chc_loop_fd(const chc_loop *lp);
/* ms until step has work: 0 if ready now, -1 if nothing scheduled at all. */
CHC_API int chc_loop_timeout(const chc_loop *lp);
/* One iteration: wait at most timeout_ms (-1 = forever, but never longer
** than the next timer; 0 when deferred work is queued), dispatch fd events,
** expired timers, posted callbacks and deferred callbacks (in bounded
** rounds). Returns 0, or -errno. Refuses re-entry with -EBUSY, and a loop
** inherited across fork() with -ECHILD. */
CHC_API int chc_loop_step(chc_loop *lp, int timeout_ms);
/* Nonzero while inside chc_loop_step (used to refuse re-entry). */
int chc_loop_running(const chc_loop *lp);
/* Nonzero (once) if a step's wait was interrupted by a signal since the
** last call: the step itself returns 0 then, as if it timed out. */
int chc_loop_take_interrupt(chc_loop *lp);
/* Nonzero in a process forked after the loop was created: the loop, its
** sockets and its epoll instance are the parent's too. Teardown then only
** releases memory and closes fds (see chc_loop_free). Costs a load. */
int chc_loop_inherited(const chc_loop *lp);

/* Loop time in ms (CLOCK_MONOTONIC), cached per iteration. Timers do not
** count from it: chc_timer_start reads the clock (rounded up), so a timer
** never fires before its full duration, however long the step has run. */
uint64_t chc_loop_now(const chc_loop *lp);
void chc_loop_update_time(chc_loop *lp);

/* fd watchers. Initialise once; then set the interest as often as needed:
** only a change of mask costs an epoll_ctl. */
void chc_io_init(chc_io *io, int fd, chc_io_cb cb);
int chc_io_set(chc_loop *lp, chc_io *io, unsigned events); /* 0 or -errno */
/* Removes the fd from the epoll set and drops its events still pending in
** the current batch. Does not close the fd. */
void chc_io_stop(chc_loop *lp, chc_io *io);

/* Timers. Starting an active timer re-arms it. */
void chc_timer_init(chc_timer *t, chc_timer_cb cb);
void chc_timer_start(chc_loop *lp, chc_timer *t, uint64_t ms_from_now);
void chc_timer_stop(chc_loop *lp, chc_timer *t);
static inline int chc_timer_active(const chc_timer *t) { return t->idx != 0; }

/* Deferred callbacks. */
void chc_defer_init(chc_defer *d, chc_defer_cb cb);
void chc_defer_queue(chc_loop *lp, chc_defer *d);
void chc_defer_cancel(chc_loop *lp, chc_defer *d);

/* Thread-safe: queue fn(arg) to run on the loop thread in a later
** iteration, and wake the loop. Returns 0 or -ENOMEM. */
int chc_loop_post(chc_loop *lp, void (*fn)(void *arg), void *arg);

/* Opaque per-loop resolver state (resolver.c); created on first use. */
struct chc_resolver;
struct chc_resolver **chc_loop_resolver_slot(chc_loop *lp);

/* Per-loop state of an optional module (the TLS layer keeps its DRBG
** here), created by the module on first use. chc_loop_free calls
** release(p) when it is set: the loop itself does not link the module. */
typedef struct chc_loop_ext {
  void *p;
  void (*release)(void *p);
} chc_loop_ext;
chc_loop_ext *chc_loop_tls_slot(chc_loop *lp);
/* The same for slab.c's slabs and trim state. */
chc_loop_ext *chc_loop_mem_slot(chc_loop *lp);

/* Arbitrary per-loop user pointer (the Lua binding keeps its state here). */
void chc_loop_set_data(chc_loop *lp, void *data);
void *chc_loop_get_data(const chc_loop *lp);

#endif
