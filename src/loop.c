/*
** loop.c: epoll + one timerfd + one eventfd, a binary min-heap of timers,
** a queue of deferred callbacks and a thread-safe queue of posted calls.
**
** One step: wait (epoll), dispatch fd events, run posted calls, run expired
** timers, run deferred callbacks in bounded rounds; then, before returning,
** re-establish the embedding invariant of loop.h (eventfd signalled if
** deferred work is left, timerfd armed for the earliest timer).
*/
#include "loop.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "resolver.h"

#define MAX_EVENTS 256
/* Full batches read after the first one before timers run (see
** chc_loop_step): 64 x 256 ready fds is more than any pool keeps. */
#define DRAIN_ROUNDS 64
#define DEFER_ROUNDS 64
#define NOT_ARMED UINT64_MAX

typedef struct post {
  struct post *next;
  void (*fn)(void *arg);
  void *arg;
} post;

struct chc_loop {
  int epfd, tfd, efd;
  chc_io tio, eio;    /* the timerfd and the eventfd as watchers */
  uint64_t now;       /* cached loop time (us) */
  int running;        /* inside chc_loop_step */
  int interrupted;    /* epoll_wait saw EINTR (chc_loop_take_interrupt) */
  unsigned fork_gen;  /* fork_gen when created: a fork since shows */
  /* timers */
  chc_timer **heap;
  uint32_t nheap, capheap;
  uint64_t seq;       /* next timer sequence number */
  uint64_t armed;     /* absolute due (us) the timerfd is armed for */
  /* deferred callbacks */
  chc_list defers;
  /* the current epoll batch (see io_invalidate) */
  struct epoll_event events[MAX_EVENTS];
  int nevents, evpos; /* nevents is 0 outside dispatch */
  unsigned batch;     /* batch number, stamped into chc_io.gen */
  /* wake-ups: 1 while the eventfd has been written and not yet drained */
  atomic_int wakeup;
  int evfd_ready;     /* the eventfd was reported readable in this batch */
  pthread_mutex_t post_mu;
  post *post_head, **post_tail;
  struct chc_resolver *resolver;
  chc_loop_ext tls;
  chc_loop_ext mem; /* slab.c's slabs and trim state */
  void *data;
};

/*
** Loop time is kept in microseconds: durations come in whole ms, but a
** timer counts from the moment it is started, not from a whole ms, and the
** waits derived from it are rounded up to ms. So no timer ever fires early
** and no wait is ever reported short. The clock is truncated when it tells
** what is due, rounded up when a timer is armed from it.
*/
static uint64_t mono_us(int round_up) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u +
         ((uint64_t)ts.tv_nsec + (round_up ? 999u : 0u)) / 1000u;
}

/*
** fork detection. A child process inherits the loop's memory and fds, but
** not its threads, and shares the epoll instance and every socket with the
** parent. The counter is bumped in the child by a pthread_atfork handler,
** so telling whether a loop was inherited costs a load, not a getpid().
*/
static atomic_uint fork_gen;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void) { atomic_fetch_add(&fork_gen, 1); }

static void fork_hook(void) { pthread_atfork(NULL, NULL, on_fork_child); }

int chc_loop_inherited(const chc_loop *lp) {
  return lp->fork_gen != atomic_load_explicit(&fork_gen, memory_order_relaxed);
}

/*
** Makes the loop fd readable through the eventfd. The flag keeps a burst of
** wake-ups down to one write; it is cleared only right after the eventfd is
** drained (see run_posts for why that order matters). Thread-safe.
*/
static void wake(chc_loop *lp) {
  if (atomic_exchange(&lp->wakeup, 1) == 0) {
    uint64_t one = 1;
    ssize_t r = write(lp->efd, &one, sizeof one);
    (void)r; /* EAGAIN: the counter is saturated, so it is readable anyway */
  }
}

/* {===================================================================
** Timers: a binary min-heap of chc_timer*, ordered by (due, seq).
** t->idx is the slot + 1, so start/stop/re-arm are O(log n).
** ====================================================================*/

static int timer_less(const chc_timer *a, const chc_timer *b) {
  return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void heap_put(chc_loop *lp, uint32_t i, chc_timer *t) {
  lp->heap[i] = t;
  t->idx = i + 1;
}

static void heap_up(chc_loop *lp, uint32_t i) {
  chc_timer *t = lp->heap[i];
  while (i > 0) {
    uint32_t p = (i - 1) / 2;
    if (!timer_less(t, lp->heap[p])) break;
    heap_put(lp, i, lp->heap[p]);
    i = p;
  }
  heap_put(lp, i, t);
}

static void heap_down(chc_loop *lp, uint32_t i) {
  chc_timer *t = lp->heap[i];
  for (;;) {
    uint32_t c = 2 * i + 1;
    if (c >= lp->nheap) break;
    if (c + 1 < lp->nheap && timer_less(lp->heap[c + 1], lp->heap[c])) c++;
    if (!timer_less(lp->heap[c], t)) break;
    heap_put(lp, i, lp->heap[c]);
    i = c;
  }
  heap_put(lp, i, t);
}

/* Restores the heap after the key of slot i changed in either direction. */
static void heap_fix(chc_loop *lp, uint32_t i) {
  if (i > 0 && timer_less(lp->heap[i], lp->heap[(i - 1) / 2]))
    heap_up(lp, i);
  else
    heap_down(lp, i);
}

static void heap_remove(chc_loop *lp, chc_timer *t) {
  uint32_t i = t->idx - 1;
  chc_timer *last = lp->heap[--lp->nheap];
  t->idx = 0;
  if (i < lp->nheap) {
    heap_put(lp, i, last);
    heap_fix(lp, i);
  }
}

/*
** Arms the timerfd (absolute time) for the earliest timer. A syscall is made
** only when that timer is due earlier than what is armed: if the armed time
** is earlier (its timer was stopped or pushed back), the timerfd just fires
** early, the step that drains it finds nothing due and arms again. That
** keeps a timeout that is pushed back on every read free of syscalls, and
** the invariant holds since the timerfd never fires later than the earliest
** timer.
*/
static void timerfd_arm(chc_loop *lp) {
  struct itimerspec its = {{0, 0}, {0, 0}};
  uint64_t due;
  if (lp->nheap == 0 || chc_loop_inherited(lp)) return; /* the parent's */
  due = lp->heap[0]->due;
  if (due >= lp->armed) return;
  its.it_value.tv_sec = (time_t)(due / 1000000u);
  its.it_value.tv_nsec = (long)(due % 1000000u) * 1000L;
  if (due == 0) its.it_value.tv_nsec = 1; /* all zero would disarm it */
  if (timerfd_settime(lp->tfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
    lp->armed = due;
}

static void timerfd_cb(chc_loop *lp, chc_io *io, unsigned revents) {
  uint64_t ticks;
  CHC_UNUSED(revents);
  if (read(io->fd, &ticks, sizeof ticks) == (ssize_t)sizeof ticks)
    lp->armed = NOT_ARMED; /* it fired: a one-shot timerfd is now disarmed */
}

void chc_timer_init(chc_timer *t, chc_timer_cb cb) {
  t->due = 0;
  t->cb = cb;
  t->idx = 0;
  t->seq = 0;
}

/*
** A timer counts from the moment it is started, not from the step's time
** snapshot: a task may have computed for a while since (or a host left the
** loop alone), and a timer armed from the stale snapshot would fire early.
** So the clock is read here (clock_gettime through the vDSO: no syscall).
** The snapshot itself is left alone: run_timers compares against it, and a
** timer started now is due no earlier than it.
** XXX: this function cannot report ENOMEM (it returns void), and silently
** not starting a timer would leave its waiter hanging forever, so a failure
** to grow the heap aborts. The heap only holds pointers, and it grows one
** step ahead (the loop starts with room, and a start that fills it grows
** it for the next): a failed growth is retried at the next start, so only
** two failed allocations in a row reach the abort.
*/
static int heap_grow(chc_loop *lp) {
  uint32_t cap = lp->capheap ? lp->capheap * 2 : 16;
  chc_timer **h = realloc(lp->heap, cap * sizeof *h);
  if (h == NULL) return -1;
  lp->heap = h;
  lp->capheap = cap;
  return 0;
}

void chc_timer_start(chc_loop *lp, chc_timer *t, uint64_t ms_from_now) {
  /* 0 has no minimum to keep: due at once, as the clock reads now */
  uint64_t due, now = mono_us(ms_from_now != 0);
  if (!lp->running) chc_loop_update_time(lp); /* for chc_loop_now */
  due = ms_from_now > (UINT64_MAX - 1 - now) / 1000u
            ? UINT64_MAX - 1
            : now + ms_from_now * 1000u;
  t->due = due;
  t->seq = lp->seq++;
  if (t->idx != 0) {
    heap_fix(lp, t->idx - 1);
  } else {
    if (lp->nheap == lp->capheap && heap_grow(lp) < 0) {
      fputs("c_http_core: out of memory for a timer\n", stderr);
      abort();
    }
    lp->heap[lp->nheap] = t;
    heap_up(lp, lp->nheap++);
    if (lp->nheap == lp->capheap) (void)heap_grow(lp); /* ahead */
  }
  if (!lp->running) timerfd_arm(lp); /* inside a step: armed at its end */
}

void chc_timer_stop(chc_loop *lp, chc_timer *t) {
  if (t->idx != 0) heap_remove(lp, t);
}

/*
** Runs the timers due at the time snapshot taken after epoll_wait. A timer
** (re)started by a callback gets a sequence number >= `limit`, and since it
** is due no earlier than `now` it sorts after every older due timer: so
** stopping at the first root that is too new runs each timer at most once
** per step, even one that restarts itself with a 0 delay.
*/
static void run_timers(chc_loop *lp) {
  uint64_t limit = lp->seq;
  while (lp->nheap > 0) {
    chc_timer *t = lp->heap[0];
    if (t->due > lp->now || t->seq >= limit) break;
    heap_remove(lp, t);
    t->cb(lp, t);
  }
}

/* }=================================================================== */

/* {===================================================================
** fd watchers
** ====================================================================*/

void chc_io_init(chc_io *io, int fd, chc_io_cb cb) {
  io->fd = fd;
  io->events = 0;
  io->cb = cb;
  io->registered = 0;
  io->gen = 0;
}

/*
** Drops the events of `io` still pending in the current batch, so that no
** callback runs for it once it is stopped, even if its owner frees it in
** the same batch. Dispatch stamps every io of the batch with the batch
** number before running any callback, so an io not stamped has nothing
** pending and the scan (at most MAX_EVENTS entries) is skipped.
*/
static void io_invalidate(chc_loop *lp, chc_io *io) {
  int i;
  if (lp->nevents == 0 || io->gen != lp->batch) return;
  for (i = lp->evpos + 1; i < lp->nevents; i++)
    if (lp->events[i].data.ptr == io) lp->events[i].data.ptr = NULL;
}

/*
** An empty interest removes the fd from the epoll set (DEL) rather than
** keeping it with no events: a registered fd still reports EPOLLHUP and
** EPOLLERR, level-triggered, so an owner that paused a hung-up socket
** (backpressure) would make every epoll_wait return at once. Re-enabling
** costs an ADD, the same as the MOD it replaces.
*/
int chc_io_set(chc_loop *lp, chc_io *io, unsigned events) {
  struct epoll_event ev;
  int op, r;
  events &= CHC_EV_READ | CHC_EV_WRITE | CHC_EV_EDGE | CHC_EV_RDHUP;
  if ((events & (CHC_EV_READ | CHC_EV_WRITE)) == 0) {
    chc_io_stop(lp, io);
    return 0;
  }
  if (io->registered && events == io->events) return 0;
  ev.events = ((events & CHC_EV_READ) ? EPOLLIN : 0u) |
              ((events & CHC_EV_WRITE) ? EPOLLOUT : 0u) |
              ((events & CHC_EV_EDGE) ? (uint32_t)EPOLLET : 0u) |
              ((events & CHC_EV_RDHUP) ? (uint32_t)EPOLLRDHUP : 0u);
  ev.data.ptr = io;
  op = io->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  r = epoll_ctl(lp->epfd, op, io->fd, &ev);
  /* the fd number was closed and reused behind our back: follow the kernel */
  if (r < 0 && op == EPOLL_CTL_ADD && errno == EEXIST)
    r = epoll_ctl(lp->epfd, EPOLL_CTL_MOD, io->fd, &ev);
  else if (r < 0 && op == EPOLL_CTL_MOD && errno == ENOENT)
    r = epoll_ctl(lp->epfd, EPOLL_CTL_ADD, io->fd, &ev);
  if (r < 0) return -errno;
  io->registered = 1;
  io->events = events;
  return 0;
}

/*
** In a forked child the epoll instance is the parent's too: a DEL there
** would take the parent's socket out of the parent's interest list. The
** child's close() of its copy of the fd leaves the parent's alone.
*/
void chc_io_stop(chc_loop *lp, chc_io *io) {
  if (io->registered && chc_loop_inherited(lp)) {
    io->registered = 0;
  } else if (io->registered) {
    struct epoll_event ev = {0, {0}}; /* kernels before 2.6.9 want one */
    (void)epoll_ctl(lp->epfd, EPOLL_CTL_DEL, io->fd, &ev); /* ENOENT/EBADF */
    io->registered = 0;
  }
  io->events = 0;
  io_invalidate(lp, io);
}

static void dispatch(chc_loop *lp, int n) {
  int i;
  if (++lp->batch == 0) lp->batch = 1;
  for (i = 0; i < n; i++) ((chc_io *)lp->events[i].data.ptr)->gen = lp->batch;
  lp->nevents = n;
  for (i = 0; i < n; i++) {
    chc_io *io = lp->events[i].data.ptr;
    uint32_t ev = lp->events[i].events;
    unsigned revents = 0;
    if (io == NULL) continue; /* stopped earlier in this batch */
    lp->evpos = i;
    if (ev & EPOLLIN) revents |= CHC_EV_READ;
    if (ev & EPOLLOUT) revents |= CHC_EV_WRITE;
    if (ev & EPOLLRDHUP) revents |= CHC_EV_RDHUP;
    revents &= io->events; /* the interest may have shrunk in this batch */
    if (ev & (EPOLLERR | EPOLLHUP)) revents |= CHC_EV_ERROR;
    if (revents != 0) io->cb(lp, io, revents);
  }
  lp->nevents = 0;
}

/* }=================================================================== */

/* {===================================================================
** Deferred callbacks and posted calls
** ====================================================================*/

void chc_defer_init(chc_defer *d, chc_defer_cb cb) {
  d->cb = cb;
  chc_list_init(&d->node);
}

void chc_defer_queue(chc_loop *lp, chc_defer *d) {
  if (chc_list_linked(&d->node)) return;
  chc_list_insert_tail(&lp->defers, &d->node);
  /* inside a step they run before it returns; in a forked child the
  ** eventfd is the parent's, and nothing runs here any more */
  if (!lp->running && !chc_loop_inherited(lp)) wake(lp);
}

void chc_defer_cancel(chc_loop *lp, chc_defer *d) {
  CHC_UNUSED(lp);
  if (chc_list_linked(&d->node)) chc_list_remove(&d->node);
}

/*
** Each round runs what was queued when it began; callbacks may queue more
** for the next round. Work still queued after DEFER_ROUNDS stays queued for
** the next step (the caller signals the eventfd for it), so a task that
** keeps re-queueing itself cannot starve the sockets.
*/
static void run_defers(chc_loop *lp) {
  int round;
  for (round = 0; round < DEFER_ROUNDS && !chc_list_empty(&lp->defers);
       round++) {
    chc_list cur;
    cur.next = lp->defers.next; /* move the whole queue to `cur` */
    cur.prev = lp->defers.prev;
    cur.next->prev = &cur;
    cur.prev->next = &cur;
    chc_list_init(&lp->defers);
    while (!chc_list_empty(&cur)) {
      chc_defer *d = chc_container_of(cur.next, chc_defer, node);
      chc_list_remove(&d->node); /* unlinked first: it may re-queue itself */
      d->cb(lp, d);
    }
  }
}

int chc_loop_post(chc_loop *lp, void (*fn)(void *arg), void *arg) {
  post *p = malloc(sizeof *p);
  if (p == NULL) return -ENOMEM;
  p->next = NULL;
  p->fn = fn;
  p->arg = arg;
  pthread_mutex_lock(&lp->post_mu);
  *lp->post_tail = p;
  lp->post_tail = &p->next;
  pthread_mutex_unlock(&lp->post_mu);
  wake(lp);
  return 0;
}

static void evfd_cb(chc_loop *lp, chc_io *io, unsigned revents) {
  CHC_UNUSED(io);
  CHC_UNUSED(revents);
  lp->evfd_ready = 1;
}

/*
** Drain the eventfd, then clear the flag, then take the queue: in that
** order a poster that finds the flag set knows the loop has yet to take
** the queue, and one that finds it clear writes the eventfd again, so no
** post is ever left without a wake-up. (Clearing before draining could
** swallow a poster's write and leave the flag set with nothing to read.)
** Calls posted while these run wait for the next step.
*/
static void run_posts(chc_loop *lp) {
  uint64_t cnt;
  post *p;
  ssize_t r;
  if (!lp->evfd_ready && atomic_load(&lp->wakeup) == 0) return;
  lp->evfd_ready = 0;
  r = read(lp->efd, &cnt, sizeof cnt); /* EAGAIN is fine */
  (void)r;
  atomic_store(&lp->wakeup, 0);
  pthread_mutex_lock(&lp->post_mu);
  p = lp->post_head;
  lp->post_head = NULL;
  lp->post_tail = &lp->post_head;
  pthread_mutex_unlock(&lp->post_mu);
  while (p != NULL) {
    post *next = p->next;
    void (*fn)(void *) = p->fn;
    void *arg = p->arg;
    free(p);
    fn(arg);
    p = next;
  }
}

/* }=================================================================== */

chc_loop *chc_loop_new(void) {
  int err;
  chc_loop *lp = calloc(1, sizeof *lp);
  if (lp == NULL) return NULL;
  lp->epfd = lp->tfd = lp->efd = -1;
  lp->armed = NOT_ARMED;
  pthread_once(&fork_once, fork_hook);
  lp->fork_gen = atomic_load(&fork_gen);
  chc_list_init(&lp->defers);
  atomic_init(&lp->wakeup, 0);
  lp->post_tail = &lp->post_head;
  if ((err = pthread_mutex_init(&lp->post_mu, NULL)) != 0) {
    free(lp);
    errno = err;
    return NULL;
  }
  lp->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (lp->epfd < 0) goto fail;
  lp->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (lp->tfd < 0) goto fail;
  lp->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (lp->efd < 0) goto fail;
  chc_io_init(&lp->tio, lp->tfd, timerfd_cb);
  chc_io_init(&lp->eio, lp->efd, evfd_cb);
  if ((err = chc_io_set(lp, &lp->tio, CHC_EV_READ)) < 0 ||
      (err = chc_io_set(lp, &lp->eio, CHC_EV_READ)) < 0) {
    errno = -err;
    goto fail;
  }
  if (heap_grow(lp) < 0) { /* room ahead: see chc_timer_start */
    errno = ENOMEM;
    goto fail;
  }
  lp->now = mono_us(0);
  return lp;
fail:
  err = errno;
  if (lp->efd >= 0) close(lp->efd);
  if (lp->tfd >= 0) close(lp->tfd);
  if (lp->epfd >= 0) close(lp->epfd);
  pthread_mutex_destroy(&lp->post_mu);
  free(lp);
  errno = err;
  return NULL;
}

/*
** The resolver goes first: once it is shut down no worker posts to this
** loop any more. It frees every query it still has, including those whose
** result is posted but not yet run (its posted calls carry only the loop
** pointer), so the remaining post nodes are freed here without being run:
** teardown never calls back into user code. In a forked child
** (chc_loop_inherited) this only frees memory and closes the child's fds:
** the epoll set, the timerfd and the eventfd are shared with the parent,
** and closing our copies leaves the parent's alone.
*/
void chc_loop_free(chc_loop *lp) {
  post *p;
  if (lp == NULL) return;
  chc_resolver_shutdown(lp);
  if (lp->tls.release) lp->tls.release(lp->tls.p);
  if (lp->mem.release) lp->mem.release(lp->mem.p);
  p = lp->post_head;
  while (p != NULL) {
    post *next = p->next;
    free(p);
    p = next;
  }
  close(lp->efd);
  close(lp->tfd);
  close(lp->epfd);
  pthread_mutex_destroy(&lp->post_mu);
  free(lp->heap);
  free(lp);
}

int chc_loop_fd(const chc_loop *lp) { return lp->epfd; }

int chc_loop_running(const chc_loop *lp) { return lp->running; }

int chc_loop_take_interrupt(chc_loop *lp) {
  int r = lp->interrupted;
  lp->interrupted = 0;
  return r;
}

uint64_t chc_loop_now(const chc_loop *lp) { return lp->now / 1000u; }

void chc_loop_update_time(chc_loop *lp) { lp->now = mono_us(0); }

/* ms from `now` (us) to the earliest timer, rounded up; -1 without
** timers. */
static int timer_wait(const chc_loop *lp, uint64_t now) {
  uint64_t due, ms;
  if (lp->nheap == 0) return -1;
  due = lp->heap[0]->due;
  if (due <= now) return 0;
  ms = (due - now + 999u) / 1000u;
  return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* Reads the clock afresh (the cached time may be a step old); never short
** (see timer_wait). */
int chc_loop_timeout(const chc_loop *lp) {
  if (!chc_list_empty(&lp->defers) || atomic_load(&lp->wakeup) != 0) return 0;
  return timer_wait(lp, mono_us(0));
}

int chc_loop_step(chc_loop *lp, int timeout_ms) {
  int n, timeout, rounds;
  if (lp->running) return -EBUSY;
  /* its epoll set is the parent's: events taken here are the parent's */
  if (chc_loop_inherited(lp)) return -ECHILD;
  lp->running = 1;
  chc_loop_update_time(lp);
  if (!chc_list_empty(&lp->defers) || atomic_load(&lp->wakeup) != 0) {
    timeout = 0;
  } else {
    timeout = timer_wait(lp, lp->now); /* -1: no timer */
    if (timeout_ms >= 0 && (timeout < 0 || timeout_ms < timeout))
      timeout = timeout_ms;
  }
  n = epoll_wait(lp->epfd, lp->events, MAX_EVENTS, timeout);
  if (n < 0) {
    int err = errno;
    lp->running = 0;
    if (err != EINTR) return -err;
    lp->interrupted = 1;
    return 0;
  }
  chc_loop_update_time(lp);
  dispatch(lp, n);
  /* A full batch may leave ready fds behind. After a long stall (a task
  ** that computed, a host that did not step) many timeouts are due at once,
  ** and a timer must not fire for an operation whose data is already in
  ** its socket: so read every ready fd before any timer runs. The time
  ** snapshot stays the one taken before the first batch. */
  for (rounds = 0; n == MAX_EVENTS && rounds < DRAIN_ROUNDS; rounds++) {
    n = epoll_wait(lp->epfd, lp->events, MAX_EVENTS, 0);
    if (n <= 0) break;
    dispatch(lp, n);
  }
  run_posts(lp);
  run_timers(lp);
  run_defers(lp);
  if (!chc_list_empty(&lp->defers)) wake(lp);
  timerfd_arm(lp);
  lp->running = 0;
  return 0;
}

struct chc_resolver **chc_loop_resolver_slot(chc_loop *lp) {
  return &lp->resolver;
}

chc_loop_ext *chc_loop_tls_slot(chc_loop *lp) { return &lp->tls; }

chc_loop_ext *chc_loop_mem_slot(chc_loop *lp) { return &lp->mem; }

void chc_loop_set_data(chc_loop *lp, void *data) { lp->data = data; }

void *chc_loop_get_data(const chc_loop *lp) { return lp->data; }
