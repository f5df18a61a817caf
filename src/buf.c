/*
** buf.c: byte buffers and header lists.
*/
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int chc_buf_reserve(chc_buf *b, size_t extra) {
  size_t need, ncap;
  char *nd;
  if (b->cap - b->off - b->len >= extra) return 0;
  if (b->off > 0) { /* compact: move live bytes to the front */
    if (b->len > 0) memmove(b->data, b->data + b->off, b->len);
    b->off = 0;
    if (b->cap - b->len >= extra) return 0;
  }
  need = b->len + extra;
  ncap = b->cap ? b->cap : 256;
  while (ncap < need) {
    if (ncap > SIZE_MAX / 2) return -1;
    ncap *= 2;
  }
  nd = realloc(b->data, ncap);
  if (nd == NULL) return -1;
  b->data = nd;
  b->cap = ncap;
  return 0;
}

int chc_buf_append(chc_buf *b, const void *p, size_t n) {
  if (n == 0) return 0;
  if (chc_buf_reserve(b, n) < 0) return -1;
  memcpy(chc_buf_tail(b), p, n);
  b->len += n;
  return 0;
}

int chc_buf_appendf(chc_buf *b, const char *fmt, ...) {
  va_list ap;
  int n;
  if (chc_buf_reserve(b, 128) < 0) return -1;
  va_start(ap, fmt);
  n = vsnprintf(chc_buf_tail(b), chc_buf_avail(b), fmt, ap);
  va_end(ap);
  if (n < 0) return -1;
  if ((size_t)n >= chc_buf_avail(b)) {
    if (chc_buf_reserve(b, (size_t)n + 1) < 0) return -1;
    va_start(ap, fmt);
    vsnprintf(chc_buf_tail(b), chc_buf_avail(b), fmt, ap);
    va_end(ap);
  }
  b->len += (size_t)n;
  return 0;
}

void chc_buf_consume(chc_buf *b, size_t n) {
  if (n >= b->len) {
    b->off = b->len = 0;
    return;
  }
  b->off += n;
  b->len -= n;
}

void chc_buf_reset(chc_buf *b) { b->off = b->len = 0; }

void chc_buf_free(chc_buf *b) {
  free(b->data);
  b->data = NULL;
  b->off = b->len = b->cap = 0;
}

int chc_hlist_add(chc_hlist *h, const char *name, size_t nl, const char *value,
                  size_t vl) {
  chc_hfield *fld;
  size_t at;
  if (nl > UINT32_MAX / 4 || vl > UINT32_MAX / 4) return -1;
  if (h->n == h->fcap) {
    size_t nc = h->fcap ? h->fcap * 2 : 16;
    chc_hfield *nf = realloc(h->f, nc * sizeof *nf);
    if (nf == NULL) return -1;
    h->f = nf;
    h->fcap = nc;
  }
  /* the store never has a read offset: offsets stay valid */
  if (chc_buf_reserve(&h->store, nl + vl + 2) < 0) return -1;
  at = h->store.len;
  fld = &h->f[h->n];
  fld->name = (uint32_t)at;
  fld->name_len = (uint32_t)nl;
  memcpy(h->store.data + at, name, nl);
  h->store.data[at + nl] = '\0';
  fld->value = (uint32_t)(at + nl + 1);
  fld->value_len = (uint32_t)vl;
  memcpy(h->store.data + at + nl + 1, value, vl);
  h->store.data[at + nl + 1 + vl] = '\0';
  h->store.len += nl + vl + 2;
  h->n++;
  return 0;
}

const char *chc_hlist_get(const chc_hlist *h, const char *name, size_t *vl) {
  size_t i, nl = strlen(name);
  for (i = 0; i < h->n; i++) {
    if (h->f[i].name_len == nl &&
        strncasecmp(chc_hlist_name(h, i), name, nl) == 0) {
      if (vl) *vl = h->f[i].value_len;
      return chc_hlist_value(h, i);
    }
  }
  return NULL;
}

void chc_hlist_reset(chc_hlist *h) {
  chc_buf_reset(&h->store);
  h->n = 0;
}

void chc_hlist_free(chc_hlist *h) {
  chc_buf_free(&h->store);
  free(h->f);
  h->f = NULL;
  h->n = h->fcap = 0;
}

void chc_hlist_move(chc_hlist *dst, chc_hlist *src) {
  chc_hlist_free(dst);
  *dst = *src;
  memset(src, 0, sizeof *src);
}

void chc_hlist_swap(chc_hlist *a, chc_hlist *b) {
  chc_hlist t = *a;
  *a = *b;
  *b = t;
}
