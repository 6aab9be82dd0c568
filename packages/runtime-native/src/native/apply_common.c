/* Helpers shared by ctl-apply and ctl-diff; see apply_common.h. */
#include "apply_common.h"

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/evp.h>

int exit_code_for_errno(int errnum) {
  switch (errnum) {
  case ENOSPC:
  case EDQUOT:
    return EXIT_LAYER_NOSPACE;
  /* what a crafted or inconsistent layer makes the filesystem answer */
  case 0:
  case -1: /* libarchive's ARCHIVE_ERRNO_MISC */
  case ENOENT:
  case ENOTDIR:
  case EEXIST:
  case EISDIR:
  case ELOOP:
  case ENAMETOOLONG:
  case EINVAL:
  case EXDEV:
  case EMLINK:
  case ENOTEMPTY:
  case EILSEQ:
    return EXIT_LAYER_INVALID;
  default:
    return EXIT_LAYER_INTERNAL;
  }
}

int lfail(struct lerr *e, int code, int errnum, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  if (errnum > 0 && n >= 0 && (size_t)n < sizeof e->msg) snprintf(e->msg + n, sizeof e->msg - n, ": %s", strerror(errnum));
  e->errnum = errnum;
  e->code = code ? code : exit_code_for_errno(errnum);
  return -1;
}

void lfreep(void *p) { free(*(void **)p); }
void lclosep(int *fd) {
  if (*fd >= 0) close(*fd);
}

void sha256_init(struct sha256 *h) {
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) abort();
  h->ctx = ctx;
}

void sha256_update(struct sha256 *h, const void *data, size_t len) {
  if (len && EVP_DigestUpdate(h->ctx, data, len) != 1) abort();
}

void sha256_final_hex(struct sha256 *h, char out[72]) {
  unsigned char md[32];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(h->ctx, md, &len) != 1 || len != 32) abort();
  EVP_MD_CTX_free(h->ctx);
  h->ctx = NULL;
  memcpy(out, "sha256:", 7);
  for (int i = 0; i < 32; i++) sprintf(out + 7 + 2 * i, "%02x", md[i]);
}

bool is_sha256_digest(const char *s) {
  if (strncmp(s, "sha256:", 7) != 0 || strlen(s) != 71) return false;
  for (const char *p = s + 7; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return false;
  return true;
}

static uint64_t path_hash(const char *s) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

static size_t pathset_slot(const struct pathset *s, const char *path) {
  size_t mask = s->cap - 1, i = path_hash(path) & mask;
  while (s->keys[i] && strcmp(s->keys[i], path) != 0) i = (i + 1) & mask;
  return i;
}

unsigned pathset_get(const struct pathset *s, const char *path) {
  if (!s->cap) return 0;
  size_t i = pathset_slot(s, path);
  return s->keys[i] ? s->flags[i] : 0;
}

static void pathset_grow(struct pathset *s) {
  struct pathset bigger = {.cap = s->cap ? s->cap * 2 : 1024};
  bigger.keys = calloc(bigger.cap, sizeof *bigger.keys);
  bigger.flags = calloc(bigger.cap, 1);
  if (!bigger.keys || !bigger.flags) abort();
  for (size_t i = 0; i < s->cap; i++) {
    if (!s->keys[i]) continue;
    size_t j = pathset_slot(&bigger, s->keys[i]);
    bigger.keys[j] = s->keys[i];
    bigger.flags[j] = s->flags[i];
  }
  bigger.n = s->n;
  free(s->keys);
  free(s->flags);
  *s = bigger;
}

void pathset_add(struct pathset *s, const char *path, unsigned flags) {
  if ((s->n + 1) * 2 > s->cap) pathset_grow(s);
  size_t i = pathset_slot(s, path);
  if (!s->keys[i]) {
    s->keys[i] = strdup(path);
    if (!s->keys[i]) abort();
    s->n++;
  }
  s->flags[i] |= flags;
}

void pathset_free(struct pathset *s) {
  for (size_t i = 0; i < s->cap; i++) free(s->keys[i]);
  free(s->keys);
  free(s->flags);
  memset(s, 0, sizeof *s);
}

int layer_path_normalize(const char *in, char **out, const char **reason) {
  size_t len = strlen(in);
  char *buf = malloc(len + 1), *w = buf;
  if (!buf) abort();
  const char *p = in;
  while (*p) {
    while (*p == '/') p++;
    const char *end = strchrnul(p, '/');
    size_t n = end - p;
    if (n == 2 && p[0] == '.' && p[1] == '.') {
      free(buf);
      *reason = "path has a '..' component";
      return -1;
    }
    if (n > 0 && !(n == 1 && p[0] == '.')) {
      if (w != buf) *w++ = '/';
      memcpy(w, p, n);
      w += n;
    }
    p = end;
  }
  *w = '\0';
  /* the kernel takes no longer path, and each entry's ancestors are kept (apply_core.c's
   * mark_written): a 40 KiB path of 20,000 components held 400 MB of them */
  if (w - buf >= PATH_MAX) {
    free(buf);
    *reason = "path is longer than PATH_MAX (4096 bytes)";
    return -1;
  }
  *out = buf;
  return 0;
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
  (void)st;
  (void)ftw;
  int r = (type == FTW_DP) ? rmdir(path) : unlink(path);
  return (r < 0 && errno != ENOENT) ? -1 : 0;
}

int remove_all(const char *path, struct lerr *e) {
  struct stat st;
  if (lstat(path, &st) < 0) return errno == ENOENT || errno == ENOTDIR ? 0 : LSYSERR(e, "lstat", path);
  if (!S_ISDIR(st.st_mode)) {
    if (unlink(path) < 0 && errno != ENOENT) return LSYSERR(e, "unlink", path);
    return 0;
  }
  if (nftw(path, remove_one, 64, FTW_DEPTH | FTW_PHYS) < 0) return LSYSERR(e, "remove", path);
  return 0;
}

void layer_die(const char *prog, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", prog);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  fflush(stderr);
  fflush(stdout);
  _exit(code);
}
