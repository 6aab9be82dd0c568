/* The core of ctl-apply (apply_core.h): extract one OCI layer (tar, optionally gzip or zstd) into the
 * current directory, computing its diff_id on the way. main (apply.c) and the fuzz harness call it.
 *
 * Design. Two threads: a reader decompresses the input (libarchive, filter auto + format raw)
 * into 1 MiB slots; the extractor hashes each slot as it takes it and feeds it to a second
 * libarchive reader (format tar) through a read callback, writing with archive_write_disk. The
 * two overlap on separate cores the way `tar -xzf` overlaps with its gzip child; hashing sits
 * with the extractor because inflate alone already fills the reader's core (callgrind: inflate
 * and sha256 are nearly all of the user time). After the tar's end the extractor drains and
 * hashes the rest of the stream, so the diff_id covers all of it.
 * A gzip layer read from a file is inflated with ISA-L's igzip instead of libarchive's zlib filter:
 * about twice as fast (busybox's layer: 7.7 against 3.6 ms), and inflate is the reader's whole
 * work, on the way of every pull. Members follow one another as with gzip(1); what follows the
 * last one and is not a gzip header is ignored, as libarchive does. Other input goes through
 * libarchive (zstd, uncompressed, and a pipe, whose first bytes cannot be looked at first). */
#include "apply_core.h"
#include "apply_writers.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <isa-l/igzip_lib.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#define SLOT_SIZE (1 << 20)
#define NSLOTS 8
#define INPUT_BLOCK (1 << 20)

/* pathset flags */
enum { WRITTEN = 1, WHITED_OUT = 2 };

struct slot {
  char *buf;
  size_t len;
};

/* An input file another process is still writing (layer_input_open_growing). */
struct growing_file {
  int fd;
  uint64_t size, got;
  char *buf;
};

/* The decompressing reader and the slots it shares with the extractor. */
struct layer_input {
  struct archive *outer;         /* NULL when igzip inflates */
  struct inflate_state *inflate; /* igzip's state, for a gzip file */
  int fd;                        /* the input when not growing */
  unsigned char *inbuf;          /* compressed bytes for igzip */
  struct growing_file *growing;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct slot slots[NSLOTS];
  size_t head, tail, filled; /* fill at head, consume at tail */
  bool held;                 /* the extractor still reads slots[tail] */
  bool eof, failed;
  bool stop, started; /* stop: the extractor gave up, the reader must end */
  int errnum;
  char errmsg[1024];
  struct sha256 hash;
  uint64_t total;
};

struct applier {
  enum whiteout_mode mode;
  bool devices, warnings;
  struct archive *disk;
  struct writers *writers; /* NULL: every file written on the main thread */
  char *last_parent;       /* the parent dir of the last file handed to the writers: it exists */
  struct pathset seen;
  bool root_times_set;
  struct timespec root_times[2];
};

/* ---- the reader thread ---- */

static void reader_fail(struct layer_input *p, int errnum, const char *msg);
static struct slot *next_slot(struct layer_input *p);
static void publish_slot(struct layer_input *p, bool eof);
static void publish_end(struct layer_input *p, struct slot *cur);

static void *reader_main(void *arg) {
  struct layer_input *p = arg;
  struct slot *cur = NULL;
  for (;;) {
    const void *buf;
    size_t len;
    la_int64_t off;
    int r = archive_read_data_block(p->outer, &buf, &len, &off);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      reader_fail(p, archive_errno(p->outer), archive_error_string(p->outer) ?: "read error");
      return NULL;
    }
    const char *src = buf;
    while (len > 0) {
      if (!cur && !(cur = next_slot(p))) return NULL;
      size_t n = SLOT_SIZE - cur->len < len ? SLOT_SIZE - cur->len : len;
      memcpy(cur->buf + cur->len, src, n);
      cur->len += n;
      src += n;
      len -= n;
      if (cur->len == SLOT_SIZE) {
        publish_slot(p, false);
        cur = NULL;
      }
    }
  }
  publish_end(p, cur);
  return NULL;
}

static void release_held_locked(struct layer_input *p) {
  if (!p->held) return;
  p->held = false;
  p->tail = (p->tail + 1) % NSLOTS;
  p->filled--;
  pthread_cond_broadcast(&p->cv);
}

static la_ssize_t tar_read_cb(struct archive *a, void *ud, const void **buf) {
  struct layer_input *p = ud;
  pthread_mutex_lock(&p->mu);
  release_held_locked(p);
  while (p->filled == 0 && !p->eof && !p->failed) pthread_cond_wait(&p->cv, &p->mu);
  if (p->filled > 0) {
    p->held = true;
    *buf = p->slots[p->tail].buf;
    la_ssize_t len = (la_ssize_t)p->slots[p->tail].len;
    pthread_mutex_unlock(&p->mu);
    sha256_update(&p->hash, *buf, len); /* outside the lock: the reader may fill other slots */
    p->total += len;
    return len;
  }
  la_ssize_t r = 0; /* end of the stream */
  if (p->failed) {
    archive_set_error(a, p->errnum ? p->errnum : -1, "%s", p->errmsg);
    r = -1;
  }
  pthread_mutex_unlock(&p->mu);
  return r;
}

/* After the tar's end: hash what follows it (padding) to the end of the stream; fails on a bad tail. */
static int pipeline_finish(struct layer_input *p, struct archive *tar, char diff_id[72], struct lerr *e) {
  const void *buf;
  la_ssize_t n;
  while ((n = tar_read_cb(tar, p, &buf)) > 0) continue;
  pthread_join(p->thread, NULL);
  p->started = false;
  if (n < 0 || p->failed) return lfail(e, EXIT_LAYER_INVALID, 0, "reading layer: %s", p->errmsg);
  sha256_final_hex(&p->hash, diff_id);
  return 0;
}

/* Reads the growing file up to its announced size: at its current end, looks again after a pause
 * that doubles from 1 to 4 ms while nothing comes, so a layer is applied while it downloads. Not
 * longer: the pause after the download's last bytes is time the pull waits for (a 32 ms cap left
 * a busybox pull's apply ending 17 ms after its download); a look costs a pread and an fstat,
 * ~3 us, so waiting on a slow registry costs at most 250 of them a second.
 * Not inotify: closing an instance waits for an SRCU grace period, ~9 ms at every apply's exit.
 * Whoever writes the file checks its bytes; whoever runs this kills it if the write fails; a file
 * removed before it was complete ends the read. */
/* At the growing file's current end: -1 with the reason when it was removed, else 0 after a pause
 * that doubles from 1 to 4 ms over the calls that share pause_us. */
static int wait_for_more(struct growing_file *g, long *pause_us, int *errnum, char *msg, size_t msgsize) {
  struct stat st;
  if (fstat(g->fd, &st) == 0 && st.st_nlink == 0) {
    *errnum = ENOENT;
    snprintf(msg, msgsize, "the input was removed at byte %llu of %llu", (unsigned long long)g->got, (unsigned long long)g->size);
    return -1;
  }
  struct timespec pause = {.tv_nsec = *pause_us * 1000};
  nanosleep(&pause, NULL);
  if (*pause_us < 4000) *pause_us *= 2;
  return 0;
}

static ssize_t growing_read(struct growing_file *g, void *dst, size_t cap, int *errnum, char *msg, size_t msgsize) {
  long pause_us = 1000;
  while (g->got < g->size) {
    size_t want = g->size - g->got < cap ? (size_t)(g->size - g->got) : cap;
    ssize_t n = pread(g->fd, dst, want, (off_t)g->got);
    if (n > 0) {
      g->got += (uint64_t)n;
      return n;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      *errnum = errno;
      snprintf(msg, msgsize, "read: %s", strerror(errno));
      return -1;
    }
    if (wait_for_more(g, &pause_us, errnum, msg, msgsize) < 0) return -1;
  }
  return 0;
}

static la_ssize_t growing_read_cb(struct archive *a, void *ud, const void **buf) {
  struct growing_file *g = ud;
  int errnum = 0;
  char msg[256];
  ssize_t n = growing_read(g, g->buf, INPUT_BLOCK, &errnum, msg, sizeof msg);
  if (n < 0) archive_set_error(a, errnum, "%s", msg);
  *buf = g->buf;
  return n;
}

/* ---- igzip: the reader thread for a gzip file ---- */

/* The next compressed bytes into dst: > 0, 0 at the input's end, -1 with p->errnum and p->errmsg. */
static ssize_t raw_read(struct layer_input *p, void *dst, size_t cap) {
  if (p->growing) return growing_read(p->growing, dst, cap, &p->errnum, p->errmsg, sizeof p->errmsg);
  for (;;) {
    ssize_t n = read(p->fd, dst, cap);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    p->errnum = errno;
    snprintf(p->errmsg, sizeof p->errmsg, "read: %s", strerror(errno));
    return -1;
  }
}

static const char *igzip_error(int ret) {
  switch (ret) {
  case ISAL_INVALID_BLOCK:
    return "gzip data is damaged (invalid block)";
  case ISAL_INVALID_SYMBOL:
    return "gzip data is damaged (invalid symbol)";
  case ISAL_INVALID_LOOKBACK:
    return "gzip data is damaged (invalid distance)";
  case ISAL_INVALID_WRAPPER:
    return "gzip header is damaged";
  case ISAL_UNSUPPORTED_METHOD:
    return "gzip compression method is not deflate";
  case ISAL_INCORRECT_CHECKSUM:
    return "gzip data is damaged (CRC or length mismatch)";
  default:
    return "gzip data is damaged";
  }
}

static void reader_fail(struct layer_input *p, int errnum, const char *msg) {
  pthread_mutex_lock(&p->mu);
  p->failed = true;
  p->errnum = errnum;
  if (msg) snprintf(p->errmsg, sizeof p->errmsg, "%s", msg);
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
}

/* The next slot to fill, NULL when the extractor stopped. */
static struct slot *next_slot(struct layer_input *p) {
  pthread_mutex_lock(&p->mu);
  /* a slot held by the extractor counts as filled until released */
  while (p->filled == NSLOTS && !p->stop) pthread_cond_wait(&p->cv, &p->mu);
  bool stop = p->stop;
  pthread_mutex_unlock(&p->mu);
  if (stop) return NULL;
  struct slot *cur = &p->slots[p->head];
  cur->len = 0;
  return cur;
}

static void publish_slot(struct layer_input *p, bool eof) {
  pthread_mutex_lock(&p->mu);
  p->head = (p->head + 1) % NSLOTS;
  p->filled++;
  p->eof = eof;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
}

/* The end of the stream, with the last slot if it holds anything. */
static void publish_end(struct layer_input *p, struct slot *cur) {
  if (cur && cur->len) {
    publish_slot(p, true);
    return;
  }
  pthread_mutex_lock(&p->mu);
  p->eof = true;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
}

static void *igzip_reader_main(void *arg) {
  struct layer_input *p = arg;
  struct inflate_state *s = p->inflate;
  bool input_end = false;
  struct slot *cur = NULL;
  for (;;) {
    if (!cur && !(cur = next_slot(p))) return NULL;
    s->next_out = (uint8_t *)cur->buf + cur->len;
    s->avail_out = (uint32_t)(SLOT_SIZE - cur->len);
    uint32_t in_before = s->avail_in;
    int ret = isal_inflate(s);
    size_t produced = (SLOT_SIZE - s->avail_out) - cur->len;
    cur->len += produced;
    if (ret < 0 || ret == ISAL_NEED_DICT) {
      reader_fail(p, 0, igzip_error(ret));
      return NULL;
    }
    if (cur->len == SLOT_SIZE) {
      publish_slot(p, false);
      cur = NULL;
      continue;
    }
    if (produced || s->avail_in != in_before) continue;
    /* no progress: a member ended, or more input is needed */
    if (s->block_state == ISAL_BLOCK_FINISH) {
      if (s->avail_in >= 2 && s->next_in[0] == 0x1f && s->next_in[1] == 0x8b) {
        isal_inflate_reset(s);
        s->crc_flag = ISAL_GZIP;
        continue;
      }
      if (s->avail_in >= 2 || input_end) break;
    } else if (input_end) {
      reader_fail(p, 0, "gzip data is truncated (unexpected end of input)");
      return NULL;
    }
    /* more input, after what is left of the last block */
    if (s->avail_in && s->next_in != p->inbuf) memmove(p->inbuf, s->next_in, s->avail_in);
    ssize_t n = raw_read(p, p->inbuf + s->avail_in, INPUT_BLOCK - s->avail_in);
    if (n < 0) {
      reader_fail(p, p->errnum, NULL);
      return NULL;
    }
    input_end = n == 0;
    s->next_in = p->inbuf;
    s->avail_in += (uint32_t)n;
  }
  publish_end(p, cur);
  return NULL;
}

/* Whether the input file starts with gzip's magic (a growing one: once it holds two bytes). A pipe
 * cannot be looked at without consuming it: false. */
static bool gzip_file(int fd, struct growing_file *growing) {
  unsigned char magic[2];
  if (growing) {
    if (growing->size < 2) return false;
    long pause_us = 1000;
    int errnum;
    char msg[256];
    for (;;) {
      ssize_t n = pread(fd, magic, 2, 0);
      if (n == 2) break;
      if (n < 0 && errno != EINTR) return false;
      /* removed: libarchive's read reports it */
      if (n >= 0 && wait_for_more(growing, &pause_us, &errnum, msg, sizeof msg) < 0) return false;
    }
  } else {
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || pread(fd, magic, 2, lseek(fd, 0, SEEK_CUR)) != 2) return false;
  }
  return magic[0] == 0x1f && magic[1] == 0x8b;
}

static int input_open(struct layer_input **out, int fd, struct growing_file *growing, struct lerr *e) {
  struct layer_input *p = calloc(1, sizeof *p);
  if (!p) abort();
  *out = p;
  p->growing = growing;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  /* One block: a slot's memory is touched only once data fills it (a malloc per slot wrote a
   * header into each, and on a heap of huge pages that zeroed 8 MiB for a layer of 1 MiB) */
  char *block = malloc((size_t)NSLOTS * SLOT_SIZE);
  if (!block) abort();
  for (int i = 0; i < NSLOTS; i++) p->slots[i].buf = block + (size_t)i * SLOT_SIZE;
  sha256_init(&p->hash);
  p->fd = fd;
  if (gzip_file(fd, growing)) {
    p->inflate = malloc(sizeof *p->inflate);
    p->inbuf = malloc(INPUT_BLOCK);
    if (!p->inflate || !p->inbuf) abort();
    isal_inflate_init(p->inflate);
    p->inflate->crc_flag = ISAL_GZIP;
    return 0;
  }
  p->outer = archive_read_new();
  archive_read_support_filter_gzip(p->outer);
  archive_read_support_filter_zstd(p->outer);
  archive_read_support_format_raw(p->outer);
  struct archive_entry *raw;
  int opened =
      growing ? archive_read_open(p->outer, growing, NULL, growing_read_cb, NULL) : archive_read_open_fd(p->outer, fd, INPUT_BLOCK);
  if (opened != ARCHIVE_OK || archive_read_next_header(p->outer, &raw) != ARCHIVE_OK)
    return lfail(e, EXIT_LAYER_INVALID, 0, "reading layer: %s", archive_error_string(p->outer) ?: "empty input");
  return 0;
}

int layer_input_open(struct layer_input **out, int fd, struct lerr *e) { return input_open(out, fd, NULL, e); }

int layer_input_open_growing(struct layer_input **out, int fd, uint64_t size, struct lerr *e) {
  struct growing_file *g = calloc(1, sizeof *g);
  if (!g || !(g->buf = malloc(INPUT_BLOCK))) abort();
  g->fd = fd;
  g->size = size;
  return input_open(out, fd, g, e);
}

static int pipeline_start(struct layer_input *p, struct lerr *e) {
  int r = pthread_create(&p->thread, NULL, p->inflate ? igzip_reader_main : reader_main, p);
  if (r) return lfail(e, EXIT_LAYER_INTERNAL, r, "pthread_create");
  p->started = true;
  return 0;
}

/* ---- applying entries (all paths relative to the chroot's "/", cwd) ---- */

static void mark_written(struct applier *ap, const char *path) {
  pathset_add(&ap->seen, path, WRITTEN);
  /* ancestors the entry needed count as written too: an opaque dir must keep them */
  char *copy = strdup(path);
  if (!copy) abort();
  for (char *slash = strrchr(copy, '/'); slash; slash = strrchr(copy, '/')) {
    *slash = '\0';
    if (pathset_get(&ap->seen, copy) & WRITTEN) break;
    pathset_add(&ap->seen, copy, WRITTEN);
  }
  free(copy);
}

static int mkdir_parents(const char *path, struct lerr *e) {
  cleanup_lfree char *copy = strdup(path);
  if (!copy) abort();
  for (char *p = copy; (p = strchr(p, '/')); p++) {
    *p = '\0';
    if (mkdir(copy, 0755) < 0 && errno != EEXIST) return LSYSERR(e, "mkdir", copy);
    *p = '/';
  }
  return 0;
}

static char *path_join(const char *dir, const char *name) {
  char *out;
  if (!*dir)
    out = strdup(name);
  else if (asprintf(&out, "%s/%s", dir, name) < 0)
    out = NULL;
  if (!out) abort();
  return out;
}

static int set_opaque_xattr(const char *dir, struct lerr *e) {
  if (setxattr(*dir ? dir : ".", OVERLAY_OPAQUE_XATTR, "y", 1, 0) < 0) return LSYSERR(e, "setxattr " OVERLAY_OPAQUE_XATTR, dir);
  return 0;
}

static int clear_unwritten(struct applier *ap, const char *dir, struct lerr *e);

static int whiteout(struct applier *ap, const char *path, struct archive_entry *entry, struct lerr *e) {
  struct stat st;
  bool exists = lstat(path, &st) == 0;
  if (pathset_get(&ap->seen, path) & WRITTEN) {
    /* a whiteout hides lower layers only; this layer's own entry stays, and for a directory
     * the lower one's children must not show through it */
    if (!exists || !S_ISDIR(st.st_mode)) return 0;
    return ap->mode == WH_OVERLAY ? set_opaque_xattr(path, e) : clear_unwritten(ap, path, e);
  }
  if (exists && remove_all(path, e) < 0) return -1;
  if (ap->mode == WH_REMOVE) return 0;
  if (mknod(path, S_IFCHR | 0, makedev(0, 0)) < 0) {
    if (errno != ENOENT || mkdir_parents(path, e) < 0 || mknod(path, S_IFCHR | 0, makedev(0, 0)) < 0)
      return LSYSERR(e, "mknod whiteout", path);
  }
  if (lchown(path, archive_entry_uid(entry), archive_entry_gid(entry)) < 0) return LSYSERR(e, "lchown", path);
  pathset_add(&ap->seen, path, WHITED_OUT);
  return 0;
}

/* Remove everything under dir this layer did not write (remove mode's opaque directory). */
static int clear_unwritten(struct applier *ap, const char *dir, struct lerr *e) {
  DIR *d = opendir(*dir ? dir : ".");
  if (!d) return errno == ENOENT || errno == ENOTDIR ? 0 : LSYSERR(e, "opendir", dir);
  int ret = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    cleanup_lfree char *child = path_join(dir, de->d_name);
    if (pathset_get(&ap->seen, child) & WRITTEN) {
      struct stat st;
      if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode) && clear_unwritten(ap, child, e) < 0) {
        ret = -1;
        break;
      }
    } else if (remove_all(child, e) < 0) {
      ret = -1;
      break;
    }
  }
  closedir(d);
  return ret;
}

static int opaque(struct applier *ap, const char *dir, struct lerr *e) {
  if (ap->mode == WH_REMOVE) return clear_unwritten(ap, dir, e);
  if (*dir) {
    struct stat st;
    if (lstat(dir, &st) == 0 && !S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode) && remove_all(dir, e) < 0) return -1;
    if (mkdir_parents(dir, e) < 0) return -1;
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) return LSYSERR(e, "mkdir", dir);
  }
  return set_opaque_xattr(dir, e);
}

/* Drop xattrs a layer must not set: trusted.overlay.* would turn into whiteouts or redirects. */
static void filter_xattrs(struct archive_entry *entry) {
  if (archive_entry_xattr_reset(entry) == 0) return;
  const char *name;
  const void *value;
  size_t size;
  bool bad = false;
  while (archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK)
    if (!strncmp(name, OVERLAY_XATTR_PREFIX, strlen(OVERLAY_XATTR_PREFIX))) bad = true;
  if (!bad) return;
  struct kept {
    char *name;
    void *value;
    size_t size;
  } kept[256];
  int n = 0;
  archive_entry_xattr_reset(entry);
  while (archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK && n < 256) {
    if (!strncmp(name, OVERLAY_XATTR_PREFIX, strlen(OVERLAY_XATTR_PREFIX))) continue;
    kept[n].name = strdup(name);
    kept[n].value = malloc(size ? size : 1);
    if (!kept[n].name || !kept[n].value) abort();
    memcpy(kept[n].value, value, size);
    kept[n++].size = size;
  }
  archive_entry_xattr_clear(entry);
  for (int i = 0; i < n; i++) {
    archive_entry_xattr_add_entry(entry, kept[i].name, kept[i].value, kept[i].size);
    free(kept[i].name);
    free(kept[i].value);
  }
}

static int disk_error(struct archive *disk, const char *path, struct lerr *e) {
  int errnum = archive_errno(disk);
  const char *msg = archive_error_string(disk) ?: "write failed";
  int code = exit_code_for_errno(errnum);
  if (code == EXIT_LAYER_NOSPACE) return lfail(e, code, 0, "%s: no space left: the disk or quota is full (%s)", path, msg);
  return lfail(e, code, 0, "%s: %s", path, msg);
}

/* A warning (an attribute that could not be restored) is reported and the layer goes on, unless
 * the disk is full. */
static int disk_status(struct archive *disk, bool warnings, int r, const char *path, struct lerr *e) {
  if (r == ARCHIVE_OK) return 0;
  if (r < ARCHIVE_WARN || exit_code_for_errno(archive_errno(disk)) == EXIT_LAYER_NOSPACE) return disk_error(disk, path, e);
  if (warnings) fprintf(stderr, "ctl-apply: warning: %s: %s\n", path, archive_error_string(disk) ?: "");
  return 0;
}

/* The root directory's own entry ("./"): archive_write_disk refuses an empty path. */
static int apply_root(struct applier *ap, struct archive_entry *entry, struct lerr *e) {
  if (archive_entry_filetype(entry) != AE_IFDIR) return lfail(e, EXIT_LAYER_INVALID, 0, "./: the root must be a directory");
  if (lchown(".", archive_entry_uid(entry), archive_entry_gid(entry)) < 0) return LSYSERR(e, "lchown", "/");
  if (chmod(".", archive_entry_mode(entry) & 07777) < 0) return LSYSERR(e, "chmod", "/");
  ap->root_times[0].tv_sec = archive_entry_mtime(entry);
  ap->root_times[0].tv_nsec = archive_entry_mtime_nsec(entry);
  ap->root_times[1] = ap->root_times[0];
  ap->root_times_set = true;
  return 0;
}

static int copy_data(struct archive *in, struct archive *disk, const char *path, struct lerr *e) {
  for (;;) {
    const void *buf;
    size_t len;
    la_int64_t off;
    int r = archive_read_data_block(in, &buf, &len, &off);
    if (r == ARCHIVE_EOF) return 0;
    if (r < ARCHIVE_WARN) return lfail(e, EXIT_LAYER_INVALID, 0, "%s: reading layer: %s", path, archive_error_string(in) ?: "read error");
    /* archive_write_disk reports a failed write(2), ENOSPC included, as a mere warning */
    if (archive_write_data_block(disk, buf, len, off) != ARCHIVE_OK) return disk_error(disk, path, e);
  }
}

/* Files up to this size go to the writer threads, and this much file data may be in flight. */
#define WRITER_FILE_MAX (8u << 20)
#define WRITER_INFLIGHT_MAX (64u << 20)

static int ensure_parent(struct applier *ap, const char *path, struct lerr *e) {
  const char *slash = strrchr(path, '/');
  if (!slash) return 0;
  size_t n = (size_t)(slash - path);
  if (ap->last_parent && strlen(ap->last_parent) == n && !strncmp(ap->last_parent, path, n)) return 0;
  char *parent = strndup(path, n);
  if (!parent) abort();
  struct stat st;
  /* a directory this layer wrote (or one of its ancestors) exists; others are looked up, and made
   * with 0755 when missing, as archive_write_disk does for the files it writes */
  if (!(pathset_get(&ap->seen, parent) & WRITTEN) && stat(parent, &st) < 0) {
    if (errno != ENOENT || mkdir_parents(path, e) < 0) {
      int ret = errno == ENOENT ? -1 : LSYSERR(e, "stat", parent);
      free(parent);
      return ret;
    }
  }
  free(ap->last_parent);
  ap->last_parent = parent;
  return 0;
}

/* A new regular file: its bytes read here, its creation done by a writer thread. */
static int offload_file(struct applier *ap, struct archive *in, struct archive_entry *entry, const char *path, const char *raw,
                        struct lerr *e) {
  if (ensure_parent(ap, path, e) < 0) return -1;
  struct file_job *job = calloc(1, sizeof(*job));
  if (!job) abort();
  job->path = strdup(path);
  job->len = (size_t)archive_entry_size(entry);
  job->data = malloc(job->len ? job->len : 1);
  if (!job->path || !job->data) abort();
  for (size_t got = 0; got < job->len;) {
    la_ssize_t r = archive_read_data(in, job->data + got, job->len - got);
    if (r <= 0) {
      file_job_free(job);
      return lfail(e, EXIT_LAYER_INVALID, 0, "%s: reading layer: %s", raw, r < 0 ? archive_error_string(in) ?: "read error" : "truncated");
    }
    got += (size_t)r;
  }
  job->mode = archive_entry_mode(entry);
  job->uid = (uid_t)archive_entry_uid(entry);
  job->gid = (gid_t)archive_entry_gid(entry);
  job->times[1].tv_sec = archive_entry_mtime(entry);
  job->times[1].tv_nsec = archive_entry_mtime_nsec(entry);
  if (archive_entry_atime_is_set(entry)) {
    job->times[0].tv_sec = archive_entry_atime(entry);
    job->times[0].tv_nsec = archive_entry_atime_nsec(entry);
  } else {
    job->times[0] = job->times[1];
  }
  size_t count = (size_t)archive_entry_xattr_reset(entry);
  if (count) {
    job->xattrs = calloc(count, sizeof(*job->xattrs));
    if (!job->xattrs) abort();
    const char *name;
    const void *value;
    size_t size;
    while (job->nxattrs < count && archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK) {
      struct file_xattr *x = &job->xattrs[job->nxattrs++];
      x->name = strdup(name);
      x->value = malloc(size ? size : 1);
      if (!x->name || !x->value) abort();
      memcpy(x->value, value, size);
      x->size = size;
    }
  }
  if (writers_submit(ap->writers, job, e) < 0) return -1;
  mark_written(ap, path);
  return 0;
}

static int apply_entry(struct applier *ap, struct archive *in, struct archive_entry *entry, struct lerr *e) {
  const char *raw = archive_entry_pathname(entry);
  if (!raw) raw = archive_entry_pathname_utf8(entry);
  if (!raw) return lfail(e, EXIT_LAYER_INVALID, 0, "entry without a path");
  const char *reason = NULL;
  cleanup_lfree char *path = NULL;
  if (layer_path_normalize(raw, &path, &reason) < 0) /* cut: the reason must fit the message */
    return lfail(e, EXIT_LAYER_INVALID, 0, "%.256s%s: %s", raw, strlen(raw) > 256 ? "..." : "", reason);

  char *slash = strrchr(path, '/');
  const char *base = slash ? slash + 1 : path;
  if (!strncmp(base, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX))) {
    cleanup_lfree char *dir = strndup(path, slash ? (size_t)(slash - path) : 0);
    if (!dir) abort();
    if (!strcmp(base, WHITEOUT_OPAQUE)) return opaque(ap, dir, e);
    if (!strncmp(base, WHITEOUT_META_PREFIX, strlen(WHITEOUT_META_PREFIX))) return 0; /* reserved */
    const char *name = base + strlen(WHITEOUT_PREFIX);
    if (!*name || !strcmp(name, ".") || !strcmp(name, "..")) return lfail(e, EXIT_LAYER_INVALID, 0, "%s: invalid whiteout name", raw);
    cleanup_lfree char *victim = path_join(dir, name);
    return whiteout(ap, victim, entry, e);
  }

  unsigned type = archive_entry_filetype(entry);
  if (type == AE_IFSOCK) return 0;
  if ((type == AE_IFCHR || type == AE_IFBLK) && !ap->devices) return 0;
  if (!*path) return apply_root(ap, entry, e);

  const char *link = archive_entry_hardlink(entry);
  /* a hardlink's target, or a path this layer already wrote, may still be with a writer */
  if (ap->writers && (link || (pathset_get(&ap->seen, path) & WRITTEN)) && writers_drain(ap->writers, e) < 0) return -1;
  if (link) {
    cleanup_lfree char *target = NULL;
    if (layer_path_normalize(link, &target, &reason) < 0)
      return lfail(e, EXIT_LAYER_INVALID, 0, "%s: hardlink target %s: %s", raw, link, reason);
    if (!*target) return lfail(e, EXIT_LAYER_INVALID, 0, "%s: hardlink to the root", raw);
    struct stat tst;
    if (lstat(target, &tst) < 0) return lfail(e, EXIT_LAYER_INVALID, 0, "%s: hardlink target %s is not in the layer root", raw, link);
    if (!strcmp(target, path)) return 0;
    archive_entry_copy_hardlink(entry, target);
  }
  archive_entry_copy_pathname(entry, path);
  filter_xattrs(entry);

  /* An existing path stays only when both are directories; anything else is replaced, and a
   * directory in the way may be non-empty (archive_write_disk would only rmdir it). */
  struct stat st;
  bool replaced_whiteout = false;
  if (lstat(path, &st) == 0 && !(S_ISDIR(st.st_mode) && type == AE_IFDIR && !link)) {
    replaced_whiteout = S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
    if (remove_all(path, e) < 0) return -1;
  }
  if (ap->writers && type == AE_IFREG && !link && archive_entry_size(entry) <= (la_int64_t)WRITER_FILE_MAX)
    return offload_file(ap, in, entry, path, raw, e);
  if (disk_status(ap->disk, ap->warnings, archive_write_header(ap->disk, entry), raw, e) < 0) return -1;
  if (archive_entry_size(entry) > 0 && copy_data(in, ap->disk, raw, e) < 0) return -1;
  if (disk_status(ap->disk, ap->warnings, archive_write_finish_entry(ap->disk), raw, e) < 0) return -1;
  /* a whiteout of this same layer, then a directory: lower content under it must stay hidden */
  if (ap->mode == WH_OVERLAY && type == AE_IFDIR && replaced_whiteout && (pathset_get(&ap->seen, path) & WHITED_OUT) &&
      set_opaque_xattr(path, e) < 0)
    return -1;
  mark_written(ap, path);
  return 0;
}

void layer_input_free(struct layer_input *p) {
  if (!p) return;
  if (p->started) {
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
  }
  if (p->outer) archive_read_free(p->outer);
  free(p->inflate);
  free(p->inbuf);
  if (p->growing) {
    free(p->growing->buf);
    free(p->growing);
  }
  free(p->slots[0].buf);
  if (p->hash.ctx) {
    char unused[72];
    sha256_final_hex(&p->hash, unused);
  }
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  free(p);
}

/* Whether the input could not be read (or inflated): before the first entry too, that is a failed
 * read, not a layer in another format. */
static bool reader_failed(struct layer_input *p) {
  pthread_mutex_lock(&p->mu);
  bool failed = p->failed;
  pthread_mutex_unlock(&p->mu);
  return failed;
}

static int apply_entries(struct applier *ap, struct layer_input *p, struct archive *in, uint64_t *entries, struct lerr *e) {
  for (;;) {
    struct archive_entry *entry;
    int r = archive_read_next_header(in, &entry);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      const char *msg = archive_error_string(in) ?: "read error";
      return lfail(e, EXIT_LAYER_INVALID, 0, "%s: %s", *entries || reader_failed(p) ? "reading layer" : "layer is not a tar archive", msg);
    }
    ++*entries;
    if (apply_entry(ap, in, entry, e) < 0) return -1;
  }
  if (ap->writers && writers_drain(ap->writers, e) < 0) return -1;
  /* directory modes and times, deferred by archive_write_disk until every child is written */
  if (archive_write_close(ap->disk) < ARCHIVE_WARN) return disk_error(ap->disk, "fixing directory times", e);
  if (ap->root_times_set && utimensat(AT_FDCWD, ".", ap->root_times, 0) < 0) return LSYSERR(e, "utimensat", "/");
  return 0;
}

int layer_apply(struct layer_input *p, const struct apply_options *opts, struct apply_result *res, struct lerr *e) {
  memset(res, 0, sizeof *res);
  if (pipeline_start(p, e) < 0) return -1;
  struct archive *in = archive_read_new();
  archive_read_support_format_tar(in);
  if (archive_read_open(in, p, NULL, tar_read_cb, NULL) != ARCHIVE_OK) {
    int ret = lfail(e, EXIT_LAYER_INVALID, 0, "%s: %s", reader_failed(p) ? "reading layer" : "layer is not a tar archive",
                    archive_error_string(in) ?: "unknown format");
    archive_read_free(in);
    return ret;
  }
  struct applier ap = {.mode = opts->mode, .devices = opts->devices, .warnings = opts->warnings};
  ap.disk = archive_write_disk_new();
  archive_write_disk_set_options(ap.disk, ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR |
                                              ARCHIVE_EXTRACT_SECURE_NODOTDOT);
  int ret = opts->writers > 0 ? writers_start(&ap.writers, opts->writers, WRITER_INFLIGHT_MAX, e) : 0;
  if (ret == 0) ret = apply_entries(&ap, p, in, &res->entries, e);
  writers_stop(ap.writers);
  if (ret == 0) ret = pipeline_finish(p, in, res->diff_id, e);
  res->size = p->total;
  archive_write_free(ap.disk);
  archive_read_free(in);
  pathset_free(&ap.seen);
  free(ap.last_parent);
  return ret;
}
