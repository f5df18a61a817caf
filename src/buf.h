/*
** buf.h: a growable byte buffer with a read offset, and an ordered list of
** header fields (name/value pairs, order and duplicates kept).
*/
#ifndef CHC_BUF_H
#define CHC_BUF_H

#include <stddef.h>
#include <stdint.h>

/* Valid bytes are data[off .. off+len). Free space is at the tail. */
typedef struct chc_buf {
  char *data;
  size_t off, len, cap;
} chc_buf;

#define CHC_BUF_INIT {NULL, 0, 0, 0}

/* Ensures at least `extra` free bytes at the tail (compacts first, then
** grows). Returns 0, or -1 when out of memory. */
int chc_buf_reserve(chc_buf *b, size_t extra);
int chc_buf_append(chc_buf *b, const void *p, size_t n);
int chc_buf_appendf(chc_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A buffer never grown has data == NULL, and NULL + 0 is undefined in C
** (clang's UBSan reports it: found by fuzz/sse_fuzz.c's first seed): no
** arithmetic on a pointer when the offset is 0. */
static inline char *chc_buf_head(const chc_buf *b) {
  return b->off ? b->data + b->off : b->data;
}
static inline char *chc_buf_tail(const chc_buf *b) {
  return b->off + b->len ? b->data + b->off + b->len : b->data;
}
static inline size_t chc_buf_avail(const chc_buf *b) {
  return b->cap - b->off - b->len;
}
static inline void chc_buf_commit(chc_buf *b, size_t n) { b->len += n; }
void chc_buf_consume(chc_buf *b, size_t n); /* drops n bytes from the head */
void chc_buf_reset(chc_buf *b);             /* empty, keeps memory */
void chc_buf_free(chc_buf *b);              /* empty, frees memory */

/* One header field: offsets into the list's byte store. Both name and
** value are NUL-terminated in the store. */
typedef struct chc_hfield {
  uint32_t name, name_len, value, value_len;
} chc_hfield;

typedef struct chc_hlist {
  chc_buf store;
  chc_hfield *f;
  size_t n, fcap;
} chc_hlist;

#define CHC_HLIST_INIT {CHC_BUF_INIT, NULL, 0, 0}

int chc_hlist_add(chc_hlist *h, const char *name, size_t nl, const char *value,
                  size_t vl);
static inline const char *chc_hlist_name(const chc_hlist *h, size_t i) {
  return h->store.data + h->f[i].name;
}
static inline const char *chc_hlist_value(const chc_hlist *h, size_t i) {
  return h->store.data + h->f[i].value;
}
/* First value of `name` (ASCII case-insensitive), or NULL. */
const char *chc_hlist_get(const chc_hlist *h, const char *name, size_t *vl);
/* Bytes held by the list (for limits). */
static inline size_t chc_hlist_size(const chc_hlist *h) { return h->store.len; }
void chc_hlist_reset(chc_hlist *h);
void chc_hlist_free(chc_hlist *h);
void chc_hlist_move(chc_hlist *dst, chc_hlist *src); /* dst freed first */
/* Exchanges the two lists (memory included): O(1), no allocation. */
void chc_hlist_swap(chc_hlist *a, chc_hlist *b);

#endif
