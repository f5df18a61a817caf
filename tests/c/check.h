/*
** check.h: the C tests' CHECK, which counts a failure and goes on (it is
** not assert(): NDEBUG cannot compile it out). A test's main ends with
** `return failures != 0;`.
*/
#ifndef CHC_TEST_CHECK_H
#define CHC_TEST_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(c)                                                      \
  do {                                                                \
    if (!(c)) {                                                       \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
              #c);                                                    \
      failures++;                                                     \
    }                                                                 \
  } while (0)

#endif
