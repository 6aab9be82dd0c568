#ifndef _GNU_SOURCE /* ctl-runtime defines it for all its files */
#define _GNU_SOURCE
#endif
#include "clock.h"
#include <stdio.h>
#include <time.h>

void ctl_rfc3339(char *buf, size_t len) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, len - n, ".%09ldZ", ts.tv_nsec);
}
