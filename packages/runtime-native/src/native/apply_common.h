/* Shared by ctl-apply and ctl-diff (OCI layers): errors, sha256, a path set, path rules.
 * Kept apart from util.c so these two tools do not link jansson or the runtime. */
#ifndef APPLY_COMMON_H
#define APPLY_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>
#include "kinds.h"

/* Exit codes of both tools: the kinds of kinds.h, which packages/runtime-native/src/errors.ts maps. */
enum {
  EXIT_LAYER_OK = 0,
  EXIT_LAYER_INVALID = CTL_KIND_INVALID_ARGUMENT, /* malformed, truncated or malicious layer (or tree, for ctl-diff) */
  EXIT_LAYER_USAGE = CTL_KIND_USAGE,
  EXIT_LAYER_MISMATCH = CTL_KIND_FAILED_PRECONDITION, /* --expect-diff-id differs */
  EXIT_LAYER_NOSPACE = CTL_KIND_RESOURCE_EXHAUSTED,   /* ENOSPC / EDQUOT */
  EXIT_LAYER_NOTFOUND = CTL_KIND_NOT_FOUND,           /* input file, target or tree missing */
  EXIT_LAYER_INTERNAL = CTL_KIND_INTERNAL,            /* any other system error */
};

#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_META_PREFIX ".wh..wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"
#define OVERLAY_XATTR_PREFIX "trusted.overlay."
#define OVERLAY_OPAQUE_XATTR "trusted.overlay.opaque"

struct lerr {
  int errnum;     /* errno of the failing call, 0 for a rule violation */
  int code;       /* exit code this error ends the tool with */
  char msg[2048]; /* "<entry path>: <reason>" or "<call> <path>: <strerror>" */
};

/* Fill e (message + ": strerror(errnum)" when errnum != 0, exit code from errnum unless given); returns -1. */
int lfail(struct lerr *e, int code, int errnum, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The exit code a system error maps to: ENOSPC/EDQUOT -> NOSPACE, errors a layer can provoke -> INVALID. */
int exit_code_for_errno(int errnum);
#define LSYSERR(e, call, path) lfail((e), 0, errno, "%s %s", (call), (path))

/* Print "<prog>: <message>" to stderr and end the process with code (_exit: threads may still run). */
void layer_die(const char *prog, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4), noreturn));

void lfreep(void *p);
void lclosep(int *fd);
#define cleanup_lfree __attribute__((cleanup(lfreep)))
#define cleanup_lclose __attribute__((cleanup(lclosep)))

/* sha256 streamed through libcrypto's EVP (uses SHA-NI where the CPU has it) */
struct sha256 {
  void *ctx;
};
void sha256_init(struct sha256 *h);
void sha256_update(struct sha256 *h, const void *data, size_t len);
/* "sha256:<64 hex>" into out (72 bytes) and frees the context */
void sha256_final_hex(struct sha256 *h, char out[72]);
bool is_sha256_digest(const char *s);

/* An open-addressing set of relative paths with flag bits. */
struct pathset {
  char **keys;
  uint8_t *flags;
  size_t cap, n;
};
unsigned pathset_get(const struct pathset *s, const char *path);
void pathset_add(struct pathset *s, const char *path, unsigned flags);
void pathset_free(struct pathset *s);

/* Normalise a layer path: drop leading '/', empty and '.' components (an absolute path is taken
 * relative to the root); a '..' component, or a result of PATH_MAX bytes or more, is refused (returns
 * -1 and *reason). Result "" = root. */
int layer_path_normalize(const char *in, char **out, const char **reason);

/* Remove path and, for a directory, everything below it; without following symlinks. */
int remove_all(const char *path, struct lerr *e);

#endif
