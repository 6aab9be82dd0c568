/* Seccomp filters from linux.seccomp, compiled with libseccomp and cached (seccomp.c). */
#ifndef CTL_SECCOMP_H
#define CTL_SECCOMP_H

#include <jansson.h>
#include "error.h"

/* In the parent, before the fork: the filter compiled (or read from cache_dir's cache). */
int seccomp_prepare(json_t *seccomp, const char *cache_dir, struct ctl_err *e);
/* In the container's process: the prepared filter, else one compiled now. */
int seccomp_apply(json_t *seccomp, struct ctl_err *e);

#endif
