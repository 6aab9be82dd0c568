/* Small helpers every part of the runtime uses: cleanup attributes, allocation, files. */
#ifndef CTL_UTIL_H
#define CTL_UTIL_H

#include <stddef.h>
#include <sys/types.h>
#include "error.h"

/* cleanup attributes free what an early return leaves */
void ctl_freep(void *p);
void ctl_closep(int *fd);
#define cleanup_free __attribute__((cleanup(ctl_freep)))
#define cleanup_close __attribute__((cleanup(ctl_closep)))

char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void *xmalloc(size_t n);

/* small file helpers */
int write_file(const char *path, const char *data, size_t len, struct ctl_err *e);
int write_file_fmt(struct ctl_err *e, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int write_file_atomic(const char *path, const char *data, size_t len, struct ctl_err *e);
/* read a whole (small) file into a malloc'd NUL-terminated buffer; returns length or -1 */
ssize_t read_file(const char *path, char **out, struct ctl_err *e);
int mkdir_p(const char *path, mode_t mode, struct ctl_err *e);
int safe_rmdir_r(const char *path);

#endif
