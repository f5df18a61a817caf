# file: src/lua/lpool.c
# what: closing a response no longer wakes its request-body producer
/so that they see it is closed \*\//{
n
s/chc_waitq_wake(u->ll, &u->q);/\/* MUTATION: no wake-up *\//
}
