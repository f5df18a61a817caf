/*
** sse.h: the Server-Sent Events parser, sans-I/O.
**
** Takes the bytes of a text/event-stream body and gives events exactly as
** the WHATWG HTML standard's "event stream interpretation" (9.2.5, 9.2.6)
** defines them: UTF-8 decoded with U+FFFD for invalid bytes (the Encoding
** standard's "UTF-8 decode", one leading BOM skipped), CR, LF and CRLF line
** ends, comments, the data, event, id and retry fields, dispatch on a blank
** line. No sockets, no reconnection here (that is the caller's job, with
** last_id and retry from this parser).
**
** Feeding is pull-style, like llhttp's pause: chc_sse_feed stops right after
** the blank line that completes an event and returns how many bytes it used;
** the caller takes the event and feeds the rest. So a binding can yield once
** per event and simply not feed while an event is not taken: nothing queues
** up inside the parser, and memory is bounded by max_event however far the
** peer runs ahead. A chunk holding 1,000 events takes 1,000 feeds, each one
** scanning only its own event's bytes.
*/
#ifndef CHC_SSE_H
#define CHC_SSE_H

#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "common.h"

#define CHC_SSE_MAX_EVENT_DEFAULT (1024 * 1024)

/* One dispatched event. Every string is valid UTF-8, NUL-terminated (data
** may also hold U+0000: use the lengths) and lives in the parser: valid
** until the next chc_sse_feed, chc_sse_eof, chc_sse_reset,
** chc_sse_set_last_id or chc_sse_free. */
typedef struct chc_sse_event {
  const char *type; /* "message" unless an event field said otherwise */
  size_t type_len;
  const char *data; /* the data lines joined with LF, no trailing LF */
  size_t data_len;
  const char *id;   /* the last event ID (persists across events) */
  size_t id_len;
  long long retry;  /* a valid retry field among this event's lines, or -1 */
} chc_sse_event;

typedef struct chc_sse {
  /* configuration */
  size_t max_event; /* see chc_sse_init */
  /* results */
  int ready;         /* an event is in ev (set by the last feed) */
  chc_sse_event ev;
  long long retry;   /* reconnection time in ms from the last valid retry
                     ** field of any stream, -1 if none came yet */
  chc_error err;     /* set when a feed returned -1 */
  /* private */
  chc_buf last_id;   /* the last event ID string (committed at dispatch) */
  chc_buf id;        /* the last event ID buffer (set by id fields) */
  chc_buf data, type, scratch;
  chc_buf *dst;      /* where the current field's value goes */
  size_t ndata;      /* data lines in the current event */
  long long ev_retry;
  int state;         /* where in a line the parser is: L_* in sse.c */
  int field;         /* the current field: F_* in sse.c */
  int skip_lf;       /* the last line ended with CR: skip one LF */
  int id_dirty;      /* id differs from last_id */
  unsigned char name[8];
  size_t name_len;
  int bom_done;      /* past the stream's first bytes (BOM or not) */
  int bom_seen;      /* BOM bytes matched so far */
  /* UTF-8 decoder (WHATWG Encoding 4.1.1 "UTF-8 decoder") */
  int u8need, u8pend; /* continuation bytes needed; bytes held in dst */
  unsigned char u8lo, u8hi;
} chc_sse;

/* Prepares a parser. max_event bounds every byte string the parser keeps:
** an event's data (its lines joined with LF), an event type and an id
** (0 means CHC_SSE_MAX_EVENT_DEFAULT, 1 MiB). Comments and ignored fields
** are skipped without being kept, so they pass at any length (a server's
** heartbeat). The struct must be zeroed once before its first init, as for
** chc_h1_resp_init; chc_sse_free releases the memory and leaves it zeroed.
** Allocates nothing until bytes come. */
void chc_sse_init(chc_sse *s, size_t max_event);
void chc_sse_free(chc_sse *s);

/* Feeds n bytes at p (only read; the parser copies what it keeps; p may be
** NULL when n is 0). Parses
** until the input is used up or an event is dispatched: then s->ready is
** set, s->ev holds it, and the bytes after the blank line are not consumed
** (feed them next). Every call first drops the previous event.
** Returns the bytes consumed (n, or fewer exactly when s->ready), or -1
** with s->err set: RemoteProtocolError "event stream: the data of an event
** is larger than max_event (N bytes)" (or the event type, or the id), or
** ReadError "out of memory ..." with errno ENOMEM. After an error every
** feed returns -1 until chc_sse_reset. Never calls back. */
ssize_t chc_sse_feed(chc_sse *s, const char *p, size_t n);

/* The stream ended. Discards the unfinished event and line, as the spec
** says ("any pending data must be discarded"), including an id seen in it,
** and makes the parser ready for a new stream, as chc_sse_reset.
** Returns 1 if something unfinished was discarded (a reason to warn),
** 0 if the stream ended between events, -1 if the parser was in error
** (then it stays so). */
int chc_sse_eof(chc_sse *s);

/* Ready for a new stream (a reconnection): drops the unfinished event and
** line and any error, expects an optional BOM again, and keeps the last
** event ID and retry. The new stream's last event ID buffer starts as the
** last event ID, as browsers do (Chromium seeds its new parser with it), so
** events without an id field keep reporting it. */
void chc_sse_reset(chc_sse *s);

/* The last event ID (for Last-Event-ID on a reconnection); "" when none.
** NUL-terminated; *len (if len is not NULL) gets its length. */
const char *chc_sse_last_id(const chc_sse *s, size_t *len);
/* Sets the last event ID, e.g. from a caller's saved one, as if a stream
** had dispatched it (drops a ready event, as feed does). Returns 0, or -1
** with errno ENOMEM. */
int chc_sse_set_last_id(chc_sse *s, const char *p, size_t n);

#endif
