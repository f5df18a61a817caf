/*
** common.h: error codes, intrusive lists and small helpers shared by the
** C core. No Lua in here.
*/
#ifndef CHC_COMMON_H
#define CHC_COMMON_H

#include <stddef.h>
#include <stdint.h>

/*
** One table for every error kind, used by C and Lua alike:
** X(code suffix, kind name, group name or NULL).
** TLSError is also a ConnectError for http.is_error (handled in Lua).
*/
#define CHC_ERRMAP(X)                                   \
  X(CONNECT_TIMEOUT, "ConnectTimeout", "TimeoutError")  \
  X(READ_TIMEOUT, "ReadTimeout", "TimeoutError")        \
  X(WRITE_TIMEOUT, "WriteTimeout", "TimeoutError")      \
  X(POOL_TIMEOUT, "PoolTimeout", "TimeoutError")        \
  X(CONNECT, "ConnectError", "NetworkError")            \
  X(READ, "ReadError", "NetworkError")                  \
  X(WRITE, "WriteError", "NetworkError")                \
  X(REMOTE_PROTO, "RemoteProtocolError", "ProtocolError") \
  X(LOCAL_PROTO, "LocalProtocolError", "ProtocolError") \
  X(UNSUPPORTED, "UnsupportedProtocol", NULL)           \
  X(TLS, "TLSError", NULL)                              \
  X(PROXY, "ProxyError", NULL)                          \
  X(CLOSED, "Closed", NULL)                             \
  X(CANCELLED, "Cancelled", NULL)

enum chc_errcode {
  CHC_OK = 0,
#define CHC_ERR_ENUM(c, k, g) CHC_E##c,
  CHC_ERRMAP(CHC_ERR_ENUM)
#undef CHC_ERR_ENUM
  CHC_ERR_MAX
};

#define CHC_ERRMSG_MAX 256

/* An error as the core reports it: a kind and a sentence for a person. */
typedef struct chc_error {
  int code; /* enum chc_errcode; CHC_OK when there is no error */
  char msg[CHC_ERRMSG_MAX];
} chc_error;

const char *chc_err_kind(int code);  /* "ReadTimeout"; "" for CHC_OK */
const char *chc_err_group(int code); /* "TimeoutError" or NULL */
/* Sets e (if it has no error yet, or force) with a printf-style message. */
void chc_seterr(chc_error *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void chc_err_clear(chc_error *e);
/* ms as "1.5 s" into buf (for messages); returns buf. */
const char *chc_secs(int64_t ms, char *buf, size_t n);
/* Copies p[0..n) into out (cap bytes) for an error message: printable
** ASCII as is, \r \n \t \\ and \xHH for the rest, cut short with "..."
** so that a megabyte of garbage still gives a readable sentence. */
const char *chc_printable(char *out, size_t cap, const char *p, size_t n);

/* Intrusive circular doubly linked list (libuv's queue, our own take). */
typedef struct chc_list {
  struct chc_list *next, *prev;
} chc_list;

#define chc_container_of(ptr, type, member) \
  ((type *)((char *)(ptr) - offsetof(type, member)))

static inline void chc_list_init(chc_list *h) { h->next = h->prev = h; }
static inline int chc_list_empty(const chc_list *h) { return h->next == h; }
/* A node that is in no list points to itself (after init/remove). */
static inline int chc_list_linked(const chc_list *n) { return n->next != n; }
static inline void chc_list_insert_tail(chc_list *h, chc_list *n) {
  n->prev = h->prev;
  n->next = h;
  h->prev->next = n;
  h->prev = n;
}
static inline void chc_list_insert_head(chc_list *h, chc_list *n) {
  n->next = h->next;
  n->prev = h;
  h->next->prev = n;
  h->next = n;
}
static inline void chc_list_remove(chc_list *n) {
  n->prev->next = n->next;
  n->next->prev = n->prev;
  n->next = n->prev = n;
}

#define CHC_UNUSED(x) ((void)(x))

/* Symbols a host program may call (the library is built with hidden
** visibility otherwise). */
#define CHC_API __attribute__((visibility("default")))

#endif
