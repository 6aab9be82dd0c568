/* The differ of ctl-diff, callable from a harness (fuzz/diff_fuzzer.c) as well as from the tool's
 * main: the trees are read by path, the layer written to an fd the caller owns. */
#ifndef DIFF_CORE_H
#define DIFF_CORE_H

#include "apply_common.h"

enum diff_mode { MODE_OVERLAY, MODE_COMPARE };
enum diff_compression { COMPRESSION_NONE, COMPRESSION_GZIP, COMPRESSION_ZSTD };

struct diff_options {
  enum diff_mode mode;
  const char *upper; /* the overlay upperdir, or the new tree */
  const char *lower; /* compare mode: the old tree */
  enum diff_compression compression;
};

struct diff_result {
  char diff_id[72], digest[72]; /* sha256 of the tar and of the output */
  uint64_t size;                /* bytes written to the fd */
  uint64_t uncompressed_size;
};

int layer_diff(const struct diff_options *opts, int out_fd, struct diff_result *res, struct lerr *e);

#endif
