/* The sandbox the fuzz harnesses apply layers in (see sandbox.c and the README's "Fuzzing"). */
#ifndef FUZZ_SANDBOX_H
#define FUZZ_SANDBOX_H

#include <stddef.h>
#include <stdint.h>

/* Private mount namespace, a nodev tmpfs with a sentinel tree; the baseline of what must not change. */
void sandbox_init(const char *name);
/* The content of the sentinel's secret file: a layer made from the work dirs must never hold it. */
#define SANDBOX_SECRET "ctl-fuzz-sentinel-secret-5b1f0e93"

/* The absolute path of the work dir name (made or not). */
const char *sandbox_fresh_path(const char *name);
/* A fresh, empty directory in the sandbox (its absolute path); the previous one of that name goes. */
const char *sandbox_fresh_dir(const char *name);
/* A memfd holding data, at offset 0. */
int sandbox_memfd(const uint8_t *data, size_t size);
/* chroot into dir (cwd too) / back to the real root, as ctl-apply contains a layer. */
void sandbox_enter(const char *dir);
void sandbox_leave(void);
/* At the start of an input: the open fds then. */
void sandbox_begin(void);
/* Abort (a crash for the fuzzer) when anything outside the sandbox's work dirs changed, or an fd
 * opened since sandbox_begin is still open. */
void sandbox_check(void);

#endif
