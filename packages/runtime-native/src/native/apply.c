/* ctl-apply: extract one OCI layer (tar, optionally gzip or zstd) into a directory, computing its
 * diff_id on the way. The work is apply_core.c's; this is the command line and the containment.
 *
 * Containment: the input is opened first, then the process chroots into the target, so no path,
 * symlink or hardlink in the layer can reach outside it (symlinks are resolved by the kernel
 * against the new root; directory symlinks such as lib -> usr/lib keep working). Paths with a
 * '..' component are refused with a clear message; absolute paths are taken relative to the
 * root. trusted.overlay.* xattrs in the layer are dropped.
 *
 * ctl_apply_main is the whole tool: apply_main.c's main for the binary, and ctl-launch's child
 * for a request to run ctl-apply (forked from the launcher, no exec: see launch.c). */
#include "apply.h"
#include "apply_core.h"
#include "parent_death.h"

#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <locale.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

static const char *prog = "ctl-apply";

#define die(...) layer_die(prog, __VA_ARGS__)

static void die_err(const struct lerr *e) { die(e->code ? e->code : EXIT_LAYER_INTERNAL, "%s", e->msg); }

static void usage(void) {
  fprintf(stderr,
          "usage: %s --target DIR --whiteouts overlay|remove [--input FILE [--input-size BYTES [--input-moved-to FILE]]] "
          "[--expect-diff-id sha256:HEX] [--no-devices] [--die-with-parent PID]\n",
          prog);
  exit(EXIT_LAYER_USAGE);
}

/* What a layer keeps in memory at once, at most: the reader's slots and the file data on its way to
 * the writer threads (apply_core.c's WRITER_INFLIGHT_MAX), with room to spare. */
#define LAYER_HEAP (96u << 20)
#define HUGE_PAGE (2u << 20)

/* Every byte of a layer passes through malloc'd memory (the reader's slots, each file's data on its
 * way to a writer), and with glibc's defaults each file above 128 KiB got fresh mmap'd pages and
 * gave them back when freed: a page fault per 4 KiB touched, costly in a VM (a third of ctl-apply's
 * CPU on a 9 MB layer of files of a few hundred kB, 4,000 faults). So the heap grows once, by what
 * a layer keeps in flight, stays (no per-file mmap, no trim) and is advised to transparent huge
 * pages: 600 faults and a quarter less CPU. Only what is touched is ever backed. */
static void heap_for_layer_data(void) {
  mallopt(M_MMAP_THRESHOLD, 32 << 20); /* glibc's largest */
  mallopt(M_TRIM_THRESHOLD, INT_MAX);
  mallopt(M_TOP_PAD, (int)LAYER_HEAP);
  char *probe = malloc(HUGE_PAGE); /* more than the heap's top has: it grows by LAYER_HEAP */
  if (!probe) return;
  uintptr_t lo = ((uintptr_t)probe + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
  uintptr_t hi = (uintptr_t)sbrk(0) & ~(uintptr_t)(HUGE_PAGE - 1);
  /* only when the probe came from the brk heap (glibc falls back to mmap when brk cannot grow) */
  if ((uintptr_t)probe < hi && hi - lo <= 2 * (uintptr_t)LAYER_HEAP) madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
  free(probe);
}

void ctl_apply_preload(void) {
  struct sha256 h;
  char unused[72];
  sha256_init(&h);
  sha256_final_hex(&h, unused);
}

int ctl_apply_main(int argc, char **argv) {
  optind = 0; /* a forked launcher may have parsed options of its own */
  static const struct option longopts[] = {
      {"target", required_argument, NULL, 't'},
      {"whiteouts", required_argument, NULL, 'w'},
      {"input", required_argument, NULL, 'i'},
      {"expect-diff-id", required_argument, NULL, 'e'},
      {"no-devices", no_argument, NULL, 'n'},
      {"die-with-parent", required_argument, NULL, 'P'},
      {"input-size", required_argument, NULL, 's'},
      {"input-moved-to", required_argument, NULL, 'm'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *target = NULL, *input = NULL, *expect = NULL, *mode = NULL;
  bool devices = true;
  pid_t parent = 0;
  long long input_size = -1;   /* --input-size: FILE is still being written, up to this many bytes */
  const char *moved_to = NULL; /* --input-moved-to: where the writer moves FILE once complete */
  int c;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case 't':
      target = optarg;
      break;
    case 'w':
      mode = optarg;
      break;
    case 'i':
      input = optarg;
      break;
    case 'e':
      expect = optarg;
      break;
    case 'n':
      devices = false;
      break;
    case 'm':
      moved_to = optarg;
      break;
    case 's': {
      char *end;
      errno = 0;
      input_size = strtoll(optarg, &end, 10);
      if (errno || *end || end == optarg || input_size < 0) usage();
      break;
    }
    case 'P':
      if (!(parent = ctl_parent_pid_arg(optarg))) usage();
      break;
    default:
      usage();
    }
  }
  if (parent && ctl_die_with_parent(parent) < 0) die(EXIT_LAYER_INTERNAL, "die with parent %d: %s", (int)parent, strerror(errno));
  if (optind != argc || !target || !mode || (input_size >= 0 && !input) || (moved_to && input_size < 0)) usage();
  struct apply_options opts = {.devices = devices};
  if (!strcmp(mode, "overlay"))
    opts.mode = WH_OVERLAY;
  else if (!strcmp(mode, "remove"))
    opts.mode = WH_REMOVE;
  else
    usage();
  if (expect && !is_sha256_digest(expect)) die(EXIT_LAYER_USAGE, "--expect-diff-id %s: not a sha256:<64 lowercase hex> digest", expect);

  heap_for_layer_data();
  /* UTF-8 PAX paths reach the filesystem unchanged */
  setlocale(LC_ALL, "C.UTF-8");
  umask(022); /* parents the layer does not list get 0755, as in containerd */

  int fd = 0;
  /* a file complete before it was opened may have moved already (a download committed) */
  if (input && (fd = open(input, O_RDONLY | O_CLOEXEC)) < 0 && errno == ENOENT && moved_to) fd = open(moved_to, O_RDONLY | O_CLOEXEC);
  if (fd < 0) die(errno == ENOENT ? EXIT_LAYER_NOTFOUND : EXIT_LAYER_INTERNAL, "open %s: %s", input, strerror(errno));
  struct stat tst;
  if (stat(target, &tst) < 0) die(errno == ENOENT ? EXIT_LAYER_NOTFOUND : EXIT_LAYER_INTERNAL, "target %s: %s", target, strerror(errno));
  if (!S_ISDIR(tst.st_mode)) die(EXIT_LAYER_USAGE, "target %s: not a directory", target);

  struct lerr err = {0};
  struct layer_input *layer;
  if ((input_size >= 0 ? layer_input_open_growing(&layer, fd, (uint64_t)input_size, &err) : layer_input_open(&layer, fd, &err)) < 0)
    die_err(&err);
  if (chroot(target) < 0 || chdir("/") < 0) die(EXIT_LAYER_INTERNAL, "chroot %s: %s", target, strerror(errno));

  /* CTL_APPLY_WRITERS=0 writes every file on the main thread */
  const char *nw = getenv("CTL_APPLY_WRITERS");
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  opts.writers = nw ? atoi(nw) : (int)(cpus < 2 ? 2 : cpus > 4 ? 4 : cpus);
  opts.warnings = true;
  /* on failure the process ends at once, without waiting for the reader thread */
  struct apply_result res;
  if (layer_apply(layer, &opts, &res, &err) < 0) die_err(&err);
  if (expect && strcmp(expect, res.diff_id) != 0)
    die(EXIT_LAYER_MISMATCH, "diff id mismatch: layer is %s, expected %s", res.diff_id, expect);
  printf("{\"diffId\":\"%s\",\"size\":%llu,\"entries\":%llu}\n", res.diff_id, (unsigned long long)res.size,
         (unsigned long long)res.entries);
  if (fflush(stdout) != 0) return EXIT_LAYER_INTERNAL;
  return 0;
}
