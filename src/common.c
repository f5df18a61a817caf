/*
** common.c: error kinds and messages.
*/
#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const kinds[] = {
    "",
#define CHC_ERR_KIND(c, k, g) k,
    CHC_ERRMAP(CHC_ERR_KIND)
#undef CHC_ERR_KIND
};

static const char *const groups[] = {
    NULL,
#define CHC_ERR_GROUP(c, k, g) g,
    CHC_ERRMAP(CHC_ERR_GROUP)
#undef CHC_ERR_GROUP
};

const char *chc_err_kind(int code) {
  if (code < 0 || code >= CHC_ERR_MAX) return "Error";
  return kinds[code];
}

const char *chc_err_group(int code) {
  if (code <= 0 || code >= CHC_ERR_MAX) return NULL;
  return groups[code];
}

void chc_seterr(chc_error *e, int code, const char *fmt, ...) {
  va_list ap;
  if (e->code != CHC_OK) return; /* the first error is the cause: keep it */
  e->code = code;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
}

void chc_err_clear(chc_error *e) {
  e->code = CHC_OK;
  e->msg[0] = '\0';
}

const char *chc_secs(int64_t ms, char *buf, size_t n) {
  snprintf(buf, n, "%g s", (double)ms / 1000.0);
  return buf;
}

/*
** Copies p[0..n) into out (cap bytes) for an error message: printable
** ASCII as is, anything else escaped, cut short with "..." so that a
** megabyte of garbage still gives a readable sentence.
*/
const char *chc_printable(char *out, size_t cap, const char *p, size_t n) {
  size_t i, w = 0;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    char esc[5];
    size_t el;
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      esc[0] = (char)c;
      el = 1;
    } else if (c == '\r' || c == '\n' || c == '\t' || c == '\\') {
      esc[0] = '\\';
      esc[1] = c == '\r' ? 'r' : c == '\n' ? 'n' : c == '\t' ? 't' : '\\';
      el = 2;
    } else {
      snprintf(esc, sizeof esc, "\\x%02x", c);
      el = 4;
    }
    if (w + el + 4 > cap) { /* keep room for "..." and the NUL */
      memcpy(out + w, "...", 3);
      w += 3;
      break;
    }
    memcpy(out + w, esc, el);
    w += el;
  }
  out[w] = '\0';
  return out;
}
