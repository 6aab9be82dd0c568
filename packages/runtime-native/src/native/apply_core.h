/* The layer applier of ctl-apply, callable from a harness (fuzz/apply_fuzzer.c) as well as from the
 * tool's main: open the input before entering the target (which may chroot), then apply into the
 * current directory. The caller provides containment (ctl-apply chroots into the target). */
#ifndef APPLY_CORE_H
#define APPLY_CORE_H

#include "apply_common.h"

enum whiteout_mode { WH_OVERLAY, WH_REMOVE };

struct apply_options {
  enum whiteout_mode mode;
  bool devices;  /* false: device nodes are skipped */
  int writers;   /* threads creating regular files; 0: all on the calling thread */
  bool warnings; /* attributes that could not be restored are reported on stderr */
};

struct apply_result {
  char diff_id[72]; /* sha256 of the whole decompressed stream */
  uint64_t size;    /* its bytes */
  uint64_t entries; /* tar entries read */
};

struct layer_input;

/* Start reading a layer (none/gzip/zstd, detected) from fd; the fd stays the caller's. */
int layer_input_open(struct layer_input **out, int fd, struct lerr *e);
/* The same from a file another process is still writing: read until it holds size bytes, waiting
 * at its end for more. */
int layer_input_open_growing(struct layer_input **out, int fd, uint64_t size, struct lerr *e);
/* Apply the layer into the current directory ("" = "."); paths resolve against the process's root. */
int layer_apply(struct layer_input *in, const struct apply_options *opts, struct apply_result *res, struct lerr *e);
/* Stop the reader (it must not be blocked on a slow input) and free everything; NULL is fine. */
void layer_input_free(struct layer_input *in);

#endif
