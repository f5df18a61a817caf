/*
** resolver.c: getaddrinfo in a small pool of worker threads per loop.
**
** Every job is on the loop's `jobs` list from chc_resolve_start until it is
** freed, whatever stage it is in; that list is touched only by the loop
** thread and is what chc_resolver_shutdown frees. Stages:
**   LITERAL  an IP literal, answered on the loop thread; the callback runs
**            from a deferred callback (never inside chc_resolve_start)
**   QUEUED   on `queue`, waiting for a worker
**   RUNNING  a worker is in getaddrinfo with it
**   DONE     on `done` (or being delivered), waiting for the loop thread
** Workers move jobs QUEUED -> RUNNING -> DONE under the mutex and never
** free one; the loop thread frees a job exactly once: at cancel if it was
** QUEUED or LITERAL (nobody else holds it), else when it is delivered (the
** callback is skipped if it was cancelled), or at shutdown.
**
** Finished jobs are batched on `done`, and one posted call (whose argument
** is the loop, not a job) delivers them all. So the loop's post queue never
** holds a pointer to resolver memory: chc_loop_free can free leftover post
** nodes without running them, and a post that outlives a shutdown finds an
** empty resolver slot and does nothing.
*/
#include "resolver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

enum { JOB_LITERAL, JOB_QUEUED, JOB_RUNNING, JOB_DONE };

typedef struct chc_resolver chc_resolver;

struct chc_resolver {
  chc_loop *lp;
  pthread_mutex_t mu;
  pthread_cond_t cv;   /* workers wait here for jobs or stop */
  chc_list queue;      /* QUEUED jobs, FIFO (mu) */
  chc_list done;       /* DONE jobs not yet taken by the loop (mu) */
  chc_list jobs;       /* every live job (loop thread only) */
  int nqueued;         /* jobs on queue (mu) */
  int nidle;           /* workers waiting on cv (mu) */
  int post_pending;    /* a delivery is posted and not yet run (mu) */
  int stop;            /* (mu) */
  int nthreads;        /* loop thread only */
  pthread_t threads[CHC_RESOLVER_THREADS];
};

struct chc_resolve {
  chc_list node;  /* on rs->jobs */
  chc_list qnode; /* on rs->queue, rs->done or a delivery batch */
  chc_resolver *rs;
  chc_resolve_cb cb;
  void *ud;
  chc_defer defer;       /* LITERAL jobs only */
  int state;             /* JOB_*: changed by workers under mu */
  int cancelled;         /* loop thread only */
  int status;            /* getaddrinfo result */
  int syserr;            /* errno for EAI_SYSTEM */
  struct addrinfo *res;
  char port[12];
  char host[];           /* as given: resolved, and named in messages */
};

static void job_free(chc_resolve *r) {
  if (r->res != NULL) freeaddrinfo(r->res);
  free(r);
}

/* Calls back (unless cancelled) and frees; the job is off every list. */
static void deliver(chc_resolve *r) {
  if (!r->cancelled) {
    char msg[512];
    struct addrinfo *res = r->res;
    r->res = NULL; /* the callback owns it now */
    if (r->status == EAI_SYSTEM)
      snprintf(msg, sizeof msg, "cannot resolve host '%s': %s (%s)", r->host,
               gai_strerror(r->status), strerror(r->syserr));
    else if (r->status != 0)
      snprintf(msg, sizeof msg, "cannot resolve host '%s': %s", r->host,
               gai_strerror(r->status));
    r->cb(r->ud, r->status, res, r->status != 0 ? msg : NULL);
  }
  job_free(r);
}

/*
** Posted by a worker (argument: the loop). Takes every finished job at
** once; the next worker to finish posts again.
*/
static void deliver_done(void *arg) {
  chc_resolver *rs = *chc_loop_resolver_slot(arg);
  chc_list batch;
  if (rs == NULL) return; /* shut down: its jobs are already freed */
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
    chc_resolve *r = chc_container_of(batch.next, chc_resolve, qnode);
    chc_list_remove(&r->qnode);
    chc_list_remove(&r->node);
    deliver(r);
  }
}

static void deliver_literal(chc_loop *lp, chc_defer *d) {
  chc_resolve *r = chc_container_of(d, chc_resolve, defer);
  CHC_UNUSED(lp);
  r->state = JOB_DONE; /* a cancel from inside the callback only marks it */
  chc_list_remove(&r->node);
  deliver(r);
}

/*
** Tells the loop that jobs are on `done`. chc_loop_post can only fail for
** lack of memory: retry until it works or we are told to stop (then the
** shutdown frees the jobs).
*/
static void post_done(chc_resolver *rs) {
  while (chc_loop_post(rs->lp, deliver_done, rs->lp) != 0) {
    struct timespec ts = {0, 10 * 1000000L};
    int stop;
    pthread_mutex_lock(&rs->mu);
    stop = rs->stop;
    pthread_mutex_unlock(&rs->mu);
    if (stop) return;
    nanosleep(&ts, NULL);
  }
}

static void *worker(void *arg) {
  chc_resolver *rs = arg;
  pthread_mutex_lock(&rs->mu);
  for (;;) {
    struct addrinfo hints, *res = NULL;
    chc_resolve *r;
    int st, need_post;
    while (!rs->stop && chc_list_empty(&rs->queue)) {
      rs->nidle++;
      pthread_cond_wait(&rs->cv, &rs->mu);
      rs->nidle--;
    }
    if (rs->stop) break;
    r = chc_container_of(rs->queue.next, chc_resolve, qnode);
    chc_list_remove(&r->qnode);
    rs->nqueued--;
    r->state = JOB_RUNNING;
    pthread_mutex_unlock(&rs->mu);

    /* host, port and the stage are ours until we mark it DONE */
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV;
    st = getaddrinfo(r->host, r->port, &hints, &res);
    r->syserr = st == EAI_SYSTEM ? errno : 0;
    r->status = st;
    r->res = st == 0 ? res : NULL;

    pthread_mutex_lock(&rs->mu);
    r->state = JOB_DONE;
    chc_list_insert_tail(&rs->done, &r->qnode);
    need_post = !rs->post_pending;
    rs->post_pending = 1;
    if (need_post) {
      pthread_mutex_unlock(&rs->mu);
      post_done(rs);
      pthread_mutex_lock(&rs->mu);
    }
  }
  pthread_mutex_unlock(&rs->mu);
  return NULL;
}

/*
** Workers start with every signal blocked (the mask is inherited from the
** creating thread, so there is no window in which one could land there):
** signals are for the host's threads to handle.
*/
static int spawn_worker(chc_resolver *rs) {
  sigset_t all, old;
  int err;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  err = pthread_create(&rs->threads[rs->nthreads], NULL, worker, rs);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (err == 0) rs->nthreads++;
  return err;
}

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
  chc_list_init(&rs->queue);
  chc_list_init(&rs->done);
  chc_list_init(&rs->jobs);
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

chc_resolve *chc_resolve_start(chc_loop *lp, const char *host, int port,
                               chc_resolve_cb cb, void *ud) {
  char lit[INET6_ADDRSTRLEN + 1];
  chc_resolver *rs = resolver_get(lp);
  size_t len = strlen(host);
  chc_resolve *r;
  if (rs == NULL) return NULL;
  r = calloc(1, sizeof *r + len + 1);
  if (r == NULL) return NULL;
  r->rs = rs;
  r->cb = cb;
  r->ud = ud;
  memcpy(r->host, host, len + 1);
  snprintf(r->port, sizeof r->port, "%d", port);
  chc_list_init(&r->qnode);

  if (ip_literal(host, lit, sizeof lit)) {
    /* numeric: getaddrinfo never blocks, so no thread is needed */
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    r->status = getaddrinfo(lit, r->port, &hints, &r->res);
    if (r->status == EAI_SYSTEM) r->syserr = errno;
    if (r->status != 0) r->res = NULL;
    r->state = JOB_LITERAL;
    chc_defer_init(&r->defer, deliver_literal);
    chc_defer_queue(lp, &r->defer);
    chc_list_insert_tail(&rs->jobs, &r->node);
    return r;
  }

  pthread_mutex_lock(&rs->mu);
  r->state = JOB_QUEUED;
  chc_list_insert_tail(&rs->queue, &r->qnode);
  rs->nqueued++;
  /* a woken worker stays counted idle until it takes a job, so this only
  ** starts a thread when the idle ones cannot cover the queue */
  if (rs->nqueued > rs->nidle && rs->nthreads < CHC_RESOLVER_THREADS &&
      spawn_worker(rs) != 0 && rs->nthreads == 0) {
    chc_list_remove(&r->qnode); /* no worker at all: give up */
    rs->nqueued--;
    pthread_mutex_unlock(&rs->mu);
    free(r);
    errno = EAGAIN;
    return NULL;
  }
  if (rs->nidle > 0) pthread_cond_signal(&rs->cv);
  pthread_mutex_unlock(&rs->mu);
  chc_list_insert_tail(&rs->jobs, &r->node);
  return r;
}

void chc_resolve_cancel(chc_resolve *r) {
  chc_resolver *rs;
  int state;
  if (r == NULL) return;
  rs = r->rs;
  pthread_mutex_lock(&rs->mu);
  state = r->state;
  if (state == JOB_QUEUED) {
    chc_list_remove(&r->qnode);
    rs->nqueued--;
  }
  pthread_mutex_unlock(&rs->mu);
  switch (state) {
    case JOB_QUEUED: /* no worker has seen it */
      chc_list_remove(&r->node);
      job_free(r);
      break;
    case JOB_LITERAL: /* only its deferred callback refers to it */
      chc_defer_cancel(rs->lp, &r->defer);
      chc_list_remove(&r->node);
      job_free(r);
      break;
    default: /* a worker or the post queue holds it: freed on delivery */
      r->cancelled = 1;
      break;
  }
}

/*
** Joins the workers (one inside getaddrinfo delays this until it returns),
** then frees every job left, in whatever stage. Must not be called from a
** resolve callback.
*/
void chc_resolver_shutdown(chc_loop *lp) {
  struct chc_resolver **slot = chc_loop_resolver_slot(lp);
  chc_resolver *rs = *slot;
  int i;
  if (rs == NULL) return;
  pthread_mutex_lock(&rs->mu);
  rs->stop = 1;
  pthread_cond_broadcast(&rs->cv);
  pthread_mutex_unlock(&rs->mu);
  for (i = 0; i < rs->nthreads; i++) pthread_join(rs->threads[i], NULL);
  while (!chc_list_empty(&rs->jobs)) {
    chc_resolve *r = chc_container_of(rs->jobs.next, chc_resolve, node);
    chc_list_remove(&r->node);
    if (r->state == JOB_LITERAL) chc_defer_cancel(lp, &r->defer);
    job_free(r);
  }
  pthread_cond_destroy(&rs->cv);
  pthread_mutex_destroy(&rs->mu);
  free(rs);
  *slot = NULL;
}
