# file: src/pool.c
# what: the pool slot of a response closed or cancelled before its end is never freed
s/conn_close(c, CHC_OK, "response closed before its end");/c->pool->nconns++; \/* MUTATION *\/\
    conn_close(c, CHC_OK, "response closed before its end");/
