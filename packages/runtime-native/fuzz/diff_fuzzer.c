/* libFuzzer harness for ctl-diff (diff_core.c). ctl-diff reads no stream: its untrusted input is a
 * tree, an upperdir a container wrote (any names, modes, owners, xattrs, symlinks, hardlinks,
 * devices, whiteouts). So each input, a layer, is first applied (overlay whiteouts, devices on)
 * to make such a tree; a layer the applier refuses half way leaves a partial tree, which is diffed
 * as well. Then the tree is diffed in overlay mode, and in compare mode against a fixed lower
 * tree, and each layer ctl-diff writes must
 *  - not carry the sentinel's secret (ctl-diff followed a symlink out of the tree), and
 *  - apply again without error (the engine's own commits must be importable).
 * A tree whose files add up to more than MAX_TREE_BYTES is not diffed: a layer the applier refused
 * half way leaves a truncated file at its declared size (a hole, up to 2^63 bytes), whose zeros the
 * diff would read, compress and reapply for minutes, or past the sandbox's 512 MiB.
 * After each input sandbox_check aborts on any change outside the work dirs. */
#include "../src/native/apply_core.h"
#include "../src/native/diff_core.h"
#include "sandbox.h"

#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static char lower[4096];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  sandbox_init("diff_fuzzer");
  snprintf(lower, sizeof lower, "%s", sandbox_fresh_dir("lower"));
  char path[4200];
  snprintf(path, sizeof path, "%s/etc", lower);
  if (mkdir(path, 0755) < 0) abort();
  snprintf(path, sizeof path, "%s/etc/hosts", lower);
  FILE *f = fopen(path, "w");
  if (!f || fputs("127.0.0.1 localhost\n", f) < 0 || fclose(f)) abort();
  snprintf(path, sizeof path, "%s/bin", lower);
  if (symlink("usr/bin", path) < 0) abort();
  return 0;
}

/* Apply the layer in fd into a fresh work dir named name, chrooted there; 0 when it applied. */
static int apply_into(const char *name, int fd, enum whiteout_mode mode, struct lerr *e) {
  const char *target = sandbox_fresh_dir(name);
  if (lseek(fd, 0, SEEK_SET) < 0) abort();
  struct layer_input *in = NULL;
  int r = layer_input_open(&in, fd, e);
  if (r == 0) {
    struct apply_options opts = {.mode = mode, .devices = true};
    struct apply_result res;
    sandbox_enter(target);
    r = layer_apply(in, &opts, &res, e);
    sandbox_leave();
  }
  layer_input_free(in);
  return r;
}

#define MAX_TREE_BYTES (64ULL << 20)

static unsigned long long tree_bytes;

static int add_file_bytes(const char *path, const struct stat *st, int type, struct FTW *ftw) {
  (void)path;
  (void)ftw;
  /* a hardlinked file counts once per link: a larger sum only skips more */
  if (type == FTW_F && S_ISREG(st->st_mode)) tree_bytes += (unsigned long long)st->st_size;
  return 0;
}

/* The apparent size of the regular files under dir (of those nftw reaches: not past PATH_MAX). */
static unsigned long long apparent_bytes(const char *dir) {
  tree_bytes = 0;
  nftw(dir, add_file_bytes, 16, FTW_PHYS);
  return tree_bytes;
}

static void diff_and_reapply(const struct diff_options *opts, const uint8_t *data, size_t size) {
  int out = sandbox_memfd(NULL, 0);
  struct diff_result res;
  struct lerr e;
  if (layer_diff(opts, out, &res, &e) == 0) {
    char *written = malloc(res.size ? res.size : 1);
    if (!written || pread(out, written, res.size, 0) != (ssize_t)res.size) abort();
    if (memmem(written, res.size, SANDBOX_SECRET, strlen(SANDBOX_SECRET)) && !memmem(data, size, SANDBOX_SECRET, strlen(SANDBOX_SECRET))) {
      fprintf(stderr, "diff_fuzzer: ESCAPE: the layer ctl-diff wrote holds the sentinel's secret\n");
      abort();
    }
    free(written);
    if (apply_into("reapplied", out, opts->mode == MODE_OVERLAY ? WH_OVERLAY : WH_REMOVE, &e) < 0) {
      fprintf(stderr, "diff_fuzzer: the layer ctl-diff wrote (%s mode) does not apply: %s\n",
              opts->mode == MODE_OVERLAY ? "overlay" : "compare", e.msg);
      abort();
    }
  }
  close(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sandbox_begin();
  int fd = sandbox_memfd(data, size);
  struct lerr e;
  apply_into("upper", fd, WH_OVERLAY, &e);
  close(fd);
  char upper[4096];
  snprintf(upper, sizeof upper, "%s", sandbox_fresh_path("upper"));
  if (apparent_bytes(upper) > MAX_TREE_BYTES) {
    sandbox_check();
    return 0;
  }
  struct diff_options overlay = {.mode = MODE_OVERLAY, .upper = upper};
  diff_and_reapply(&overlay, data, size);
  struct diff_options compare = {.mode = MODE_COMPARE, .upper = upper, .lower = lower};
  diff_and_reapply(&compare, data, size);
  sandbox_check();
  return 0;
}
