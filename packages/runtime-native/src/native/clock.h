#ifndef CTL_CLOCK_H
#define CTL_CLOCK_H
#include <stddef.h>

/* The current time as RFC 3339 with nanoseconds, UTC ("2026-01-02T03:04:05.000000006Z").
 * Apart from util.c so that the static shim links it without the runtime's other code. */
void ctl_rfc3339(char *buf, size_t len);

#endif
