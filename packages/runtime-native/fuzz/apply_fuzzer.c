/* libFuzzer harness for ctl-apply (apply_core.c): each input is a layer (tar, gzip or zstd), applied
 * in both whiteout modes (remove with every file on the main thread, overlay with a writer thread,
 * so both ways of creating files run) into a fresh directory, chrooted there as ctl-apply is. Device
 * nodes are restored (the sandbox is nodev). After each input sandbox_check aborts on any change
 * outside the target: an escape is a crash. Build and run: see fuzz/build.sh and the README. */
#include "../src/native/apply_core.h"
#include "sandbox.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  sandbox_init("apply_fuzzer");
  return 0;
}

static void apply_once(int fd, enum whiteout_mode mode, int writers) {
  const char *target = sandbox_fresh_dir("target");
  if (lseek(fd, 0, SEEK_SET) < 0) abort();
  struct lerr e;
  struct layer_input *in = NULL;
  if (layer_input_open(&in, fd, &e) == 0) {
    struct apply_options opts = {.mode = mode, .devices = true, .writers = writers};
    struct apply_result res;
    sandbox_enter(target);
    layer_apply(in, &opts, &res, &e);
    sandbox_leave();
  }
  layer_input_free(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sandbox_begin();
  int fd = sandbox_memfd(data, size);
  apply_once(fd, WH_REMOVE, 0);
  apply_once(fd, WH_OVERLAY, 1);
  close(fd);
  sandbox_check();
  return 0;
}
