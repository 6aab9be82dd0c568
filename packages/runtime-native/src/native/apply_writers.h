/* Parallel creation of regular files for ctl-apply.
 *
 * Why: on a file system whose inode allocation is slow (this machine's journal-less ext4 scans
 * recently deleted inodes on every create), applying a layer is bound by open(O_CREAT) in the
 * kernel, one file at a time. Writers on other threads create files side by side while the
 * main thread goes on parsing the tar. Only plain new files are handed over; everything whose
 * order matters (directories, links, whiteouts, replacements) stays on the main thread, which
 * drains the writers first when an entry depends on files still in flight. */
#ifndef APPLY_WRITERS_H
#define APPLY_WRITERS_H

#include <sys/stat.h>
#include <time.h>
#include "apply_common.h"

struct file_xattr {
  char *name;
  void *value;
  size_t size;
};

/* One file to create: owned by the writers once submitted. */
struct file_job {
  char *path; /* relative to the (chroot's) cwd; the parent exists */
  mode_t mode;
  uid_t uid;
  gid_t gid;
  struct timespec times[2]; /* atime, mtime */
  char *data;
  size_t len;
  struct file_xattr *xattrs;
  size_t nxattrs;
  struct file_job *next;
};

struct writers;

/* n threads; at most max_bytes of file data in flight (submit waits beyond it). */
int writers_start(struct writers **out, int n, size_t max_bytes, struct lerr *e);
/* Hands a job over; -1 (with the first writer's error in e) when a writer has failed. */
int writers_submit(struct writers *w, struct file_job *job, struct lerr *e);
/* Waits until every submitted file is complete; -1 with the first writer's error. */
int writers_drain(struct writers *w, struct lerr *e);
void writers_stop(struct writers *w);
void file_job_free(struct file_job *job);

#endif
