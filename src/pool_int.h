/*
** pool_int.h: what the pool (pool.c), the stream API (stream.c) and the
** two protocols (h1conn.c, h2conn.c) share. Not for the binding: it uses
** pool.h only.
**
** Who owns what:
**  - the pool owns its origins and its connections (pconn), and each
**    pconn owns its transport (conn.h);
**  - the caller owns a stream until chc_stream_release();
**  - a connection borrows the stream it serves for one exchange (HTTP/1.1:
**    c->s and s->c; HTTP/2: c's stream list and s->c); whichever side goes
**    first lets go of the other.
** Connections are never freed inside their own callbacks: pool_conn_close
** unlinks one and puts it on the pool's closing list, which a deferred
** callback frees at the end of the loop iteration (G6).
**
** The protocols sit behind one small interface (proto_ops): the pool
** hands a protocol a stream to start and the connection's edges, and
** tells it when the connection goes; the stream API hands it the
** caller's reads, writes and release. HTTP/1.1-only and HTTP/2-only state
** hangs off the shared structs (pconn.h1/h2, chc_stream.h1/h2).
*/
#ifndef CHC_POOL_INT_H
#define CHC_POOL_INT_H

#include "conn.h"
#include "h1conn.h"
#include "h2conn.h"
#include "pool.h"
#include "proxy.h"

#define RBUF_SIZE (64 * 1024)
#define RBUF_CACHE 8 /* idle conns' read buffers (and h1 states) kept */
#define WBUF_HIGH (256 * 1024) /* a producer waits above this */
#define WBUF_LOW (64 * 1024)   /* and is woken below this */

typedef struct origin origin;
typedef struct pconn pconn;

/* One scheme/host/port (and TLS settings): pool.c's, read by all. */
struct origin {
  origin *hnext;
  chc_list idle;    /* idle conns, most recently used first */
  chc_list waiters; /* streams waiting for a connection to this origin */
  int https, port;
  int refs;         /* connections and streams that point to it: freed at 0
                    ** (TLS sessions are kept by the TLS configuration) */
  int ndraining;    /* conns of this origin reading away a released body */
  pconn *h2conn;    /* the HTTP/2 connection new streams go to (pool.c
                    ** sets it, h2conn.c clears it at GOAWAY/teardown) */
  int forward;      /* through an HTTP proxy, in absolute form (no tunnel) */
  int h2_pending;   /* a connection that may turn out HTTP/2 is being made:
                    ** requests wait for it instead of opening more */
  char *host;       /* bare host */
  char *hosthdr;    /* Host header value */
  uint32_t hash;
  char key[];
};

/* pconn.state: pool.c moves it; the protocols set C_ACTIVE/C_IDLE only
** through pool functions (h2 submit on an idle conn: pool_conn_unidle). */
enum { C_SETUP, C_ACTIVE, C_IDLE, C_CLOSED };
/* pconn.tkind: what the connection's deadline is for */
enum { T_NONE, T_READ, T_WRITE, T_IDLE };

/* Which protocol serves a connection or a stream. */
typedef struct proto_ops {
  /* pool -> protocol */
  void (*start)(pconn *c, chc_stream *s); /* serve s on c now */
  void (*on_io)(pconn *c, unsigned ev);   /* an edge of c's transport */
  void (*teardown)(pconn *c, int code, const char *msg); /* c goes */
  /* stream API -> protocol (see pool.h for the meanings) */
  int (*peek)(chc_stream *s, const char **p, size_t *n);
  void (*consume)(chc_stream *s, size_t n);
  int (*writable)(chc_stream *s);
  int (*write)(chc_stream *s, const char *p, size_t n);
  int (*write_end)(chc_stream *s);
  void (*cancel)(chc_stream *s, int code, const char *msg); /* failed */
  void (*release)(chc_stream *s); /* the caller let go: free s when done */
  size_t (*buffered)(const chc_stream *s); /* body bytes not yet taken */
} proto_ops;

extern const proto_ops h1_ops, h2_ops;

/*
** A pooled connection. pool.c owns the lists, state, timer, reused,
** draining, probe and idle_since; the protocol serving it (ops) owns
** rbuf/wbuf while active and its own state (h1 or h2).
*/
struct pconn {
  chc_pool *pool;
  origin *org;
  conn *t;              /* the transport (owned; NULL once detached) */
  const proto_ops *ops; /* h1_ops, h2_ops once HTTP/2 was agreed */
  int state;            /* C_* */
  chc_timer timer;      /* read/write/idle deadline: pool_timer */
  int tkind;
  chc_list onode;       /* origin idle list */
  chc_list gnode;       /* pool idle LRU, draining list or closing list */
  chc_list anode;       /* pool list of all open conns */
  chc_buf rbuf, wbuf;
  chc_stream *s;        /* being set up: the stream it was opened for;
                        ** HTTP/1.1: the stream it serves */
  unsigned reused : 1, draining : 1,
      probe : 1,        /* the origin waits for this one (h2_pending) */
      own_h1 : 1;       /* made for an own_h1 stream: HTTP/1.1 only (ALPN
                        ** too), never reused */
  uint64_t idle_since;  /* loop time it went idle */
  h1conn *h1;           /* HTTP/1.1 exchange state, while serving one */
  h2conn *h2;           /* HTTP/2: the engine and its streams */
};

enum { S_WAIT, S_ACTIVE, S_DONE };

/*
** One request/response. stream.c owns it (made by chc_pool_request, freed
** after chc_stream_release); pool.c links it into waiter lists; the
** protocol serving it writes the response fields and its own part.
*/
struct chc_stream {
  chc_pool *pool;
  pconn *c;
  origin *org;
  chc_stream_notify notify;
  void *ud;
  chc_list gwait, owait; /* pool and origin waiter lists */
  int body_kind;
  const char *body;
  size_t body_len;
  chc_timeouts to;
  chc_timer ptimer, ttimer; /* pool wait, total deadline */
  int state;
  int no_body, idempotent, h2_capable;
  int own_h1; /* an extended CONNECT HTTP/2 did not take: HTTP/1.1 on a
              ** connection of its own (pool_stream_own_h1) */
  int retries_left, attempts;
  int reused; /* served on a connection that had served before */
  /* request progress */
  long long declared; /* producer body length from the caller's
                      ** Content-Length, -1 if none */
  unsigned long long sent; /* producer body bytes accepted so far */
  int body_ended;  /* producer called write_end */
  int req_done;    /* everything written */
  /* response */
  int has_head, resp_done;
  int status, major, minor;
  chc_buf reason;
  chc_hlist fields, trailers;
  chc_error err;
  int released;
  /* takeover after a 101 (pool_conn_detach): NULL, or who gets the
  ** transport */
  void (*takeover)(chc_stream *s, conn *t, chc_buf *rest, void *ud);
  void *takeover_ud;
  chc_trace *tr;  /* NULL: not traced (trace.h) */
  h1_stream h1;  /* HTTP/1.1 part (kept with the stream for reuse) */
  h2_stream *h2; /* HTTP/2 part (allocated with the stream; filled for
                 ** an origin that may speak HTTP/2) */
  chc_timer btimer; /* the backoff before a retry (pool.c) */
};

/* The pool: pool.c owns every field but free_streams/nfree (stream.c's
** cache of released streams) and the rbufs/h1s caches, which the
** protocols take from and give back through pool_rbuf_get/pool_h1_get/
** pool_h1_put. */
struct chc_pool {
  chc_loop *lp;
  chc_pool_opts o;
  char *uds;
  origin **tab;
  size_t tabsize, norigins;
  int nconns, nidle, nwaiting;
  chc_list idle;     /* global LRU of idle conns (most recent first) */
  chc_list waiters;  /* FIFO of streams waiting for a slot */
  chc_list conns;    /* every open conn */
  chc_list closing;  /* closed conns awaiting free */
  chc_list draining; /* conns reading away a released body (FIFO) */
  chc_tls_conf *tls; /* https: certificates, ALPN, sessions (owned) */
  chc_proxy *proxy;  /* NULL: direct (owned) */
  chc_defer reap;
  int refs; /* 1 for the owner + 1 per unreleased stream */
  chc_stream *free_streams; /* released streams kept for reuse (stream.c) */
  int nfree;
  origin *last; /* the origin of the previous request */
  char *rbufs[RBUF_CACHE]; /* read buffers of connections gone idle */
  h1conn *h1s[RBUF_CACHE]; /* and their HTTP/1.1 states */
  int nh1s;
  int nrbufs;
  int closed;
  chc_list backoff; /* streams waiting out a retry's backoff (by gwait) */
  uint32_t jitter;  /* xorshift state for the backoff's jitter */
};

/* Tells the caller something observable changed (pool.h: never when it
** released the stream). Inline: every event of every stream passes here. */
static inline void stream_notify(chc_stream *s) {
  if (s->notify && !s->released) s->notify(s, s->ud);
}

/* Tracing hooks: nothing but a test when the stream is not traced. */
chc_trace_rec *stream_trace_add(chc_stream *s, int phase, int what);
void stream_trace_request(chc_stream *s); /* handed to a connection */
void stream_trace_sent(chc_stream *s);    /* the request is all out */
void stream_trace_head(chc_stream *s);    /* the response head came */
void stream_trace_failed(chc_stream *s);  /* s->err was just set */
#define STREAM_TRACE(s, fn) \
  do {                      \
    if ((s)->tr) fn(s);     \
  } while (0)

/* The protocol of a stream: HTTP/2 once submitted to an engine. */
static inline const proto_ops *stream_ops(const chc_stream *s) {
  return s->h2->st ? &h2_ops : &h1_ops;
}

/* pool.c: the policy */
origin *pool_origin(chc_pool *p, int https, const char *host, int port);
void pool_origin_unref(chc_pool *p, origin *o);
void pool_stream_start(chc_stream *s); /* a connection now, or queue */
void pool_stream_unwait(chc_stream *s);
/* h2conn.c, for an extended CONNECT (chc_request.protocol): waits on
** the origin for its HTTP/2 connection's SETTINGS; or goes HTTP/1.1 on a
** connection of its own (the server did not enable it). */
void pool_stream_hold(chc_stream *s);
void pool_stream_own_h1(chc_stream *s);
void pool_conn_close(pconn *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void pool_conn_release(pconn *c); /* exchange done, reusable */
void pool_conn_idle(pconn *c);
void pool_conn_unidle(pconn *c);
void pool_bind(pconn *c, chc_stream *s);
int pool_stale_candidate(pconn *c, int got_bytes);
int pool_retry_stale(pconn *c, int got_bytes);
void pool_conn_activate(pconn *c); /* an idle conn serves again */
int pool_drain(pconn *c); /* 1: c reads away the rest of its released s */
void pool_h2_ready(pconn *c);
void pool_origin_rewait(origin *o); /* its HTTP/2 waiters ask again */
/* Takeover: c leaves the pool (its slot is free at once, its counts
** drop) and its transport is returned, ownerless, with the bytes read past
** the response head moved into *rest. The caller owns both. */
conn *pool_conn_detach(pconn *c, chc_buf *rest);
void pool_timer(pconn *c, int kind, int64_t ms);
void pool_rbuf_get(chc_pool *p, chc_buf *b);
h1conn *pool_h1_get(chc_pool *p);
void pool_h1_put(chc_pool *p, pconn *c);
void pool_unref(chc_pool *p);
void pool_stream_timers_init(chc_stream *s); /* pool wait, total */
/* pool_wait.c: s waits for retry k (1, 2, ...) with exponential backoff
** and jitter on the pool's backoff list */
void pool_stream_backoff(chc_stream *s, int k);

/* stream.c */
void stream_fail(chc_stream *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void stream_free(chc_stream *s);    /* released: back to the cache */
void stream_destroy(chc_stream *s); /* its memory, now */
/* Asks for the connection after a 101 (the request carries Upgrade):
** h1conn.c then calls fn(s, t, rest, ud) from inside the loop, with the
** transport t (conn.h; fn must conn_set_owner it, and conn_close +
** conn_free it later, outside its own callbacks) and the bytes that came
** right after the head (fn owns *rest: chc_buf_free). The stream then
** ends as usual (status 101, no body). Without it a 101 closes the
** connection. For C owners such as a WebSocket; not exposed to Lua. */
void stream_set_takeover(chc_stream *s,
                         void (*fn)(chc_stream *, conn *, chc_buf *, void *),
                         void *ud);

#endif
