/* start: open exec.fifo's read end, which releases the init waiting on the write end. */
#include "commands.h"
#include "util.h"
#include "error.h"
#include "spec.h"
#include "hooks.h"
#include "state.h"
#include <jansson.h>
#include <unistd.h>
#include <fcntl.h>
#include <poll.h>

int cmd_start(struct gopts *g, const char *id, struct ctl_err *e) {
  struct state st;
  if (state_load(g->root, id, &st, e) < 0) return -1;
  int r = -1;
  enum status s = state_status(&st);
  cleanup_free char *fifo = xasprintf("%s/exec.fifo", st.dir);
  if (state_allow(V_START, s, id, e) < 0) goto out;
  int fd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    SYSERR(e, "open", fifo);
    goto out;
  }
  struct pollfd pfd = {.fd = fd, .events = POLLIN};
  for (;;) {
    int n = poll(&pfd, 1, 100);
    if (n < 0 && errno == EINTR) continue;
    if (n > 0) break;
    if (state_status(&st) == ST_STOPPED) {
      close(fd);
      ctl_fail_kind(e, CTL_KIND_FAILED_PRECONDITION, 0, "container init exited before start: %s", id);
      goto out;
    }
  }
  char c;
  ssize_t got = read(fd, &c, 1);
  if (got != 1) {
    close(fd);
    ctl_fail_kind(e, CTL_KIND_FAILED_PRECONDITION, 0, "container init exited before start: %s", id);
    goto out;
  }
  unlink(fifo);
  /* to end of file: the init holds its end until execve (spawn.c), so we return once the
   * container's program runs, as runc does */
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  for (;;) {
    ssize_t n = read(fd, &c, 1);
    if (n == 0 || (n < 0 && errno != EINTR)) break;
  }
  close(fd);
  r = 0;
  json_t *spec = spec_load_unchecked(st.bundle);
  hooks_run_warn(spec, "poststart", &st);
  if (spec) json_decref(spec);
out:
  state_free(&st);
  return r;
}
