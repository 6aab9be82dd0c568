/* ctl-diff: write the changes of a filesystem as one OCI layer. The work is diff_core.c's (what is
 * emitted, and how); this is the command line. */
#include "diff_core.h"
#include "parent_death.h"

#include <fcntl.h>
#include <getopt.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const char *prog = "ctl-diff";

#define die(...) layer_die(prog, __VA_ARGS__)

static void die_err(const struct lerr *e) { die(e->code ? e->code : EXIT_LAYER_INTERNAL, "%s", e->msg); }

static void usage(void) {
  fprintf(stderr,
          "usage: %s --upper DIR [--lower DIR] --mode overlay|compare --compression gzip|zstd|none --output FILE [--die-with-parent PID]\n",
          prog);
  exit(EXIT_LAYER_USAGE);
}

int main(int argc, char **argv) {
  static const struct option longopts[] = {
      {"upper", required_argument, NULL, 'u'},  {"lower", required_argument, NULL, 'l'},
      {"mode", required_argument, NULL, 'm'},   {"compression", required_argument, NULL, 'c'},
      {"output", required_argument, NULL, 'o'}, {"die-with-parent", required_argument, NULL, 'P'},
      {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
  };
  const char *mode = NULL, *compression = NULL, *output = NULL;
  struct diff_options d = {0};
  pid_t parent = 0;
  int c;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case 'u':
      d.upper = optarg;
      break;
    case 'l':
      d.lower = optarg;
      break;
    case 'm':
      mode = optarg;
      break;
    case 'c':
      compression = optarg;
      break;
    case 'o':
      output = optarg;
      break;
    case 'P':
      if (!(parent = ctl_parent_pid_arg(optarg))) usage();
      break;
    default:
      usage();
    }
  }
  if (parent && ctl_die_with_parent(parent) < 0) die(EXIT_LAYER_INTERNAL, "die with parent %d: %s", (int)parent, strerror(errno));
  if (optind != argc || !d.upper || !mode || !compression || !output) usage();
  if (!strcmp(mode, "overlay"))
    d.mode = MODE_OVERLAY;
  else if (!strcmp(mode, "compare"))
    d.mode = MODE_COMPARE;
  else
    usage();
  if (d.mode == MODE_COMPARE && !d.lower) die(EXIT_LAYER_USAGE, "--mode compare needs --lower");
  if (d.mode == MODE_OVERLAY && d.lower) die(EXIT_LAYER_USAGE, "--lower is for --mode compare");
  if (!strcmp(compression, "gzip"))
    d.compression = COMPRESSION_GZIP;
  else if (!strcmp(compression, "zstd"))
    d.compression = COMPRESSION_ZSTD;
  else if (strcmp(compression, "none"))
    usage();
  setlocale(LC_ALL, "C.UTF-8");

  struct stat st;
  const char *trees[] = {d.upper, d.lower};
  for (int i = 0; i < 2; i++) {
    if (!trees[i]) continue;
    if (stat(trees[i], &st) < 0) die(errno == ENOENT ? EXIT_LAYER_NOTFOUND : EXIT_LAYER_INTERNAL, "%s: %s", trees[i], strerror(errno));
    if (!S_ISDIR(st.st_mode)) die(EXIT_LAYER_USAGE, "%s: not a directory", trees[i]);
  }
  int out_fd = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out_fd < 0)
    die(errno == ENOENT                                    ? EXIT_LAYER_NOTFOUND
        : exit_code_for_errno(errno) == EXIT_LAYER_NOSPACE ? EXIT_LAYER_NOSPACE
                                                           : EXIT_LAYER_INTERNAL,
        "open %s: %s", output, strerror(errno));

  struct lerr err = {0};
  struct diff_result res;
  if (layer_diff(&d, out_fd, &res, &err) < 0) die_err(&err);
  if (close(out_fd) < 0)
    die(exit_code_for_errno(errno) == EXIT_LAYER_NOSPACE ? EXIT_LAYER_NOSPACE : EXIT_LAYER_INTERNAL, "close %s: %s", output,
        strerror(errno));
  printf("{\"diffId\":\"%s\",\"digest\":\"%s\",\"size\":%llu,\"uncompressedSize\":%llu}\n", res.diff_id, res.digest,
         (unsigned long long)res.size, (unsigned long long)res.uncompressed_size);
  return fflush(stdout) == 0 ? 0 : EXIT_LAYER_INTERNAL;
}
