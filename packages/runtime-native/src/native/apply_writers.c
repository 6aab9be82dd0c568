/* Parallel creation of regular files for ctl-apply (see apply_writers.h). */
#include "apply_writers.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>

struct queue {
  struct file_job *head, *tail;
};

struct writers {
  pthread_mutex_t mu;
  pthread_cond_t work;  /* a job was queued, or stop */
  pthread_cond_t room;  /* bytes in flight went down, or a writer went idle */
  struct queue *queues; /* one per writer: files of one directory go to one writer */
  size_t queued;
  size_t inflight_bytes, max_bytes;
  int busy; /* jobs taken but not finished */
  bool stop, failed;
  struct lerr err;
  int n;
  pthread_t threads[];
};

void file_job_free(struct file_job *job) {
  if (!job) return;
  free(job->path);
  free(job->data);
  for (size_t i = 0; i < job->nxattrs; i++) {
    free(job->xattrs[i].name);
    free(job->xattrs[i].value);
  }
  free(job->xattrs);
  free(job);
}

static int write_all(int fd, const char *buf, size_t len) {
  while (len) {
    ssize_t n = write(fd, buf, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

/* A failed call, said the way ctl-apply says a full disk wherever it meets one. */
static int sys_fail(struct lerr *e, const char *call, const char *path) {
  int err = errno;
  if (exit_code_for_errno(err) == EXIT_LAYER_NOSPACE)
    return lfail(e, EXIT_LAYER_NOSPACE, 0, "%s: no space left: the disk or quota is full (%s: %s)", path, call, strerror(err));
  return lfail(e, 0, err, "%s %s", call, path);
}

/* open, write, owner, mode (after the owner: chown clears set-id bits), xattrs, times. */
static int create_file(const struct file_job *job, struct lerr *e) {
  int fd = open(job->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return sys_fail(e, "create", job->path);
  int ret = 0;
  if (write_all(fd, job->data, job->len) < 0)
    ret = sys_fail(e, "write", job->path);
  else if (fchown(fd, job->uid, job->gid) < 0)
    ret = LSYSERR(e, "fchown", job->path);
  else if ((job->mode & 07777) != 0600 && fchmod(fd, job->mode & 07777) < 0)
    ret = LSYSERR(e, "fchmod", job->path);
  for (size_t i = 0; ret == 0 && i < job->nxattrs; i++)
    if (fsetxattr(fd, job->xattrs[i].name, job->xattrs[i].value, job->xattrs[i].size, 0) < 0)
      ret = lfail(e, 0, errno, "%s: setxattr %s", job->path, job->xattrs[i].name);
  if (ret == 0 && futimens(fd, job->times) < 0) ret = LSYSERR(e, "futimens", job->path);
  if (close(fd) < 0 && ret == 0) ret = sys_fail(e, "close", job->path);
  return ret;
}

struct writer_arg {
  struct writers *w;
  struct queue *q;
};

static void *writer_main(void *arg) {
  struct writers *w = ((struct writer_arg *)arg)->w;
  struct queue *q = ((struct writer_arg *)arg)->q;
  free(arg);
  pthread_mutex_lock(&w->mu);
  for (;;) {
    while (!q->head && !w->stop) pthread_cond_wait(&w->work, &w->mu);
    if (!q->head) break;
    struct file_job *job = q->head;
    q->head = job->next;
    if (!q->head) q->tail = NULL;
    w->queued--;
    w->busy++;
    bool skip = w->failed;
    pthread_mutex_unlock(&w->mu);

    struct lerr e = {0};
    int r = skip ? 0 : create_file(job, &e);
    size_t len = job->len;
    file_job_free(job);

    pthread_mutex_lock(&w->mu);
    if (r < 0 && !w->failed) {
      w->failed = true;
      w->err = e;
    }
    w->busy--;
    w->inflight_bytes -= len;
    pthread_cond_broadcast(&w->room);
  }
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

int writers_start(struct writers **out, int n, size_t max_bytes, struct lerr *e) {
  struct writers *w = calloc(1, sizeof(*w) + (size_t)n * sizeof(pthread_t));
  if (!w) abort();
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->work, NULL);
  pthread_cond_init(&w->room, NULL);
  w->max_bytes = max_bytes;
  w->queues = calloc((size_t)n, sizeof(*w->queues));
  if (!w->queues) abort();
  for (int i = 0; i < n; i++) {
    struct writer_arg *arg = malloc(sizeof(*arg));
    if (!arg) abort();
    *arg = (struct writer_arg){w, &w->queues[i]};
    int r = pthread_create(&w->threads[i], NULL, writer_main, arg);
    if (r) free(arg);
    if (r) {
      w->n = i;
      writers_stop(w);
      return lfail(e, EXIT_LAYER_INTERNAL, r, "pthread_create");
    }
    w->n = i + 1;
  }
  *out = w;
  return 0;
}

static int failure_locked(struct writers *w, struct lerr *e) {
  *e = w->err;
  pthread_mutex_unlock(&w->mu);
  return -1;
}

/* Files of one directory go to one writer: creating them is mostly the kernel choosing inodes in
 * the directory's block group, which two threads doing at once for the same group only repeat. */
static struct queue *queue_for(struct writers *w, const char *path) {
  const char *slash = strrchr(path, '/');
  size_t n = slash ? (size_t)(slash - path) : 0;
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)path[i]) * 1099511628211ull;
  return &w->queues[h % (uint64_t)w->n];
}

int writers_submit(struct writers *w, struct file_job *job, struct lerr *e) {
  pthread_mutex_lock(&w->mu);
  /* one job larger than the budget still goes, alone */
  while (!w->failed && w->inflight_bytes && w->inflight_bytes + job->len > w->max_bytes) pthread_cond_wait(&w->room, &w->mu);
  if (w->failed) {
    file_job_free(job);
    return failure_locked(w, e);
  }
  job->next = NULL;
  struct queue *q = queue_for(w, job->path);
  if (q->tail)
    q->tail->next = job;
  else
    q->head = job;
  q->tail = job;
  w->queued++;
  w->inflight_bytes += job->len;
  pthread_cond_broadcast(&w->work);
  pthread_mutex_unlock(&w->mu);
  return 0;
}

int writers_drain(struct writers *w, struct lerr *e) {
  pthread_mutex_lock(&w->mu);
  while (w->queued || w->busy) pthread_cond_wait(&w->room, &w->mu);
  if (w->failed) return failure_locked(w, e);
  pthread_mutex_unlock(&w->mu);
  return 0;
}

void writers_stop(struct writers *w) {
  if (!w) return;
  pthread_mutex_lock(&w->mu);
  w->stop = true;
  pthread_cond_broadcast(&w->work);
  pthread_mutex_unlock(&w->mu);
  for (int i = 0; i < w->n; i++) pthread_join(w->threads[i], NULL);
  for (int i = 0; i < w->n && w->queues; i++) {
    while (w->queues[i].head) {
      struct file_job *next = w->queues[i].head->next;
      file_job_free(w->queues[i].head);
      w->queues[i].head = next;
    }
  }
  free(w->queues);
  free(w);
}
