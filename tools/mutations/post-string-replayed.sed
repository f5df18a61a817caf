# file: src/pool.c
# what: a POST (or PATCH) with a string body is replayed on a stale keep-alive connection
s/return s->idempotent && s->body_kind != CHC_BODY_STREAM;/return (s->idempotent || s->body_kind == CHC_BODY_BYTES) \&\& s->body_kind != CHC_BODY_STREAM; \/* MUTATION *\//
