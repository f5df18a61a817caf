# file: src/h1conn.c
# what: the pool slot of a response closed or cancelled before its end is never freed
s/pool_conn_close(c, CHC_OK, "response closed before its end");/c->pool->nconns++; \/* MUTATION *\/\
    pool_conn_close(c, CHC_OK, "response closed before its end");/
