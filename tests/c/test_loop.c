/*
** test_loop.c: standalone tests of src/loop.c and src/resolver.c.
** Build and run with tests/c/Makefile (`make -C tests/c check`). Exits
** nonzero if any check fails.
*/
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"
#include "resolver.h"


#include "check.h"

/* A loop, or the end of the test: under allocation-failure injection
** (tools/allocfail/ctests.sh) chc_loop_new may return NULL, and the tests
** below would go on with it. */
static chc_loop *new_loop(void) {
  chc_loop *lp = chc_loop_new();
  if (lp == NULL) {
    fprintf(stderr, "check failed: chc_loop_new() returned NULL\n");
    exit(1);
  }
  return lp;
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int fd_readable(int fd, int timeout_ms) {
  struct pollfd p = {fd, POLLIN, 0};
  return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

/* {===================== timers ===================== */

typedef struct {
  chc_timer t;
  int id;
} ttimer;

static int order[16], norder;

static void order_cb(chc_loop *lp, chc_timer *t) {
  (void)lp;
  order[norder++] = chc_container_of(t, ttimer, t)->id;
}

static int self_count;
static void self_restart_cb(chc_loop *lp, chc_timer *t) {
  self_count++;
  chc_timer_start(lp, t, 0);
}

/* Many timers started, stopped and re-armed at random, then run by the
** loop: they must fire in (due, start order) order. */
static uint64_t last_due, last_seq;
static int stress_fired, stress_ok;

static void stress_cb(chc_loop *lp, chc_timer *t) {
  (void)lp;
  if (t->due < last_due || (t->due == last_due && t->seq < last_seq))
    stress_ok = 0;
  last_due = t->due;
  last_seq = t->seq;
  stress_fired++;
}

static void heap_stress(chc_loop *lp) {
  enum { N = 300 };
  static chc_timer many[N];
  uint64_t end;
  int i;
  srand(7);
  for (i = 0; i < N; i++) {
    chc_timer_init(&many[i], stress_cb);
    chc_timer_start(lp, &many[i], (uint64_t)(rand() % 20));
  }
  for (i = 0; i < N; i += 2) chc_timer_stop(lp, &many[i]);
  for (i = 1; i < N; i += 4) chc_timer_start(lp, &many[i], rand() % 20);
  for (i = 3; i < N; i += 8) chc_timer_start(lp, &many[i], 30);
  last_due = last_seq = 0;
  stress_fired = 0;
  stress_ok = 1;
  end = now_ms() + 2000;
  while (chc_loop_timeout(lp) >= 0 && now_ms() < end)
    CHECK(chc_loop_step(lp, -1) == 0);
  CHECK(stress_ok && stress_fired == N / 2);
}

static ttimer *three;
static void start_three_cb(chc_loop *lp, chc_defer *d) {
  (void)d;
  chc_timer_start(lp, &three[6].t, 2);
  chc_timer_start(lp, &three[4].t, 2);
  chc_timer_start(lp, &three[5].t, 2);
}

static void test_timers(void) {
  chc_loop *lp = new_loop();
  ttimer t[7];
  int i;
  uint64_t end;
  CHECK(lp != NULL);
  CHECK(chc_loop_timeout(lp) == -1);
  for (i = 0; i < 7; i++) {
    chc_timer_init(&t[i].t, order_cb);
    t[i].id = i;
  }
  norder = 0;
  chc_timer_start(lp, &t[1].t, 30);
  chc_timer_start(lp, &t[2].t, 10);
  chc_timer_start(lp, &t[3].t, 10); /* same due as 2: runs after it */
  chc_timer_start(lp, &t[4].t, 20);
  chc_timer_stop(lp, &t[4].t);
  CHECK(!chc_timer_active(&t[4].t));
  chc_timer_start(lp, &t[5].t, 500);
  chc_timer_start(lp, &t[5].t, 5); /* re-armed earlier */
  chc_timer_start(lp, &t[6].t, 5);
  chc_timer_start(lp, &t[6].t, 40); /* re-armed later */
  CHECK(chc_timer_active(&t[6].t));
  i = chc_loop_timeout(lp);
  /* timers count from a fresh clock and the wait is rounded up to whole ms
  ** (never short), so the 5 ms timer may be reported as 6 ms away */
  CHECK(i >= 0 && i <= 6);
  end = now_ms() + 2000;
  while (norder < 5 && now_ms() < end) CHECK(chc_loop_step(lp, -1) == 0);
  CHECK(norder == 5);
  CHECK(order[0] == 5 && order[1] == 2 && order[2] == 3 && order[3] == 1 &&
        order[4] == 6);
  CHECK(chc_loop_timeout(lp) == -1);

  /* equal due times inside a step (one time snapshot): FIFO */
  {
    chc_defer d;
    norder = 0;
    chc_defer_init(&d, start_three_cb);
    three = t;
    chc_defer_queue(lp, &d);
    end = now_ms() + 2000;
    while (norder < 3 && now_ms() < end) CHECK(chc_loop_step(lp, -1) == 0);
    CHECK(norder == 3 && order[0] == 6 && order[1] == 4 && order[2] == 5);
    /* each is armed from the clock when started: never earlier */
    CHECK(t[6].t.due <= t[4].t.due && t[4].t.due <= t[5].t.due);
  }

  /* a timer restarting itself with 0 delay runs once per step */
  chc_timer_init(&t[0].t, self_restart_cb);
  self_count = 0;
  chc_timer_start(lp, &t[0].t, 0);
  CHECK(chc_loop_step(lp, 0) == 0);
  CHECK(self_count == 1);
  CHECK(chc_loop_step(lp, 0) == 0);
  CHECK(self_count == 2);
  CHECK(chc_loop_timeout(lp) == 0);
  CHECK(fd_readable(chc_loop_fd(lp), 0)); /* due: the timerfd says so */
  chc_timer_stop(lp, &t[0].t);

  heap_stress(lp);
  chc_timer_start(lp, &t[1].t, 100000); /* forgotten by free */
  chc_loop_free(lp);
}

/* }==================================================== */

/* {===================== defers ===================== */

static char dlog[64];
static int ndlog;

typedef struct {
  chc_defer d;
  char tag;
} tdefer;

static void log_cb(chc_loop *lp, chc_defer *d) {
  (void)lp;
  dlog[ndlog++] = chc_container_of(d, tdefer, d)->tag;
}

static int forever_count;
static void forever_cb(chc_loop *lp, chc_defer *d) {
  forever_count++;
  chc_defer_queue(lp, d);
}

static int reentry_rc;
static void reentry_cb(chc_loop *lp, chc_defer *d) {
  (void)d;
  reentry_rc = chc_loop_step(lp, 0);
}

static void test_defers(void) {
  chc_loop *lp = new_loop();
  tdefer a, b, c;
  chc_defer f, r;
  chc_defer_init(&a.d, log_cb);
  chc_defer_init(&b.d, log_cb);
  chc_defer_init(&c.d, log_cb);
  a.tag = 'a';
  b.tag = 'b';
  c.tag = 'c';
  ndlog = 0;
  chc_defer_queue(lp, &a.d);
  chc_defer_queue(lp, &b.d);
  chc_defer_queue(lp, &a.d); /* already queued: no-op */
  chc_defer_queue(lp, &c.d);
  chc_defer_cancel(lp, &b.d);
  CHECK(chc_loop_timeout(lp) == 0);
  CHECK(chc_loop_step(lp, 1000) == 0);
  CHECK(ndlog == 2 && dlog[0] == 'a' && dlog[1] == 'c');
  CHECK(chc_loop_timeout(lp) == -1);

  /* bounded rounds: a callback that re-queues itself does not spin */
  chc_defer_init(&f, forever_cb);
  forever_count = 0;
  chc_defer_queue(lp, &f);
  CHECK(chc_loop_step(lp, 0) == 0);
  CHECK(forever_count == 64);
  CHECK(chc_loop_timeout(lp) == 0);
  CHECK(fd_readable(chc_loop_fd(lp), 0)); /* work left: fd readable */
  CHECK(chc_loop_step(lp, 0) == 0);
  CHECK(forever_count == 128);
  chc_defer_cancel(lp, &f);
  CHECK(chc_loop_step(lp, 0) == 0); /* drains the stale wake-up */
  CHECK(!fd_readable(chc_loop_fd(lp), 0));

  /* re-entry is refused */
  chc_defer_init(&r, reentry_cb);
  reentry_rc = 0;
  chc_defer_queue(lp, &r);
  CHECK(chc_loop_running(lp) == 0);
  CHECK(chc_loop_step(lp, 0) == 0);
  CHECK(reentry_rc == -EBUSY);

  chc_defer_queue(lp, &a.d); /* forgotten by free */
  chc_loop_free(lp);
}

/* }==================================================== */

/* {===================== ios ===================== */

typedef struct owner {
  chc_io io;
  int sv[2];
  struct owner *peer;
  int calls;
  unsigned revents;
} owner;

static void read_cb(chc_loop *lp, chc_io *io, unsigned revents) {
  owner *o = chc_container_of(io, owner, io);
  char c;
  (void)lp;
  o->calls++;
  o->revents |= revents;
  if (revents & CHC_EV_READ) CHECK(read(io->fd, &c, 1) >= 0);
}

static void test_io_basic(void) {
  chc_loop *lp = new_loop();
  owner o;
  memset(&o, 0, sizeof o);
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, o.sv) == 0);
  chc_io_init(&o.io, o.sv[0], read_cb);
  CHECK(chc_io_set(lp, &o.io, CHC_EV_READ) == 0);
  CHECK(chc_io_set(lp, &o.io, CHC_EV_READ) == 0); /* unchanged: no-op */
  CHECK(chc_loop_step(lp, 0) == 0);
  CHECK(o.calls == 0);
  CHECK(write(o.sv[1], "x", 1) == 1);
  CHECK(fd_readable(chc_loop_fd(lp), 1000));
  CHECK(chc_loop_step(lp, 1000) == 0);
  CHECK(o.calls == 1 && o.revents == CHC_EV_READ);

  /* write interest */
  o.calls = 0;
  o.revents = 0;
  CHECK(chc_io_set(lp, &o.io, CHC_EV_WRITE) == 0);
  CHECK(chc_loop_step(lp, 1000) == 0);
  CHECK(o.calls == 1 && o.revents == CHC_EV_WRITE);

  /* empty interest: nothing reported */
  o.calls = 0;
  CHECK(chc_io_set(lp, &o.io, 0) == 0);
  CHECK(write(o.sv[1], "y", 1) == 1);
  CHECK(chc_loop_step(lp, 0) == 0);
  CHECK(o.calls == 0);
  CHECK(chc_io_set(lp, &o.io, CHC_EV_READ) == 0);
  CHECK(chc_loop_step(lp, 1000) == 0);
  CHECK(o.calls == 1);

  /* a hang-up is reported as an error */
  o.calls = 0;
  o.revents = 0;
  close(o.sv[1]);
  CHECK(chc_loop_step(lp, 1000) == 0);
  CHECK(o.calls == 1 && (o.revents & CHC_EV_ERROR));

  chc_io_stop(lp, &o.io);
  chc_io_stop(lp, &o.io); /* idempotent */
  close(o.sv[0]);
  chc_loop_free(lp);
}

static int io_calls;
static owner *freed_owner;

/*
** Both owners are readable in the same batch; whichever callback runs first
** stops and frees the other. The other's callback must not run (ASan and
** valgrind would also catch the use after free).
*/
static void killer_cb(chc_loop *lp, chc_io *io, unsigned revents) {
  owner *o = chc_container_of(io, owner, io);
  (void)revents;
  io_calls++;
  if (o->peer != NULL) {
    owner *p = o->peer;
    chc_io_stop(lp, &p->io);
    close(p->sv[0]);
    close(p->sv[1]);
    freed_owner = p;
    free(p);
    o->peer = NULL;
  }
  chc_io_stop(lp, io);
}

static void test_io_invalidate(void) {
  chc_loop *lp = new_loop();
  owner *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b), *survivor;
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, a->sv) == 0);
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, b->sv) == 0);
  a->peer = b;
  b->peer = a;
  chc_io_init(&a->io, a->sv[0], killer_cb);
  chc_io_init(&b->io, b->sv[0], killer_cb);
  CHECK(chc_io_set(lp, &a->io, CHC_EV_READ) == 0);
  CHECK(chc_io_set(lp, &b->io, CHC_EV_READ) == 0);
  CHECK(write(a->sv[1], "x", 1) == 1);
  CHECK(write(b->sv[1], "x", 1) == 1);
  io_calls = 0;
  freed_owner = NULL;
  CHECK(fd_readable(chc_loop_fd(lp), 1000));
  CHECK(chc_loop_step(lp, 1000) == 0);
  CHECK(io_calls == 1);
  CHECK(chc_loop_step(lp, 0) == 0);
  CHECK(io_calls == 1);
  CHECK(freed_owner == a || freed_owner == b);
  survivor = freed_owner == a ? b : a; /* its callback ran */
  CHECK(!survivor->io.registered);
  close(survivor->sv[0]);
  close(survivor->sv[1]);
  free(survivor);
  chc_loop_free(lp);
}

/* }==================================================== */

/* {================ posts and embedding ================ */

static int posted;
static void post_fn(void *arg) { posted += *(int *)arg; }

static void *poster(void *arg) {
  static int one = 1;
  sleep_ms(50);
  CHECK(chc_loop_post(arg, post_fn, &one) == 0);
  return NULL;
}

static void test_post(void) {
  static int two = 2;
  chc_loop *lp = new_loop();
  pthread_t th;
  uint64_t t0;
  posted = 0;
  CHECK(pthread_create(&th, NULL, poster, lp) == 0);
  t0 = now_ms();
  CHECK(chc_loop_step(lp, -1) == 0); /* blocks until the post arrives */
  CHECK(posted == 1);
  CHECK(now_ms() - t0 < 1500);
  pthread_join(th, NULL);
  CHECK(!fd_readable(chc_loop_fd(lp), 0));
  /* posting makes the fd readable; a post never run is freed with the
  ** loop, not run */
  CHECK(chc_loop_post(lp, post_fn, &two) == 0);
  CHECK(fd_readable(chc_loop_fd(lp), 0));
  CHECK(chc_loop_timeout(lp) == 0);
  chc_loop_free(lp);
  CHECK(posted == 1);
}

static int tfired;
static void tfire_cb(chc_loop *lp, chc_timer *t) {
  (void)lp;
  (void)t;
  tfired++;
}
static chc_timer emb_timer;
static void start_timer_cb(chc_loop *lp, chc_defer *d) {
  (void)d;
  chc_timer_start(lp, &emb_timer, 100);
}

static void test_embedding(void) {
  chc_loop *lp = new_loop();
  int fd = chc_loop_fd(lp);
  tdefer a;
  chc_defer s;
  uint64_t t0, dt;
  int n;
  CHECK(!fd_readable(fd, 0));
  chc_defer_init(&a.d, log_cb);
  a.tag = 'x';
  ndlog = 0;
  chc_defer_queue(lp, &a.d); /* outside a step */
  CHECK(fd_readable(fd, 0));
  CHECK(chc_loop_timeout(lp) == 0);
  CHECK(chc_loop_step(lp, 0) == 0);
  CHECK(ndlog == 1);
  CHECK(!fd_readable(fd, 0));

  /* a timer started inside a step: the fd becomes readable when due */
  chc_timer_init(&emb_timer, tfire_cb);
  chc_defer_init(&s, start_timer_cb);
  chc_defer_queue(lp, &s);
  CHECK(chc_loop_step(lp, 0) == 0);
  CHECK(chc_timer_active(&emb_timer));
  CHECK(!fd_readable(fd, 0));
  n = chc_loop_timeout(lp);
  CHECK(n >= 0 && n <= 100);
  t0 = now_ms();
  CHECK(fd_readable(fd, 2000));
  dt = now_ms() - t0;
  CHECK(dt >= 50 && dt < 1000);
  tfired = 0;
  CHECK(chc_loop_step(lp, 0) == 0);
  CHECK(tfired == 1);
  CHECK(!fd_readable(fd, 0));

  /* a timer started outside a step arms the timerfd too */
  chc_timer_start(lp, &emb_timer, 30);
  CHECK(!fd_readable(fd, 0));
  CHECK(fd_readable(fd, 2000));
  CHECK(chc_loop_step(lp, 0) == 0);
  CHECK(tfired == 2);

  /* pushed back: an early spurious wake re-arms, then it fires on time */
  chc_timer_start(lp, &emb_timer, 20);
  chc_timer_start(lp, &emb_timer, 80);
  t0 = now_ms();
  while (tfired == 2 && now_ms() - t0 < 2000) {
    CHECK(fd_readable(fd, 2000));
    CHECK(chc_loop_step(lp, 0) == 0);
  }
  dt = now_ms() - t0;
  CHECK(tfired == 3 && dt >= 70);
  CHECK(!fd_readable(fd, 0));
  chc_loop_free(lp);
}

/* }==================================================== */

/* {===================== resolver ===================== */

typedef struct {
  int called, status, nv4, nv6;
  char msg[256];
} rres;

static _Thread_local int in_start;

static void res_cb(void *ud, int status, struct addrinfo *res,
                   const char *msg) {
  rres *r = ud;
  struct addrinfo *p;
  CHECK(!in_start); /* never called synchronously */
  r->called++;
  r->status = status;
  if (msg != NULL) snprintf(r->msg, sizeof r->msg, "%s", msg);
  for (p = res; p != NULL; p = p->ai_next) {
    if (p->ai_family == AF_INET) r->nv4++;
    if (p->ai_family == AF_INET6) r->nv6++;
    CHECK(p->ai_socktype == SOCK_STREAM);
  }
  if (status == 0) {
    CHECK(res != NULL && msg == NULL);
    chc_resolve_free_result(res);
  } else {
    CHECK(res == NULL && msg != NULL);
  }
}

static chc_resolve *start(chc_loop *lp, const char *host, rres *r) {
  chc_resolve *h;
  memset(r, 0, sizeof *r);
  in_start = 1;
  h = chc_resolve_start(lp, host, 80, res_cb, r);
  in_start = 0;
  CHECK(h != NULL);
  CHECK(r->called == 0);
  return h;
}

static void test_resolve(void) {
  chc_loop *lp = new_loop();
  rres v4, v6, v6b, loc, bad;
  uint64_t end = now_ms() + 4000;
  start(lp, "127.0.0.1", &v4);
  start(lp, "::1", &v6);
  start(lp, "[::1]", &v6b);
  start(lp, "localhost", &loc);
  start(lp, "no-such-host.invalid", &bad);
  /* literals are answered in the first step, without a thread */
  CHECK(chc_loop_step(lp, 0) == 0);
  CHECK(v4.called == 1 && v6.called == 1 && v6b.called == 1);
  while (!(loc.called && bad.called) && now_ms() < end)
    CHECK(chc_loop_step(lp, -1) == 0);
  CHECK(v4.status == 0 && v4.nv4 == 1 && v4.nv6 == 0);
  CHECK(v6.status == 0 && v6.nv6 == 1 && v6.nv4 == 0);
  CHECK(v6b.status == 0 && v6b.nv6 == 1);
  CHECK(loc.called == 1 && loc.status == 0 && loc.nv4 + loc.nv6 >= 1);
  CHECK(bad.called == 1 && bad.status != 0);
  CHECK(strncmp(bad.msg, "cannot resolve host 'no-such-host.invalid': ",
                44) == 0 &&
        strlen(bad.msg) > 44);
  printf("  (%s)\n", bad.msg);
  chc_loop_free(lp);
}

static chc_resolve *self_handle;
static int self_calls;
static void self_cancel_cb(void *ud, int status, struct addrinfo *res,
                           const char *msg) {
  (void)ud;
  (void)status;
  (void)msg;
  self_calls++;
  chc_resolve_free_result(res);
  /* too late to cancel, but harmless: it is freed once, after we return */
  chc_resolve_cancel(self_handle);
}

static void test_resolve_cancel(void) {
  enum { N = 10 };
  chc_loop *lp = new_loop();
  rres rs[N], lit, last;
  chc_resolve *h[N];
  uint64_t end;
  int i;
  /* cancelled in every stage they can be in: queued, running, posted */
  for (i = 0; i < N; i++) h[i] = start(lp, "localhost", &rs[i]);
  for (i = 0; i < N; i += 3) chc_resolve_cancel(h[i]);
  chc_resolve_cancel(start(lp, "10.1.2.3", &lit));
  sleep_ms(30); /* let some finish and be posted before their cancel */
  for (i = 1; i < N; i += 3) chc_resolve_cancel(h[i]);
  start(lp, "localhost", &last);
  end = now_ms() + 4000;
  while (now_ms() < end) {
    int pending = !last.called;
    for (i = 2; i < N; i += 3) pending |= !rs[i].called;
    if (!pending) break;
    CHECK(chc_loop_step(lp, 100) == 0);
  }
  for (i = 0; i < 5; i++) CHECK(chc_loop_step(lp, 10) == 0);
  for (i = 0; i < N; i++) CHECK(rs[i].called == (i % 3 == 2));
  CHECK(lit.called == 0);
  CHECK(last.called == 1);

  /* a cancel from inside the callback, literal and threaded */
  self_calls = 0;
  self_handle = chc_resolve_start(lp, "127.0.0.1", 1, self_cancel_cb, NULL);
  CHECK(chc_loop_step(lp, 0) == 0);
  CHECK(self_calls == 1);
  self_handle = chc_resolve_start(lp, "localhost", 1, self_cancel_cb, NULL);
  end = now_ms() + 4000;
  while (self_calls == 1 && now_ms() < end) CHECK(chc_loop_step(lp, 100) == 0);
  CHECK(self_calls == 2);

  /* results finished but never delivered, jobs never started, a queued
  ** literal: the loop frees them all, calling nothing */
  start(lp, "localhost", &last);
  start(lp, "localhost", &lit);
  start(lp, "127.0.0.1", &rs[0]);
  sleep_ms(50);
  start(lp, "localhost", &rs[1]);
  chc_loop_free(lp);
  CHECK(last.called == 0 && lit.called == 0 && rs[0].called == 0);
}

/* }==================================================== */

/* {================ two loops, two threads ================ */

typedef struct {
  chc_timer t;
  int n;
} ctimer;

static void ctick(chc_loop *lp, chc_timer *t) {
  ctimer *c = chc_container_of(t, ctimer, t);
  if (++c->n < 5) chc_timer_start(lp, t, 5);
}

static void *loop_thread(void *arg) {
  int *ok = arg;
  chc_loop *lp = new_loop();
  rres a, b;
  ctimer c;
  uint64_t end = now_ms() + 4000;
  if (lp == NULL) return NULL;
  chc_timer_init(&c.t, ctick);
  c.n = 0;
  chc_timer_start(lp, &c.t, 5);
  start(lp, "localhost", &a);
  start(lp, "127.0.0.1", &b);
  while (!(a.called && b.called && c.n == 5) && now_ms() < end)
    CHECK(chc_loop_step(lp, -1) == 0);
  *ok = a.called == 1 && b.called == 1 && c.n == 5 && a.status == 0 &&
        b.status == 0;
  chc_loop_free(lp);
  return NULL;
}

/* {===================== signals ===================== */

static volatile sig_atomic_t host_sig;
static void host_handler(int sig) { host_sig = sig; }

static void *send_usr1(void *arg) {
  sleep_ms(100);
  pthread_kill(*(pthread_t *)arg, SIGUSR1);
  return NULL;
}

/* A host's own signal handler runs during a step, which then returns at
** once (0, the interruption noted for the scheduler) instead of waiting
** out its timeout, with a resolver worker alive meanwhile. */
static void test_host_signal(void) {
  chc_loop *lp = new_loop();
  struct sigaction sa, old;
  pthread_t self = pthread_self(), th;
  rres loc;
  uint64_t t0, end;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = host_handler;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, &old);
  host_sig = 0;
  start(lp, "localhost", &loc); /* a resolver thread exists meanwhile */
  end = now_ms() + 4000;
  while (!loc.called && now_ms() < end) CHECK(chc_loop_step(lp, 100) == 0);
  CHECK(loc.called == 1);
  (void)chc_loop_take_interrupt(lp);
  CHECK(pthread_create(&th, NULL, send_usr1, &self) == 0);
  t0 = now_ms();
  CHECK(chc_loop_step(lp, 3000) == 0);
  CHECK(now_ms() - t0 < 2000);
  CHECK(host_sig == SIGUSR1);
  CHECK(chc_loop_take_interrupt(lp) == 1);
  CHECK(chc_loop_take_interrupt(lp) == 0); /* once */
  pthread_join(th, NULL);
  sigaction(SIGUSR1, &old, NULL);
  chc_loop_free(lp);
}

/* }==================================================== */

static void test_two_loops(void) {
  pthread_t th[2];
  int ok[2] = {0, 0}, i;
  for (i = 0; i < 2; i++)
    CHECK(pthread_create(&th[i], NULL, loop_thread, &ok[i]) == 0);
  for (i = 0; i < 2; i++) pthread_join(th[i], NULL);
  CHECK(ok[0] && ok[1]);
}

/* }==================================================== */

int main(void) {
  static const struct {
    const char *name;
    void (*fn)(void);
  } tests[] = {
      {"timers", test_timers},
      {"defers", test_defers},
      {"io_basic", test_io_basic},
      {"io_invalidate", test_io_invalidate},
      {"post", test_post},
      {"embedding", test_embedding},
      {"resolve", test_resolve},
      {"resolve_cancel", test_resolve_cancel},
      {"two_loops", test_two_loops},
      {"host_signal", test_host_signal},
  };
  size_t i;
  for (i = 0; i < sizeof tests / sizeof tests[0]; i++) {
    int before = failures;
    uint64_t t0 = now_ms();
    tests[i].fn();
    printf("%-16s %s (%llu ms)\n", tests[i].name,
           failures == before ? "ok" : "FAILED",
           (unsigned long long)(now_ms() - t0));
  }
  if (failures) {
    printf("%d check(s) failed\n", failures);
    return 1;
  }
  printf("all passed\n");
  return 0;
}
