/* The core of ctl-diff (diff_core.h): write the changes of a filesystem as one OCI layer.
 *
 * --mode overlay: DIR is an overlayfs upperdir; a 0:0 character device becomes `.wh.<name>`, a
 * directory with trusted.overlay.opaque=y becomes the directory plus `<dir>/.wh..wh..opq`.
 * --mode compare: DIR (upper) and --lower are two full trees; an entry is emitted when it is new
 * or its type, mode, owner, size, mtime (with nanoseconds), symlink target, device number or
 * xattrs differ. File contents are not compared: a file rewritten with the same size and mtime
 * is taken as unchanged (what containerd's and Docker's differs do as well). A path of lower
 * missing in upper becomes one `.wh.<name>` (a removed directory's children are not listed).
 *
 * The tar (PAX, numeric owners, no atime/ctime so that the same tree gives the same bytes) is
 * written depth first with each directory's children sorted by name, so a directory always
 * precedes its content. Files linked more than once inside the emitted set become hardlink
 * entries (archive_entry_linkresolver). trusted.overlay.* xattrs are never emitted. Both digests
 * are computed on the way: the tar bytes feed sha256 (diffId) and then the compressor, whose
 * output feeds the second sha256 (digest) and the output file. */
#include "diff_core.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#define COPY_BUF (1 << 20)

struct differ {
  enum diff_mode mode;
  const char *upper, *lower;
  struct archive *tar, *compressor; /* compressor is NULL for --compression none */
  struct archive_entry_linkresolver *links;
  struct sha256 diff_hash, digest_hash;
  uint64_t usize, csize;
  int out_fd;
  bool out_failed;
  bool discard; /* a failed diff: the writers' flush on free goes nowhere */
  struct lerr out_err;
  char *buf;
};

/* ---- output: tar bytes -> diffId -> compressor -> digest -> file ---- */

static la_ssize_t file_write_cb(struct archive *a, void *ud, const void *buf, size_t len) {
  struct differ *d = ud;
  if (d->discard) return (la_ssize_t)len;
  sha256_update(&d->digest_hash, buf, len);
  d->csize += len;
  const char *p = buf;
  for (size_t left = len; left > 0;) {
    ssize_t n = write(d->out_fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int errnum = errno;
      d->out_failed = true;
      if (exit_code_for_errno(errnum) == EXIT_LAYER_NOSPACE)
        lfail(&d->out_err, EXIT_LAYER_NOSPACE, errnum, "writing the layer: the disk or quota is full");
      else
        lfail(&d->out_err, EXIT_LAYER_INTERNAL, errnum, "writing the layer");
      archive_set_error(a, errnum, "%s", d->out_err.msg);
      return -1;
    }
    p += n;
    left -= n;
  }
  return (la_ssize_t)len;
}

static la_ssize_t tar_write_cb(struct archive *a, void *ud, const void *buf, size_t len) {
  struct differ *d = ud;
  if (d->discard) return (la_ssize_t)len;
  sha256_update(&d->diff_hash, buf, len);
  d->usize += len;
  if (!d->compressor) return file_write_cb(a, ud, buf, len);
  la_ssize_t n = archive_write_data(d->compressor, buf, len);
  if (n < 0 || (size_t)n != len) {
    archive_set_error(a, archive_errno(d->compressor), "%s", archive_error_string(d->compressor) ?: "compressing");
    return -1;
  }
  return n;
}

static int open_output(struct differ *d, enum diff_compression compression, struct lerr *e) {
  sha256_init(&d->diff_hash);
  sha256_init(&d->digest_hash);
  if (compression != COMPRESSION_NONE) {
    d->compressor = archive_write_new();
    archive_write_set_format_raw(d->compressor);
    if (compression == COMPRESSION_GZIP) {
      archive_write_add_filter_gzip(d->compressor);
      /* no time in the gzip header: the same tree must give the same digest */
      archive_write_set_filter_option(d->compressor, "gzip", "timestamp", NULL);
    } else {
      archive_write_add_filter_zstd(d->compressor);
    }
    archive_write_set_bytes_per_block(d->compressor, 1 << 16);
    archive_write_set_bytes_in_last_block(d->compressor, 1);
    if (archive_write_open(d->compressor, d, NULL, file_write_cb, NULL) != ARCHIVE_OK)
      return lfail(e, EXIT_LAYER_INTERNAL, 0, "compressor: %s", archive_error_string(d->compressor));
    struct archive_entry *entry = archive_entry_new();
    archive_entry_set_pathname(entry, "layer.tar");
    archive_entry_set_filetype(entry, AE_IFREG);
    int r = archive_write_header(d->compressor, entry);
    archive_entry_free(entry);
    if (r != ARCHIVE_OK) return lfail(e, EXIT_LAYER_INTERNAL, 0, "compressor: %s", archive_error_string(d->compressor));
  }
  d->tar = archive_write_new();
  archive_write_set_format_pax(d->tar);
  archive_write_set_bytes_per_block(d->tar, 1 << 16);
  /* the tar ends with its two zero blocks: no padding to a record size */
  archive_write_set_bytes_in_last_block(d->tar, 1);
  if (archive_write_open(d->tar, d, NULL, tar_write_cb, NULL) != ARCHIVE_OK)
    return lfail(e, EXIT_LAYER_INTERNAL, 0, "tar writer: %s", archive_error_string(d->tar));
  d->links = archive_entry_linkresolver_new();
  archive_entry_linkresolver_set_strategy(d->links, ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE);
  return 0;
}

static int write_failed(struct differ *d, const char *what, struct lerr *e) {
  if (d->out_failed) {
    *e = d->out_err;
    return -1;
  }
  int errnum = archive_errno(d->tar);
  return lfail(e, exit_code_for_errno(errnum) == EXIT_LAYER_NOSPACE ? EXIT_LAYER_NOSPACE : EXIT_LAYER_INTERNAL, 0, "%s: %s", what,
               archive_error_string(d->tar) ?: "write failed");
}

/* ---- reading the trees ---- */

static char *join(const char *a, const char *b) {
  char *out;
  if (!*a)
    out = strdup(b);
  else if (asprintf(&out, "%s/%s", a, b) < 0)
    out = NULL;
  if (!out) abort();
  return out;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted names in dir (NULL-terminated); a missing dir gives an empty list. */
static int list_dir(const char *dir, char ***out, size_t *count, struct lerr *e) {
  *out = NULL;
  *count = 0;
  DIR *d = opendir(dir);
  if (!d) return errno == ENOENT || errno == ENOTDIR ? 0 : LSYSERR(e, "opendir", dir);
  size_t cap = 16, n = 0;
  char **names = malloc(cap * sizeof *names);
  struct dirent *de;
  while (names && (de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    if (n + 1 == cap) names = realloc(names, (cap *= 2) * sizeof *names);
    if (!names || !(names[n++] = strdup(de->d_name))) abort();
  }
  closedir(d);
  if (!names) abort();
  qsort(names, n, sizeof *names, cmp_names);
  names[n] = NULL;
  *out = names;
  *count = n;
  return 0;
}

static void free_names(char **names, size_t n) {
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
}

struct xattrs {
  size_t n;
  char *names[128];
  char *values[128];
  ssize_t sizes[128];
};

static void xattrs_free(struct xattrs *x) {
  for (size_t i = 0; i < x->n; i++) {
    free(x->names[i]);
    free(x->values[i]);
  }
  x->n = 0;
}

/* The xattrs of path a layer may carry (not trusted.overlay.*), sorted by name. */
static int read_xattrs(const char *path, struct xattrs *x, struct lerr *e) {
  x->n = 0;
  char list[16384];
  ssize_t len = llistxattr(path, list, sizeof list);
  if (len < 0) return errno == ENOTSUP ? 0 : LSYSERR(e, "llistxattr", path);
  for (char *name = list; name < list + len && x->n < 128; name += strlen(name) + 1) {
    if (!strncmp(name, OVERLAY_XATTR_PREFIX, strlen(OVERLAY_XATTR_PREFIX))) continue;
    ssize_t size = lgetxattr(path, name, NULL, 0);
    if (size < 0) return LSYSERR(e, "lgetxattr", path);
    char *value = malloc(size ? size : 1);
    if (!value) abort();
    if ((size = lgetxattr(path, name, value, size)) < 0) {
      free(value);
      return LSYSERR(e, "lgetxattr", path);
    }
    x->names[x->n] = strdup(name);
    x->values[x->n] = value;
    x->sizes[x->n++] = size;
  }
  for (size_t i = 1; i < x->n; i++) /* few entries: insertion sort */
    for (size_t j = i; j > 0 && strcmp(x->names[j - 1], x->names[j]) > 0; j--) {
      char *tn = x->names[j], *tv = x->values[j];
      ssize_t ts = x->sizes[j];
      x->names[j] = x->names[j - 1], x->values[j] = x->values[j - 1], x->sizes[j] = x->sizes[j - 1];
      x->names[j - 1] = tn, x->values[j - 1] = tv, x->sizes[j - 1] = ts;
    }
  return 0;
}

static bool xattrs_equal(const struct xattrs *a, const struct xattrs *b) {
  if (a->n != b->n) return false;
  for (size_t i = 0; i < a->n; i++)
    if (strcmp(a->names[i], b->names[i]) || a->sizes[i] != b->sizes[i] || memcmp(a->values[i], b->values[i], a->sizes[i])) return false;
  return true;
}

static bool is_whiteout_device(const struct stat *st) { return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0); }

static bool is_opaque_dir(const char *path) {
  char v[4];
  ssize_t n = lgetxattr(path, OVERLAY_OPAQUE_XATTR, v, sizeof v);
  return n == 1 && v[0] == 'y';
}

/* ---- writing entries ---- */

static int write_entry_data(struct differ *d, const char *abs, const char *rel, int64_t size, struct lerr *e) {
  cleanup_lclose int fd = open(abs, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return LSYSERR(e, "open", abs);
  int64_t left = size;
  while (left > 0) {
    ssize_t n = read(fd, d->buf, left < COPY_BUF ? left : COPY_BUF);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return LSYSERR(e, "read", abs);
    if (n == 0) return lfail(e, EXIT_LAYER_INVALID, 0, "%s: file shrank while it was read", rel);
    if (archive_write_data(d->tar, d->buf, n) != n) return write_failed(d, rel, e);
    left -= n;
  }
  return 0;
}

static int emit(struct differ *d, struct archive_entry *entry, const char *abs, struct lerr *e) {
  struct archive_entry *spare = NULL;
  archive_entry_linkify(d->links, &entry, &spare);
  if (!entry) return 0;
  /* inode numbers only serve the link resolver; keep them out of the bytes */
  archive_entry_set_dev(entry, 0);
  archive_entry_set_ino(entry, 0);
  archive_entry_set_nlink(entry, 1);
  const char *rel = archive_entry_pathname(entry);
  if (archive_write_header(d->tar, entry) < ARCHIVE_WARN) return write_failed(d, rel, e);
  if (archive_entry_filetype(entry) == AE_IFREG && !archive_entry_hardlink(entry) && archive_entry_size(entry) > 0 &&
      write_entry_data(d, abs, rel, archive_entry_size(entry), e) < 0)
    return -1;
  return 0;
}

/* One entry for the file at abs (lstat'ed as st), named rel in the layer. */
static int emit_path(struct differ *d, const char *abs, const char *rel, const struct stat *st, struct lerr *e) {
  if (S_ISSOCK(st->st_mode)) return 0;
  struct archive_entry *entry = archive_entry_new();
  archive_entry_copy_pathname(entry, rel);
  archive_entry_copy_stat(entry, st);
  archive_entry_unset_atime(entry);
  archive_entry_unset_ctime(entry);
  archive_entry_unset_birthtime(entry);
  if (!S_ISREG(st->st_mode)) archive_entry_set_size(entry, 0);
  if (S_ISLNK(st->st_mode)) {
    char target[PATH_MAX + 1];
    ssize_t n = readlink(abs, target, PATH_MAX);
    if (n < 0) {
      archive_entry_free(entry);
      return LSYSERR(e, "readlink", abs);
    }
    target[n] = '\0';
    archive_entry_copy_symlink(entry, target);
  }
  struct xattrs x;
  if (read_xattrs(abs, &x, e) < 0) {
    archive_entry_free(entry);
    return -1;
  }
  for (size_t i = 0; i < x.n; i++) archive_entry_xattr_add_entry(entry, x.names[i], x.values[i], x.sizes[i]);
  xattrs_free(&x);
  int r = emit(d, entry, abs, e);
  archive_entry_free(entry);
  return r;
}

static int emit_whiteout(struct differ *d, const char *rel_dir, const char *name, const struct stat *st, struct lerr *e) {
  cleanup_lfree char *wh_name = NULL;
  if (asprintf(&wh_name, WHITEOUT_PREFIX "%s", name) < 0) abort();
  cleanup_lfree char *rel = join(rel_dir, wh_name);
  struct archive_entry *entry = archive_entry_new();
  archive_entry_copy_pathname(entry, rel);
  archive_entry_set_filetype(entry, AE_IFREG);
  archive_entry_set_perm(entry, 0);
  archive_entry_set_size(entry, 0);
  if (st) {
    archive_entry_set_uid(entry, st->st_uid);
    archive_entry_set_gid(entry, st->st_gid);
    archive_entry_set_mtime(entry, st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
  } else {
    archive_entry_set_mtime(entry, 0, 0);
  }
  int r = archive_write_header(d->tar, entry) < ARCHIVE_WARN ? write_failed(d, rel, e) : 0;
  archive_entry_free(entry);
  return r;
}

/* Everything under upper/rel (rel itself already emitted), for new directories. */
static int emit_tree(struct differ *d, const char *rel, struct lerr *e);

static int emit_with_subtree(struct differ *d, const char *rel, struct lerr *e) {
  cleanup_lfree char *abs = join(d->upper, rel);
  struct stat st;
  if (lstat(abs, &st) < 0) return LSYSERR(e, "lstat", abs);
  if (emit_path(d, abs, rel, &st, e) < 0) return -1;
  return S_ISDIR(st.st_mode) ? emit_tree(d, rel, e) : 0;
}

static int emit_tree(struct differ *d, const char *rel, struct lerr *e) {
  cleanup_lfree char *abs = join(d->upper, rel);
  char **names;
  size_t n;
  if (list_dir(abs, &names, &n, e) < 0) return -1;
  int r = 0;
  for (size_t i = 0; i < n && r == 0; i++) {
    cleanup_lfree char *child = join(rel, names[i]);
    r = emit_with_subtree(d, child, e);
  }
  free_names(names, n);
  return r;
}

static int walk_overlay(struct differ *d, const char *rel, struct lerr *e) {
  cleanup_lfree char *abs = *rel ? join(d->upper, rel) : strdup(d->upper);
  char **names;
  size_t n;
  if (list_dir(abs, &names, &n, e) < 0) return -1;
  int r = 0;
  for (size_t i = 0; i < n && r == 0; i++) {
    cleanup_lfree char *child_abs = join(abs, names[i]);
    cleanup_lfree char *child = join(rel, names[i]);
    struct stat st;
    if (lstat(child_abs, &st) < 0) {
      r = LSYSERR(e, "lstat", child_abs);
      break;
    }
    if (is_whiteout_device(&st)) {
      r = emit_whiteout(d, rel, names[i], &st, e);
      continue;
    }
    if ((r = emit_path(d, child_abs, child, &st, e)) < 0) break;
    if (!S_ISDIR(st.st_mode)) continue;
    if (is_opaque_dir(child_abs) && (r = emit_whiteout(d, child, WHITEOUT_OPAQUE + strlen(WHITEOUT_PREFIX), &st, e)) < 0) break;
    r = walk_overlay(d, child, e);
  }
  free_names(names, n);
  return r;
}

static bool metadata_differs(const char *la, const struct stat *ls, const char *ua, const struct stat *us, struct lerr *e, int *err) {
  *err = 0;
  if ((ls->st_mode & S_IFMT) != (us->st_mode & S_IFMT) || ls->st_mode != us->st_mode || ls->st_uid != us->st_uid ||
      ls->st_gid != us->st_gid)
    return true;
  if (S_ISREG(us->st_mode) && ls->st_size != us->st_size) return true;
  if ((ls->st_mtim.tv_sec != us->st_mtim.tv_sec || ls->st_mtim.tv_nsec != us->st_mtim.tv_nsec)) return true;
  if ((S_ISCHR(us->st_mode) || S_ISBLK(us->st_mode)) && ls->st_rdev != us->st_rdev) return true;
  if (S_ISLNK(us->st_mode)) {
    char lt[PATH_MAX + 1], ut[PATH_MAX + 1];
    ssize_t ln = readlink(la, lt, PATH_MAX), un = readlink(ua, ut, PATH_MAX);
    if (ln < 0 || un < 0) {
      *err = LSYSERR(e, "readlink", ln < 0 ? la : ua);
      return false;
    }
    if (ln != un || memcmp(lt, ut, ln)) return true;
  }
  struct xattrs lx, ux;
  if (read_xattrs(la, &lx, e) < 0 || read_xattrs(ua, &ux, e) < 0) {
    *err = -1;
    return false;
  }
  bool differs = !xattrs_equal(&lx, &ux);
  xattrs_free(&lx);
  xattrs_free(&ux);
  return differs;
}

static int walk_compare(struct differ *d, const char *rel, struct lerr *e) {
  cleanup_lfree char *uabs = *rel ? join(d->upper, rel) : strdup(d->upper);
  cleanup_lfree char *labs = *rel ? join(d->lower, rel) : strdup(d->lower);
  char **un, **ln;
  size_t nu, nl;
  if (list_dir(uabs, &un, &nu, e) < 0) return -1;
  if (list_dir(labs, &ln, &nl, e) < 0) {
    free_names(un, nu);
    return -1;
  }
  int r = 0;
  size_t i = 0, j = 0;
  while (r == 0 && (i < nu || j < nl)) {
    int c = i == nu ? 1 : j == nl ? -1 : strcmp(un[i], ln[j]);
    if (c > 0) { /* only in lower: removed */
      r = emit_whiteout(d, rel, ln[j++], NULL, e);
      continue;
    }
    cleanup_lfree char *child = join(rel, un[i]);
    if (c < 0) { /* only in upper: new */
      i++;
      r = emit_with_subtree(d, child, e);
      continue;
    }
    cleanup_lfree char *ua = join(uabs, un[i]);
    cleanup_lfree char *la = join(labs, ln[j]);
    i++, j++;
    struct stat us, ls;
    if (lstat(ua, &us) < 0) {
      r = LSYSERR(e, "lstat", ua);
      break;
    }
    if (lstat(la, &ls) < 0) {
      r = LSYSERR(e, "lstat", la);
      break;
    }
    int err = 0;
    bool changed = metadata_differs(la, &ls, ua, &us, e, &err);
    if (err < 0) {
      r = -1;
      break;
    }
    if (changed && (r = emit_path(d, ua, child, &us, e)) < 0) break;
    if (S_ISDIR(us.st_mode)) r = S_ISDIR(ls.st_mode) ? walk_compare(d, child, e) : emit_tree(d, child, e);
  }
  free_names(un, nu);
  free_names(ln, nl);
  return r;
}

static int finish_output(struct differ *d, struct lerr *e) {
  if (archive_write_close(d->tar) != ARCHIVE_OK && write_failed(d, "finishing the tar", e) < 0) return -1;
  if (d->compressor && archive_write_close(d->compressor) != ARCHIVE_OK) {
    if (d->out_failed) {
      *e = d->out_err;
      return -1;
    }
    return lfail(e, EXIT_LAYER_INTERNAL, 0, "compressing: %s", archive_error_string(d->compressor));
  }
  return 0;
}

int layer_diff(const struct diff_options *opts, int out_fd, struct diff_result *res, struct lerr *e) {
  struct differ d = {.mode = opts->mode, .upper = opts->upper, .lower = opts->lower, .out_fd = out_fd};
  memset(res, 0, sizeof *res);
  if (!(d.buf = malloc(COPY_BUF))) abort();
  int r = open_output(&d, opts->compression, e);
  if (r == 0) r = d.mode == MODE_OVERLAY ? walk_overlay(&d, "", e) : walk_compare(&d, "", e);
  if (r == 0) r = finish_output(&d, e);
  /* after a failure, free still flushes what is buffered through the callbacks: let it go nowhere
   * (archive_write_fail would skip the flush but leaks libarchive's buffers) */
  d.discard = r < 0;
  archive_write_free(d.tar);
  if (d.compressor) archive_write_free(d.compressor);
  char unused[72];
  sha256_final_hex(&d.diff_hash, r == 0 ? res->diff_id : unused);
  sha256_final_hex(&d.digest_hash, r == 0 ? res->digest : unused);
  res->size = d.csize;
  res->uncompressed_size = d.usize;
  if (d.links) archive_entry_linkresolver_free(d.links);
  free(d.buf);
  return r;
}
