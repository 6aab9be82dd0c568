/* OCI hooks: each gets the container's state JSON on stdin; timeout in seconds is honoured.
 * Where they run: prestart/createRuntime/createContainer in the runtime after the container's
 * namespaces and rootfs are ready (before start), startContainer in the container just before
 * execve, poststart after start, poststop in delete. */
#include "hooks.h"
#include "util.h"
#include "error.h"
#include "json.h"
#include "state.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static char **str_array(json_t *a) {
  size_t n = json_array_size(a), i;
  char **out = xmalloc((n + 1) * sizeof(char *));
  for (i = 0; i < n; i++) out[i] = (char *)json_string_value(json_array_get(a, i));
  return out;
}

static int run_hook(json_t *h, const char *kind, size_t idx, const char *state, struct ctl_err *e) {
  const char *path = jstr(h, "path");
  if (!path || path[0] != '/') return ctl_fail(e, 0, "config.json: hooks.%s[%zu].path: must be an absolute path", kind, idx);
  long long timeout = 0;
  jint(h, "timeout", &timeout);
  int in[2];
  if (pipe2(in, O_CLOEXEC) < 0) return ctl_fail(e, errno, "pipe for hook %s", path);
  pid_t pid = fork();
  if (pid < 0) return ctl_fail(e, errno, "fork hook %s", path);
  if (pid == 0) {
    dup2(in[0], 0);
    cleanup_free char **argv = json_array_size(json_object_get(h, "args")) ? str_array(json_object_get(h, "args")) : NULL;
    char *def[] = {(char *)path, NULL};
    char **envp = str_array(json_object_get(h, "env"));
    execve(path, argv ? argv : def, envp);
    fprintf(stderr, "ctl-runtime: exec hook %s: %s\n", path, strerror(errno));
    _exit(127);
  }
  close(in[0]);
  signal(SIGPIPE, SIG_IGN);
  if (write(in[1], state, strlen(state)) < 0) { /* a hook need not read its stdin */
  }
  close(in[1]);
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0), status = 0;
  if (pidfd >= 0 && timeout > 0) {
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    int n;
    while ((n = poll(&p, 1, (int)(timeout * 1000))) < 0 && errno == EINTR) {}
    if (n == 0) {
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
      close(pidfd);
      return ctl_fail(e, ETIMEDOUT, "hooks.%s[%zu] (%s): timed out after %llds", kind, idx, path, timeout);
    }
  }
  if (pidfd >= 0) close(pidfd);
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return ctl_fail_kind(e, CTL_KIND_INTERNAL, 0, "hooks.%s[%zu] (%s): %s %d", kind, idx, path,
                         WIFEXITED(status) ? "exited with status" : "killed by signal",
                         WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
  return 0;
}

int hooks_run(json_t *spec, const char *kind, json_t *state, struct ctl_err *e) {
  json_t *list = jpath(spec, "hooks") ? json_object_get(jpath(spec, "hooks"), kind) : NULL;
  if (!json_array_size(list)) return 0;
  char *s = json_dumps(state, JSON_COMPACT);
  size_t i;
  json_t *h;
  int r = 0;
  json_array_foreach(list, i, h) if ((r = run_hook(h, kind, i, s, e)) < 0) break;
  free(s);
  return r;
}

void hooks_run_warn(json_t *spec, const char *kind, struct state *st) {
  if (!spec || !json_object_get(spec, "hooks")) return;
  json_t *sj = state_to_oci_json(st);
  struct ctl_err he;
  if (hooks_run(spec, kind, sj, &he) < 0) ctl_log("warning", "%s", he.msg);
  json_decref(sj);
}
