/*
** resolver.c: getaddrinfo in worker threads, one per lookup in
** flight (up to a cap), lookups of the same name shared.
**
** Why threads and getaddrinfo rather than an asynchronous DNS library
** (c-ares): getaddrinfo is what every other program on the machine uses,
** so a name resolves here exactly as it does for curl or ssh: nsswitch.conf
** (/etc/hosts, mDNS, systemd-resolved, LDAP...), resolv.conf's search
** domains and options, AI_ADDRCONFIG. c-ares reads /etc/hosts and
** resolv.conf itself and knows no NSS module. What c-ares gives and a
** blocking call does not (cancelling, nothing to wait for at exit) is had
** here by abandoning: a lookup nobody wants any more keeps its worker until
** getaddrinfo returns, and nobody waits for that worker.
**
** Objects. A `query` is one getaddrinfo call (host, port); a chc_resolve
** handle is one caller waiting for a query (or for a literal). Stages of a
** query:
**   QUEUED   on rs->queue, waiting for a worker
**   RUNNING  a worker is in getaddrinfo with it (the worker owns host/port
**            and the result fields until it marks it DONE)
**   DONE     on rs->done, waiting for the loop thread to deliver it
** The fields marked (mu) are shared with workers; the rest belong to the
** loop thread: handles, the waiter lists, and rs->queries (every query
** that can still be joined or delivered).
**
** Lifetime. The resolver is reference-counted: one reference for the loop,
** one per worker thread. At shutdown the loop frees every handle and every
** query no worker holds, and sets rs->lp to NULL; a worker that finishes a
** query then frees it instead of posting it, and the last one out frees the
** resolver. Workers are joinable while idle: shutdown wakes and joins the
** idle ones (they exit at once, and a thread that has fully exited leaves
** nothing behind, glibc's per-thread resolver state included), and detaches
** the ones inside getaddrinfo, which nobody waits for. A worker that exits
** after idling IDLE_SECONDS detaches itself. Finished queries are batched on
** rs->done and one posted call (whose argument is the loop, not a query)
** delivers them all, so the loop's post queue never points into resolver
** memory. Workers post under rs->mu, and shutdown clears rs->lp under it:
** no worker ever posts to a freed loop.
**
** The library stays loaded while a worker may run: a detached thread
** returning from getaddrinfo into unmapped code (after lua_close unloaded
** the module) would crash, so the first worker pins the module (dlopen
** RTLD_NODELETE of itself).
*/
#include "resolver.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* An idle worker waits this long for the next lookup, then exits. */
#define IDLE_SECONDS 5

enum { Q_QUEUED, Q_RUNNING, Q_DONE };

typedef struct chc_resolver chc_resolver;
typedef struct query query;

/* A worker thread's record (mu), freed by the worker as it exits. th is
** written by pthread_create while the creator holds mu: the worker, which
** takes mu first, never sees it unset. */
typedef struct worker_rec {
  chc_list node;   /* on rs->workers */
  chc_resolver *rs;
  pthread_t th;
  int busy;        /* inside getaddrinfo */
  int joined;      /* shutdown joins (or detached) it: do not detach */
} worker_rec;

struct chc_resolver {
  pthread_mutex_t mu;
  pthread_cond_t cv;   /* idle workers wait here for queries (mu) */
  chc_loop *lp;        /* NULL once the loop is gone (mu) */
  int refs;            /* the loop's + one per worker (mu) */
  chc_list queue;      /* QUEUED queries, FIFO (mu) */
  chc_list done;       /* DONE queries not yet taken by the loop (mu) */
  int nqueued;         /* on queue (mu) */
  int nthreads;        /* live workers (mu) */
  int nidle;           /* workers waiting on cv (mu) */
  int post_pending;    /* a delivery is posted and not yet run (mu) */
  chc_list workers;    /* worker_rec of every live worker (mu) */
  chc_list queries;    /* queries not yet delivered (loop thread) */
  chc_list literals;   /* literal handles not yet delivered (loop thread) */
};

struct query {
  chc_list qnode;        /* on rs->queue or rs->done (mu) */
  chc_list lnode;        /* on rs->queries (loop thread) */
  chc_list waiters;      /* chc_resolve handles (loop thread) */
  int state;             /* Q_* (mu) */
  int status;            /* getaddrinfo result (worker, then loop) */
  int syserr;            /* errno for EAI_SYSTEM */
  struct addrinfo *res;
  char port[12];
  char host[];
};

struct chc_resolve {
  chc_list node;         /* on its query's waiters, or on rs->literals */
  chc_resolver *rs;
  query *q;              /* NULL for a literal */
  chc_resolve_cb cb;
  void *ud;
  int delivering;        /* its callback is running: a cancel is a no-op */
  chc_defer defer;       /* literals: the deferred answer */
  int status, syserr;    /* literals */
  struct addrinfo *res;  /* literals: getaddrinfo's own list */
  char lit[INET6_ADDRSTRLEN + 1]; /* literals: the address, for messages */
};

/* {===================================================================
** Results
** ==================================================================== */

/*
** A copy of a getaddrinfo list in one block (every caller of a shared query
** gets its own): the nodes, then their addresses. Names (ai_canonname) are
** not asked for, so not copied.
*/
static struct addrinfo *copy_result(const struct addrinfo *src) {
  const struct addrinfo *p;
  size_t n = 0, addrs = 0, off;
  const size_t al = alignof(struct sockaddr_storage);
  struct addrinfo *out;
  char *base;
  for (p = src; p != NULL; p = p->ai_next) {
    n++;
    addrs += (p->ai_addrlen + al - 1) / al * al;
  }
  if (n == 0) return NULL;
  off = (n * sizeof *out + al - 1) / al * al;
  base = malloc(off + addrs);
  if (base == NULL) return NULL;
  out = (struct addrinfo *)(void *)base;
  for (p = src, n = 0; p != NULL; p = p->ai_next, n++) {
    struct addrinfo *a = &out[n];
    *a = *p;
    a->ai_canonname = NULL;
    a->ai_addr = (struct sockaddr *)(void *)(base + off);
    memcpy(a->ai_addr, p->ai_addr, p->ai_addrlen);
    off += (p->ai_addrlen + al - 1) / al * al;
    a->ai_next = p->ai_next != NULL ? &out[n + 1] : NULL;
  }
  return out;
}

void chc_resolve_free_result(struct addrinfo *res) { free(res); }

/*
** Calls back one handle with its own copy of the result, then frees the
** handle. The handle is off every list; a cancel of it from inside its own
** callback finds it delivering and does nothing.
*/
static void deliver(chc_resolve *r, const char *host, int status, int syserr,
                    const struct addrinfo *src) {
  char msg[512];
  struct addrinfo *res = NULL;
  if (status == 0 && (res = copy_result(src)) == NULL) {
    status = EAI_MEMORY;
  }
  if (status == EAI_SYSTEM)
    snprintf(msg, sizeof msg, "cannot resolve host '%s': %s (%s)", host,
             gai_strerror(status), strerror(syserr));
  else if (status != 0)
    snprintf(msg, sizeof msg, "cannot resolve host '%s': %s", host,
             gai_strerror(status));
  r->delivering = 1;
  r->cb(r->ud, status, res, status != 0 ? msg : NULL);
  free(r);
}

static void query_free(query *q) {
  if (q->res != NULL) freeaddrinfo(q->res);
  free(q);
}

/* }=================================================================== */

/* {===================================================================
** The loop side: delivery
** ==================================================================== */

/*
** Posted by a worker (argument: the loop). Takes every finished query at
** once; the next worker to finish posts again. A query is taken off
** rs->queries first, so a callback that starts a lookup of the same name
** starts a fresh one.
*/
static void deliver_done(void *arg) {
  chc_resolver *rs = *chc_loop_resolver_slot(arg);
  chc_list batch;
  if (rs == NULL) return; /* shut down: its queries are already freed */
  chc_list_init(&batch);
  pthread_mutex_lock(&rs->mu);
  if (!chc_list_empty(&rs->done)) { /* move the whole list to `batch` */
    batch.next = rs->done.next;
    batch.prev = rs->done.prev;
    batch.next->prev = &batch;
    batch.prev->next = &batch;
    chc_list_init(&rs->done);
  }
  rs->post_pending = 0;
  pthread_mutex_unlock(&rs->mu);
  while (!chc_list_empty(&batch)) {
    query *q = chc_container_of(batch.next, query, qnode);
    chc_list_remove(&q->qnode);
    chc_list_remove(&q->lnode);
    /* one at a time: a callback may cancel another waiter of q */
    while (!chc_list_empty(&q->waiters)) {
      chc_resolve *r = chc_container_of(q->waiters.next, chc_resolve, node);
      chc_list_remove(&r->node);
      deliver(r, q->host, q->status, q->syserr, q->res);
    }
    query_free(q);
  }
}

static void deliver_literal(chc_loop *lp, chc_defer *d) {
  chc_resolve *r = chc_container_of(d, chc_resolve, defer);
  struct addrinfo *res = r->res;
  CHC_UNUSED(lp);
  chc_list_remove(&r->node);
  r->res = NULL;
  deliver(r, r->lit, r->status, r->syserr, res); /* frees r */
  if (res != NULL) freeaddrinfo(res);
}

/* }=================================================================== */

/* {===================================================================
** Workers
** ==================================================================== */

/* Drops a reference (mu held); returns nonzero if it was the last one:
** the caller then unlocks and frees the resolver. */
static int unref(chc_resolver *rs) { return --rs->refs == 0; }

static void resolver_free(chc_resolver *rs) {
  pthread_cond_destroy(&rs->cv);
  pthread_mutex_destroy(&rs->mu);
  free(rs);
}

/*
** Tells the loop that queries are on `done` (mu held). chc_loop_post only
** fails for lack of memory: retry until it works or the loop is gone.
*/
static void post_done(chc_resolver *rs) {
  while (rs->lp != NULL &&
         chc_loop_post(rs->lp, deliver_done, rs->lp) != 0) {
    struct timespec ts = {0, 10 * 1000000L};
    pthread_mutex_unlock(&rs->mu);
    nanosleep(&ts, NULL);
    pthread_mutex_lock(&rs->mu);
  }
}

static void *worker(void *arg) {
  worker_rec *w = arg;
  chc_resolver *rs = w->rs;
  int last;
  pthread_mutex_lock(&rs->mu);
  for (;;) {
    struct addrinfo hints, *res = NULL;
    query *q;
    int st;
    while (rs->lp != NULL && chc_list_empty(&rs->queue)) {
      struct timespec until;
      int err;
      clock_gettime(CLOCK_REALTIME, &until);
      until.tv_sec += IDLE_SECONDS;
      rs->nidle++;
      err = pthread_cond_timedwait(&rs->cv, &rs->mu, &until);
      rs->nidle--;
      if (err == ETIMEDOUT && chc_list_empty(&rs->queue)) break;
    }
    if (rs->lp == NULL || chc_list_empty(&rs->queue)) break;
    q = chc_container_of(rs->queue.next, query, qnode);
    chc_list_remove(&q->qnode);
    rs->nqueued--;
    q->state = Q_RUNNING;
    w->busy = 1;
    pthread_mutex_unlock(&rs->mu);

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV;
    st = getaddrinfo(q->host, q->port, &hints, &res);
    q->syserr = st == EAI_SYSTEM ? errno : 0;
    q->status = st;
    q->res = st == 0 ? res : NULL;

    pthread_mutex_lock(&rs->mu);
    w->busy = 0;
    if (rs->lp == NULL) { /* abandoned: the loop is gone */
      query_free(q);
      continue;
    }
    q->state = Q_DONE;
    chc_list_insert_tail(&rs->done, &q->qnode);
    if (!rs->post_pending) {
      rs->post_pending = 1;
      post_done(rs);
    }
  }
  /* idle too long: nobody will join this thread */
  if (!w->joined) pthread_detach(w->th);
  chc_list_remove(&w->node);
  free(w);
  rs->nthreads--;
  last = unref(rs);
  pthread_mutex_unlock(&rs->mu);
  if (last) resolver_free(rs);
  return NULL;
}

/* Keeps this module mapped for good (see the top comment). */
static void pin_module(void) {
  Dl_info info;
  if (dladdr((void *)pin_module, &info) != 0 && info.dli_fname != NULL)
    (void)dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}
static pthread_once_t pin_once = PTHREAD_ONCE_INIT;

/*
** Starts a worker (mu held). It starts with every signal blocked
** (the mask is inherited from the creating thread, so there is no window
** in which one could land there): signals are for the host's threads.
*/
static int spawn_worker(chc_resolver *rs) {
  sigset_t all, old;
  worker_rec *w;
  int err;
  pthread_once(&pin_once, pin_module);
  w = calloc(1, sizeof *w);
  if (w == NULL) return ENOMEM;
  w->rs = rs;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  err = pthread_create(&w->th, NULL, worker, w);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (err != 0) {
    free(w);
    return err;
  }
  chc_list_insert_tail(&rs->workers, &w->node);
  rs->nthreads++;
  rs->refs++;
  return 0;
}

/* }=================================================================== */

/* {===================================================================
** The loop side: starting and cancelling
** ==================================================================== */

static chc_resolver *resolver_get(chc_loop *lp) {
  struct chc_resolver **slot = chc_loop_resolver_slot(lp);
  chc_resolver *rs = *slot;
  if (rs != NULL) return rs;
  rs = calloc(1, sizeof *rs);
  if (rs == NULL) return NULL;
  if (pthread_mutex_init(&rs->mu, NULL) != 0) {
    free(rs);
    return NULL;
  }
  if (pthread_cond_init(&rs->cv, NULL) != 0) {
    pthread_mutex_destroy(&rs->mu);
    free(rs);
    return NULL;
  }
  rs->lp = lp;
  rs->refs = 1;
  chc_list_init(&rs->queue);
  chc_list_init(&rs->done);
  chc_list_init(&rs->workers);
  chc_list_init(&rs->queries);
  chc_list_init(&rs->literals);
  *slot = rs;
  return rs;
}

/*
** Is `host` an IP literal? Copies the address to `out` without the
** brackets of a "[::1]" URL form.
*/
static int ip_literal(const char *host, char *out, size_t outsz) {
  unsigned char addr[sizeof(struct in6_addr)];
  size_t len = strlen(host);
  if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
    if (len - 2 >= outsz) return 0;
    memcpy(out, host + 1, len - 2);
    out[len - 2] = '\0';
    return inet_pton(AF_INET6, out, addr) == 1;
  }
  if (len >= outsz) return 0;
  memcpy(out, host, len + 1);
  return inet_pton(AF_INET, out, addr) == 1 ||
         inet_pton(AF_INET6, out, addr) == 1;
}

int chc_resolve_literal(const char *host, int port, struct addrinfo **res) {
  char lit[INET6_ADDRSTRLEN + 1], sport[12];
  struct addrinfo hints, *ai = NULL;
  *res = NULL;
  if (!ip_literal(host, lit, sizeof lit)) return 0;
  snprintf(sport, sizeof sport, "%d", port);
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  if (getaddrinfo(lit, sport, &hints, &ai) != 0) return 0;
  *res = copy_result(ai);
  freeaddrinfo(ai);
  return *res != NULL;
}

/* numeric: getaddrinfo never blocks, so no thread is needed */
static void start_literal(chc_resolver *rs, chc_loop *lp, chc_resolve *r,
                          const char *lit, const char *port) {
  struct addrinfo hints;
  snprintf(r->lit, sizeof r->lit, "%s", lit);
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  r->status = getaddrinfo(lit, port, &hints, &r->res);
  if (r->status == EAI_SYSTEM) r->syserr = errno;
  if (r->status != 0) r->res = NULL;
  chc_defer_init(&r->defer, deliver_literal);
  chc_defer_queue(lp, &r->defer);
  chc_list_insert_tail(&rs->literals, &r->node);
}

/* The query for host:port already in flight, if any. */
static query *find_query(chc_resolver *rs, const char *host,
                         const char *port) {
  chc_list *n;
  for (n = rs->queries.next; n != &rs->queries; n = n->next) {
    query *q = chc_container_of(n, query, lnode);
    if (strcmp(q->host, host) == 0 && strcmp(q->port, port) == 0) return q;
  }
  return NULL;
}

/* A new query on the queue, with a worker for it unless an idle one can
** take it or the cap is reached. NULL if not even one worker exists. */
static query *start_query(chc_resolver *rs, const char *host,
                          const char *port) {
  size_t len = strlen(host);
  query *q = calloc(1, sizeof *q + len + 1);
  if (q == NULL) return NULL;
  memcpy(q->host, host, len + 1);
  snprintf(q->port, sizeof q->port, "%s", port);
  chc_list_init(&q->waiters);
  pthread_mutex_lock(&rs->mu);
  q->state = Q_QUEUED;
  chc_list_insert_tail(&rs->queue, &q->qnode);
  rs->nqueued++;
  /* a woken worker stays counted idle until it takes a query, so this only
  ** starts a thread when the idle ones cannot cover the queue */
  if (rs->nqueued > rs->nidle && rs->nthreads < CHC_RESOLVER_MAX_THREADS &&
      spawn_worker(rs) != 0 && rs->nthreads == 0) {
    chc_list_remove(&q->qnode); /* no worker at all: give up */
    rs->nqueued--;
    pthread_mutex_unlock(&rs->mu);
    free(q);
    errno = EAGAIN;
    return NULL;
  }
  if (rs->nidle > 0) pthread_cond_signal(&rs->cv);
  pthread_mutex_unlock(&rs->mu);
  chc_list_insert_tail(&rs->queries, &q->lnode);
  return q;
}

chc_resolve *chc_resolve_start(chc_loop *lp, const char *host, int port,
                               chc_resolve_cb cb, void *ud) {
  char lit[INET6_ADDRSTRLEN + 1], sport[12];
  chc_resolver *rs = resolver_get(lp);
  chc_resolve *r;
  query *q;
  if (rs == NULL) return NULL;
  r = calloc(1, sizeof *r);
  if (r == NULL) return NULL;
  r->rs = rs;
  r->cb = cb;
  r->ud = ud;
  snprintf(sport, sizeof sport, "%d", port);
  if (ip_literal(host, lit, sizeof lit)) {
    start_literal(rs, lp, r, lit, sport);
    return r;
  }
  q = find_query(rs, host, sport);
  if (q == NULL && (q = start_query(rs, host, sport)) == NULL) {
    free(r);
    return NULL;
  }
  r->q = q;
  chc_list_insert_tail(&q->waiters, &r->node);
  return r;
}

/*
** The handle goes at once. Its query goes too if nobody else waits for it
** and no worker has taken it; a running one is left to finish (and be
** joined by a new lookup of the same name meanwhile, or freed unread).
*/
void chc_resolve_cancel(chc_resolve *r) {
  chc_resolver *rs;
  query *q;
  int dropped = 0;
  if (r == NULL || r->delivering) return;
  rs = r->rs;
  q = r->q;
  chc_list_remove(&r->node);
  if (q == NULL) { /* a literal: only its deferred callback refers to it */
    chc_defer_cancel(rs->lp, &r->defer);
    if (r->res != NULL) freeaddrinfo(r->res);
  } else if (chc_list_empty(&q->waiters)) {
    pthread_mutex_lock(&rs->mu);
    if (q->state == Q_QUEUED) {
      chc_list_remove(&q->qnode);
      rs->nqueued--;
      dropped = 1;
    }
    pthread_mutex_unlock(&rs->mu);
    if (dropped) {
      chc_list_remove(&q->lnode);
      query_free(q);
    }
  }
  free(r);
}

/* }=================================================================== */

/* A forked child: the records of the parent's workers (no such thread). */
static void free_worker_recs(chc_resolver *rs) {
  while (!chc_list_empty(&rs->workers)) {
    worker_rec *w = chc_container_of(rs->workers.next, worker_rec, node);
    chc_list_remove(&w->node);
    free(w);
  }
}

static void free_handles(chc_loop *lp, chc_list *l) {
  while (!chc_list_empty(l)) {
    chc_resolve *r = chc_container_of(l->next, chc_resolve, node);
    chc_list_remove(&r->node);
    if (r->q == NULL) {
      chc_defer_cancel(lp, &r->defer);
      if (r->res != NULL) freeaddrinfo(r->res);
    }
    free(r);
  }
}

/*
** Wakes the idle workers and takes their thread ids to join (they exit at
** once: rs->lp is NULL); detaches the busy ones. mu held. Returns how many
** ids it stored (at most CHC_RESOLVER_MAX_THREADS).
*/
static int take_idle_workers(chc_resolver *rs, pthread_t *ids) {
  chc_list *n;
  int k = 0;
  pthread_cond_broadcast(&rs->cv);
  for (n = rs->workers.next; n != &rs->workers; n = n->next) {
    worker_rec *w = chc_container_of(n, worker_rec, node);
    w->joined = 1;
    if (w->busy || k == CHC_RESOLVER_MAX_THREADS)
      pthread_detach(w->th);
    else
      ids[k++] = w->th;
  }
  return k;
}

/*
** Frees every handle and every query no worker holds, joins the idle
** workers and lets go of the running ones without waiting. In a forked
** child nothing is shared with a thread (the parent's workers do not exist
** here, and rs->mu may have been copied locked): everything is freed,
** nothing locked or destroyed.
*/
void chc_resolver_shutdown(chc_loop *lp) {
  struct chc_resolver **slot = chc_loop_resolver_slot(lp);
  chc_resolver *rs = *slot;
  pthread_t idle[CHC_RESOLVER_MAX_THREADS];
  int inherited, i, nidle = 0, last = 0;
  if (rs == NULL) return;
  *slot = NULL;
  inherited = chc_loop_inherited(lp);
  free_handles(lp, &rs->literals);
  if (!inherited) {
    pthread_mutex_lock(&rs->mu);
    rs->lp = NULL;
    nidle = take_idle_workers(rs, idle);
  }
  while (!chc_list_empty(&rs->queries)) {
    query *q = chc_container_of(rs->queries.next, query, lnode);
    chc_list_remove(&q->lnode);
    free_handles(lp, &q->waiters);
    if (inherited || q->state != Q_RUNNING) {
      if (!inherited) chc_list_remove(&q->qnode); /* queue or done */
      query_free(q);
    } /* else its worker frees it when getaddrinfo returns */
  }
  if (inherited) {
    free_worker_recs(rs);
    free(rs);
    return;
  }
  pthread_mutex_unlock(&rs->mu);
  for (i = 0; i < nidle; i++) pthread_join(idle[i], NULL);
  pthread_mutex_lock(&rs->mu);
  last = unref(rs);
  pthread_mutex_unlock(&rs->mu);
  if (last) resolver_free(rs);
}
