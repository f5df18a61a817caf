# file: src/pool.c
# what: connection reuse off: a finished connection is never kept idle
s/if (p->o.max_keepalive <= 0) {/if (1) { \/* MUTATION *\//
