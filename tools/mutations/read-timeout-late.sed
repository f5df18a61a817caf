# file: src/stream.c
# what: the read timeout fires 10x late (HTTP/1.1 and HTTP/2)
s/^  s->to = rq->to;$/  s->to = rq->to;\
  if (s->to.read > 0) s->to.read *= 10; \/* MUTATION *\//
