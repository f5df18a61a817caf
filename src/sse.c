/*
** sse.c: the Server-Sent Events parser. One pass over the bytes: a line
** state machine that streams each field's value straight into where it is
** kept (the data buffer for data, a scratch buffer for event, id and retry),
** decoding UTF-8 on the way. Nothing is re-scanned: a line split over many
** feeds continues where the last feed left it.
**
** Working on bytes instead of decoded characters is exact because every
** byte that matters to the line grammar (CR, LF, ':' and ' ') is ASCII: the
** UTF-8 decoder never turns other bytes into them, never swallows them, and
** ends any unfinished sequence with one U+FFFD when one arrives. So the
** decoder only has to run inside values, and each value starts with it at
** rest.
*/
#include "sse.h"

#include <errno.h>
#include <string.h>

enum { L_START, L_NAME, L_VSTART, L_VALUE, L_SKIP };
enum { F_DATA, F_EVENT, F_ID, F_RETRY, F_OTHER };

/* 1: CR or LF; 2: not ASCII; 0: any other byte. */
/* clang-format off */
static const unsigned char cls[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};
/* clang-format on */

static const char FFFD[3] = {'\xEF', '\xBF', '\xBD'};

static void free_bufs(chc_sse *s) {
  chc_buf_free(&s->last_id);
  chc_buf_free(&s->id);
  chc_buf_free(&s->data);
  chc_buf_free(&s->type);
  chc_buf_free(&s->scratch);
}

void chc_sse_init(chc_sse *s, size_t max_event) {
  free_bufs(s);
  memset(s, 0, sizeof *s);
  s->max_event = max_event ? max_event : CHC_SSE_MAX_EVENT_DEFAULT;
  s->retry = -1;
  s->ev_retry = -1;
  s->u8lo = 0x80;
  s->u8hi = 0xBF;
}

void chc_sse_free(chc_sse *s) {
  free_bufs(s);
  memset(s, 0, sizeof *s);
}

static ssize_t oom(chc_sse *s) {
  chc_seterr(&s->err, CHC_EREAD, "out of memory while parsing an event stream");
  return -1;
}

static const char *buf_name(const chc_sse *s, const chc_buf *b) {
  if (b == &s->data) return "the data of an event";
  return s->field == F_EVENT ? "an event type" : s->field == F_ID
                                                   ? "an event id"
                                                   : "a retry field";
}

/* Appends to the buffer of the current field within max_event. */
static int put(chc_sse *s, chc_buf *b, const void *p, size_t n) {
  if (n > s->max_event - b->len) {
    chc_seterr(&s->err, CHC_EREMOTE_PROTO,
               "event stream: %s is larger than max_event (%zu bytes)",
               buf_name(s, b), s->max_event);
    return -1;
  }
  if (chc_buf_append(b, p, n) < 0) return (int)oom(s);
  return 0;
}

/* Sets d to the n bytes at p, NUL-terminated. */
static int copy_z(chc_buf *d, const char *p, size_t n) {
  d->len = 0;
  if (chc_buf_reserve(d, n + 1) < 0) return -1;
  if (n > 0) memcpy(chc_buf_tail(d), p, n);
  d->len = n;
  *chc_buf_tail(d) = '\0';
  return 0;
}

static int terminate(chc_buf *b) {
  if (chc_buf_reserve(b, 1) < 0) return -1;
  *chc_buf_tail(b) = '\0';
  return 0;
}

static void swap(chc_buf *a, chc_buf *b) {
  chc_buf t = *a;
  *a = *b;
  *b = t;
}

/* Forgets the dispatched event; its strings may now change. */
static void drop_event(chc_sse *s) {
  if (!s->ready) return;
  s->ready = 0;
  s->data.len = 0;
  s->type.len = 0;
  s->ndata = 0;
  s->ev_retry = -1;
  memset(&s->ev, 0, sizeof s->ev);
}

/*
** "Dispatch the event" (9.2.6), run at each blank line:
**  1. the last event ID string becomes the last event ID buffer, whether or
**     not an event follows;
**  2. an empty data buffer resets data and event type, and ends there;
**  3. the trailing LF goes (our data buffer never has it: lines are joined
**     with LF as they come, ndata > 0 stands for "not empty");
**  4-6. type "message" unless the event type buffer is not empty.
** Returns 1 with an event ready, 0 without, -1 when out of memory.
*/
static int dispatch(chc_sse *s) {
  if (s->id_dirty) {
    if (copy_z(&s->last_id, chc_buf_head(&s->id), s->id.len) < 0) return -1;
    s->id_dirty = 0;
  }
  if (s->ndata == 0) {
    s->type.len = 0;
    s->ev_retry = -1;
    return 0;
  }
  if (terminate(&s->data) < 0 || (s->type.len > 0 && terminate(&s->type) < 0))
    return -1;
  s->ev.data = chc_buf_head(&s->data);
  s->ev.data_len = s->data.len;
  if (s->type.len > 0) {
    s->ev.type = chc_buf_head(&s->type);
    s->ev.type_len = s->type.len;
  } else {
    s->ev.type = "message";
    s->ev.type_len = 7;
  }
  s->ev.id = chc_sse_last_id(s, &s->ev.id_len);
  s->ev.retry = s->ev_retry;
  s->ready = 1;
  return 1;
}

static int field_of(const unsigned char *name, size_t n) {
  if (n == 4 && memcmp(name, "data", 4) == 0) return F_DATA;
  if (n == 5 && memcmp(name, "event", 5) == 0) return F_EVENT;
  if (n == 2 && memcmp(name, "id", 2) == 0) return F_ID;
  if (n == 5 && memcmp(name, "retry", 5) == 0) return F_RETRY;
  return F_OTHER;
}

/* The field name is complete (at a colon, or at the end of a line without
** one): pick where its value goes. A data line after the first one starts
** with the LF that joins it to the previous one. */
static int begin_value(chc_sse *s) {
  s->field = field_of(s->name, s->name_len);
  if (s->field == F_OTHER) {
    s->state = L_SKIP; /* "Otherwise: The field is ignored." */
    return 0;
  }
  s->state = L_VSTART;
  if (s->field == F_DATA) {
    s->dst = &s->data;
    if (s->ndata++ > 0) return put(s, &s->data, "\n", 1);
    return 0;
  }
  s->dst = &s->scratch;
  s->scratch.len = 0;
  return 0;
}

/* "retry: If the field value consists of only ASCII digits, then interpret
** the field value as an integer in base ten, and set the event stream's
** reconnection time to that integer. Otherwise, ignore the field."
** An empty value is ignored too (no integer to interpret; eventsource and
** Chromium agree). A value too large for 64 bits is held at LLONG_MAX: the
** caller caps the delay anyway. */
static void set_retry(chc_sse *s) {
  const unsigned char *p = (const unsigned char *)chc_buf_head(&s->scratch);
  size_t i, n = s->scratch.len;
  long long v = 0;
  if (n == 0) return;
  for (i = 0; i < n; i++) {
    int d = p[i] - '0';
    if (d < 0 || d > 9) return;
    v = v > (0x7fffffffffffffffLL - d) / 10 ? 0x7fffffffffffffffLL
                                             : v * 10 + d;
  }
  s->retry = s->ev_retry = v;
}

/* "Process the field" once its whole value is in (data is already). */
static void end_value(chc_sse *s) {
  switch (s->field) {
  case F_EVENT: /* "Set the event type buffer to the field value." */
    swap(&s->type, &s->scratch);
    break;
  case F_ID: /* "If the field value does not contain U+0000 NULL, then set
             ** the last event ID buffer to the field value." */
    if (s->scratch.len == 0 ||
        memchr(chc_buf_head(&s->scratch), '\0', s->scratch.len) == NULL) {
      swap(&s->id, &s->scratch);
      s->id_dirty = 1;
    }
    break;
  case F_RETRY:
    set_retry(s);
    break;
  default:
    break;
  }
}

/* The UTF-8 decoder ended a sequence in error: the bytes of it already put
** into dst become one U+FFFD ("maximal subpart" replacement). */
static int replace_pending(chc_sse *s) {
  s->dst->len -= (size_t)s->u8pend;
  s->u8need = s->u8pend = 0;
  s->u8lo = 0x80;
  s->u8hi = 0xBF;
  return put(s, s->dst, FFFD, 3);
}

/*
** Scanning eight bytes at a time (SWAR): a word is passed over whole when
** no byte in it is CR or LF (and, for plain_run, none has the high bit);
** otherwise the byte loop after it finds the exact spot. has_zero is the
** classic test "does any byte of v equal zero"; a false alarm would only
** send a word to the byte loop.
*/
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

static uint64_t has_zero(uint64_t v) { return (v - ONES) & ~v & HIGHS; }

static uint64_t load8(const unsigned char *p) {
  uint64_t w;
  memcpy(&w, p, 8);
  return w;
}

static uint64_t has_eol(uint64_t w) {
  return has_zero(w ^ (ONES * '\n')) | has_zero(w ^ (ONES * '\r'));
}

/* The length of the prefix of p without CR or LF. */
static size_t line_run(const unsigned char *p, size_t n) {
  size_t i = 0;
  while (n - i >= 8 && !has_eol(load8(p + i))) i += 8;
  while (i < n && cls[p[i]] != 1) i++;
  return i;
}

/* The length of the prefix of p that is ASCII other than CR and LF. */
static size_t plain_run(const unsigned char *p, size_t n) {
  size_t i = 0;
  while (n - i >= 8) {
    uint64_t w = load8(p + i);
    if ((w & HIGHS) | has_eol(w)) break;
    i += 8;
  }
  while (i < n && cls[p[i]] == 0) i++;
  return i;
}

/* The longest prefix of p made of whole, valid UTF-8 characters other than
** CR and LF: the bytes that can go to the value as they are. */
static size_t valid_run(const unsigned char *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned char c, lo = 0x80, hi = 0xBF;
    i += plain_run(p + i, n - i);
    if (i == n) break;
    c = p[i];
    if (c < 0x80) break; /* CR or LF */
    if (c >= 0xC2 && c <= 0xDF) {
      if (n - i < 2 || (p[i + 1] & 0xC0) != 0x80) break;
      i += 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
      if (n - i < 3 || p[i + 1] < lo || p[i + 1] > hi ||
          (p[i + 2] & 0xC0) != 0x80)
        break;
      i += 3;
    } else if (c >= 0xF0 && c <= 0xF4) {
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
      if (n - i < 4 || p[i + 1] < lo || p[i + 1] > hi ||
          (p[i + 2] & 0xC0) != 0x80 || (p[i + 3] & 0xC0) != 0x80)
        break;
      i += 4;
    } else {
      break;
    }
  }
  return i;
}

/*
** One byte through the WHATWG "UTF-8 decoder" (Encoding 4.1.1), for the
** cases valid_run leaves: a sequence cut by the end of the feed, or an
** invalid one. Bytes of a sequence go to dst at once and are taken back if
** it fails. Returns 1 if c was used, 0 if it must be looked at again (the
** spec's "restore byte to ioQueue": it ended a sequence in error), -1 on
** error.
*/
static int utf8_byte(chc_sse *s, unsigned char c) {
  if (s->u8need == 0) {
    if (c >= 0xC2 && c <= 0xDF) {
      s->u8need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      if (c == 0xE0) s->u8lo = 0xA0;
      if (c == 0xED) s->u8hi = 0x9F;
      s->u8need = 2;
    } else if (c >= 0xF0 && c <= 0xF4) {
      if (c == 0xF0) s->u8lo = 0x90;
      if (c == 0xF4) s->u8hi = 0x8F;
      s->u8need = 3;
    } else { /* 0x80-0xC1, 0xF5-0xFF: an error on its own */
      return put(s, s->dst, FFFD, 3) < 0 ? -1 : 1;
    }
    s->u8pend = 1;
    return put(s, s->dst, &c, 1) < 0 ? -1 : 1;
  }
  if (c < s->u8lo || c > s->u8hi) return replace_pending(s) < 0 ? -1 : 0;
  s->u8lo = 0x80;
  s->u8hi = 0xBF;
  if (put(s, s->dst, &c, 1) < 0) return -1;
  if (++s->u8pend > s->u8need) s->u8need = s->u8pend = 0;
  return 1;
}

/* A line ended (at c, CR or LF, already consumed by the caller). */
static int end_line(chc_sse *s, unsigned char c) {
  if (s->state == L_NAME) { /* "using the whole line as the field name,
                            ** and the empty string as the field value" */
    if (begin_value(s) < 0) return -1;
    if (s->state != L_SKIP) end_value(s);
  } else if (s->state == L_VSTART || s->state == L_VALUE) {
    end_value(s);
  }
  s->state = L_START;
  s->skip_lf = c == '\r';
  return 0;
}

/*
** The line machine over p[0..n). Returns the bytes consumed: n, or fewer
** when an event was dispatched (s->ready), or when an error was set
** (s->err).
*/
static size_t run(chc_sse *s, const unsigned char *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned char c = p[i];
    switch (s->state) {
    case L_START:
      if (s->skip_lf) { /* the LF of a CRLF, maybe at a feed's start */
        s->skip_lf = 0;
        if (c == '\n') {
          i++;
          continue;
        }
      }
      if (c == '\r' || c == '\n') { /* a blank line */
        int r;
        i++;
        s->skip_lf = c == '\r';
        r = dispatch(s);
        if (r < 0) {
          oom(s);
          return i;
        }
        if (r > 0) return i;
      } else if (c == ':') { /* a comment */
        i++;
        s->state = L_SKIP;
      } else if (n - i > 5 && memcmp(p + i, "data:", 5) == 0) {
        /* the common line, straight to its value (same steps as L_NAME) */
        i += 5;
        memcpy(s->name, "data", 4);
        s->name_len = 4;
        if (begin_value(s) < 0) return i;
      } else {
        s->name_len = 0;
        s->state = L_NAME;
      }
      break;
    case L_NAME:
      while (i < n && p[i] != ':' && cls[p[i]] != 1) {
        if (s->name_len < sizeof s->name) s->name[s->name_len++] = p[i];
        else s->name_len = sizeof s->name; /* longer than any we know */
        i++;
      }
      if (i == n) break;
      c = p[i++];
      if (c == ':') {
        if (begin_value(s) < 0) return i;
      } else if (end_line(s, c) < 0) {
        return i;
      }
      break;
    case L_VSTART: /* "If value starts with a U+0020 SPACE character,
                   ** remove it from value." */
      if (c == ' ') i++;
      s->state = L_VALUE;
      break;
    case L_VALUE:
      if (s->u8need == 0) {
        size_t k = valid_run(p + i, n - i);
        if (k > 0 && put(s, s->dst, p + i, k) < 0) return i;
        i += k;
        if (i == n) break;
        c = p[i];
        if (cls[c] == 1) {
          i++;
          if (end_line(s, c) < 0) return i;
          break;
        }
      }
      switch (utf8_byte(s, c)) {
      case -1:
        return i;
      case 1:
        i++;
        break;
      default:
        break;
      }
      break;
    default: /* L_SKIP: a comment or an ignored field */
      i += line_run(p + i, n - i);
      if (i == n) break;
      c = p[i++];
      end_line(s, c); /* cannot fail: nothing to store */
      break;
    }
    if (s->err.code != CHC_OK) return i;
  }
  return i;
}

ssize_t chc_sse_feed(chc_sse *s, const char *p, size_t n) {
  static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
  const unsigned char *u = (const unsigned char *)p;
  size_t i = 0, k;
  drop_event(s);
  if (s->err.code != CHC_OK) return -1;
  if (n == 0) return 0; /* p may be NULL then */
  if (!s->bom_done) {
    /* UTF-8 decode: "If buffer is 0xEF 0xBB 0xBF, read three bytes". The
    ** BOM may come split over feeds: hold what matched until it is clear
    ** whether it is one; if not, those bytes are text after all. */
    while (i < n && s->bom_seen < 3 && u[i] == bom[s->bom_seen]) {
      s->bom_seen++;
      i++;
    }
    if (s->bom_seen < 3 && i == n) return (ssize_t)n;
    s->bom_done = 1;
    if (s->bom_seen < 3 && s->bom_seen > 0) {
      /* no line end among them: this cannot dispatch, only fail */
      run(s, bom, (size_t)s->bom_seen);
      if (s->err.code != CHC_OK) return -1;
    }
  }
  k = run(s, u + i, n - i);
  if (s->err.code != CHC_OK) {
    if (s->err.code == CHC_EREAD) errno = ENOMEM;
    return -1;
  }
  return (ssize_t)(i + k);
}

/* Back to the start of a stream; the event and the error are the
** callers' business. */
static void restart(chc_sse *s) {
  s->data.len = 0;
  s->type.len = 0;
  s->scratch.len = 0;
  s->ndata = 0;
  s->ev_retry = -1;
  s->state = L_START;
  s->skip_lf = 0;
  s->bom_done = 0;
  s->bom_seen = 0;
  s->u8need = s->u8pend = 0;
  s->u8lo = 0x80;
  s->u8hi = 0xBF;
  if (s->id_dirty) { /* the new stream's buffer starts at the string */
    /* on ENOMEM id is "": harmless, last_id is what a reconnection uses */
    (void)copy_z(&s->id, chc_buf_head(&s->last_id), s->last_id.len);
    s->id_dirty = 0;
  }
}

int chc_sse_eof(chc_sse *s) {
  int pending;
  drop_event(s);
  if (s->err.code != CHC_OK) return -1;
  pending = s->state != L_START || s->ndata > 0 || s->type.len > 0 ||
            s->id_dirty || (s->bom_seen > 0 && !s->bom_done);
  restart(s);
  return pending;
}

void chc_sse_reset(chc_sse *s) {
  drop_event(s);
  chc_err_clear(&s->err);
  restart(s);
}

const char *chc_sse_last_id(const chc_sse *s, size_t *len) {
  if (len != NULL) *len = s->last_id.len;
  return s->last_id.len > 0 ? chc_buf_head(&s->last_id) : "";
}

int chc_sse_set_last_id(chc_sse *s, const char *p, size_t n) {
  drop_event(s); /* its id points into last_id */
  if (copy_z(&s->last_id, p, n) < 0 || copy_z(&s->id, p, n) < 0) {
    errno = ENOMEM;
    return -1;
  }
  s->id_dirty = 0;
  return 0;
}
