/*
** slow_gai.c: an LD_PRELOAD shim over getaddrinfo for spec/resolver_spec.lua
** (built by the spec itself: cc -shared -fPIC -o slow_gai.so slow_gai.c).
**
** A name that begins with "slow-" takes CHC_SLOW_GAI_MS milliseconds
** (default 3000), as a DNS server that answers late would, and then
** resolves as 127.0.0.1. Every call is logged, one line with the name, to
** the file CHC_GAI_LOG when that is set, so a test can count the lookups.
** Everything else goes to the real getaddrinfo.
*/
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef int (*gai_fn)(const char *, const char *, const struct addrinfo *,
                      struct addrinfo **);

int getaddrinfo(const char *node, const char *service,
                const struct addrinfo *hints, struct addrinfo **res) {
  gai_fn real = (gai_fn)dlsym(RTLD_NEXT, "getaddrinfo");
  const char *log = getenv("CHC_GAI_LOG");
  if (log != NULL && node != NULL) {
    int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) {
      char line[300];
      int n = snprintf(line, sizeof line, "%s\n", node);
      if (n > 0 && write(fd, line, (size_t)n) < 0) n = 0;
      close(fd);
    }
  }
  if (node != NULL && strncmp(node, "slow-", 5) == 0) {
    const char *e = getenv("CHC_SLOW_GAI_MS");
    long ms = e ? atol(e) : 3000;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    struct addrinfo h;
    while (nanosleep(&ts, &ts) != 0) {
    }
    if (hints != NULL) {
      h = *hints;
      h.ai_flags &= ~AI_ADDRCONFIG; /* 127.0.0.1 on any machine */
      hints = &h;
    }
    return real("127.0.0.1", service, hints, res);
  }
  return real(node, service, hints, res);
}
