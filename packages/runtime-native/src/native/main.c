/* ctl-runtime: a runc-compatible command line over the OCI runtime in this directory. */
#include "commands.h"
#include "util.h"
#include "error.h"
#include "spec.h"
#include "state.h"
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

struct flag {
  const char *name;
  bool has_arg;
  const char *value; /* set when given ("" for booleans) */
};

/* Accepts --name value, --name=value, -name value (urfave/cli style), booleans as --name or
 * --name=true|false. Positional arguments are collected in order; "--" ends the flags. */
static int parse_flags(int argc, char **argv, struct flag *flags, char **pos, int *npos, bool stop_at_first_pos, struct ctl_err *e) {
  *npos = 0;
  for (int i = 0; i < argc; i++) {
    char *a = argv[i];
    if (!strcmp(a, "--")) {
      while (++i < argc) pos[(*npos)++] = argv[i];
      break;
    }
    if (a[0] != '-' || !a[1] || (stop_at_first_pos && *npos > 0)) {
      pos[(*npos)++] = a;
      continue;
    }
    const char *name = a + (a[1] == '-' ? 2 : 1);
    const char *eq = strchr(name, '=');
    size_t nl = eq ? (size_t)(eq - name) : strlen(name);
    struct flag *f = NULL;
    for (struct flag *p = flags; p->name; p++)
      if (strlen(p->name) == nl && !strncmp(p->name, name, nl)) f = p;
    if (!f) return ctl_fail(e, 0, "flag provided but not defined: %s", a);
    if (f->has_arg) {
      if (eq)
        f->value = eq + 1;
      else if (i + 1 < argc)
        f->value = argv[++i];
      else
        return ctl_fail(e, 0, "flag needs an argument: %s", a);
    } else {
      f->value = eq ? (strcmp(eq + 1, "false") ? "" : NULL) : "";
    }
  }
  return 0;
}

static const char *flag(struct flag *flags, const char *name) {
  for (struct flag *p = flags; p->name; p++)
    if (!strcmp(p->name, name)) return p->value;
  return NULL;
}

static void usage(void) {
  fprintf(stderr, "usage: ctl-runtime [--root DIR] [--log FILE] [--log-format json|text] [--debug] [--systemd-cgroup] COMMAND [ARGS]\n"
                  "commands: create, start, run, state, kill, delete, exec, ps, pause, resume, update, list, events, spec-validate\n");
}

int main(int argc, char **argv) {
  struct ctl_err e = {0};
  struct flag g[] = {
      {"root", true, NULL}, {"log", true, NULL},      {"log-format", true, NULL}, {"debug", false, NULL}, {"systemd-cgroup", false, NULL},
      {"criu", true, NULL}, {"rootless", true, NULL}, {"help", false, NULL},      {"h", false, NULL},     {"version", false, NULL},
      {"v", false, NULL},   {NULL, false, NULL}};
  char **pos = xmalloc((argc + 1) * sizeof(char *));
  int npos = 0;
  if (parse_flags(argc - 1, argv + 1, g, pos, &npos, true, &e) < 0) {
    fprintf(stderr, "ctl-runtime: %s\n", e.msg);
    return 1;
  }
  if (flag(g, "version") || flag(g, "v")) {
    printf("ctl-runtime version 0.1.0\nspec: %s\n", CTL_OCI_VERSION);
    return 0;
  }
  if (npos == 0 || flag(g, "help") || flag(g, "h")) {
    usage();
    return npos == 0 ? 1 : 0;
  }
  const char *lf = flag(g, "log-format");
  ctl_log_init(flag(g, "log"), lf && !strcmp(lf, "json"), flag(g, "debug") != NULL);
  struct gopts go = {.root = flag(g, "root") ?: CTL_DEFAULT_ROOT, .systemd_cgroup = flag(g, "systemd-cgroup") != NULL};
  const char *cmd = pos[0];
  int sargc = npos - 1;
  char **sargv = pos + 1;
  char **p = xmalloc((argc + 1) * sizeof(char *));
  int np = 0, r = -1;

  if (!strcmp(cmd, "create") || !strcmp(cmd, "run")) {
    struct flag f[] = {{"bundle", true, NULL},         {"b", true, NULL},         {"pid-file", true, NULL},
                       {"console-socket", true, NULL}, {"no-pivot", false, NULL}, {"no-new-keyring", false, NULL},
                       {"detach", false, NULL},        {"d", false, NULL},        {"preserve-fds", true, NULL},
                       {"no-subreaper", false, NULL},  {"keep", false, NULL},     {NULL, false, NULL}};
    if (parse_flags(sargc, sargv, f, p, &np, false, &e) < 0) goto fail;
    if (np != 1) {
      ctl_fail(&e, 0, "%s: exactly one container id is required", cmd);
      goto fail;
    }
    struct create_opts o = {.bundle = flag(f, "bundle") ?: flag(f, "b"),
                            .pid_file = flag(f, "pid-file"),
                            .console_socket = flag(f, "console-socket"),
                            .no_pivot = flag(f, "no-pivot") != NULL,
                            .no_new_keyring = flag(f, "no-new-keyring") != NULL,
                            .detach = flag(f, "detach") || flag(f, "d")};
    if (!strcmp(cmd, "create"))
      r = cmd_create(&go, p[0], &o, &e);
    else {
      r = cmd_run(&go, p[0], &o, &e);
      if (r >= 0) return r;
    }
  } else if (!strcmp(cmd, "start") || !strcmp(cmd, "state") || !strcmp(cmd, "pause") || !strcmp(cmd, "resume")) {
    struct flag f[] = {{NULL, false, NULL}};
    if (parse_flags(sargc, sargv, f, p, &np, false, &e) < 0) goto fail;
    if (np != 1) {
      ctl_fail(&e, 0, "%s: exactly one container id is required", cmd);
      goto fail;
    }
    if (!strcmp(cmd, "start"))
      r = cmd_start(&go, p[0], &e);
    else if (!strcmp(cmd, "state"))
      r = cmd_state(&go, p[0], &e);
    else
      r = cmd_pause(&go, p[0], !strcmp(cmd, "pause"), &e);
  } else if (!strcmp(cmd, "kill")) {
    struct flag f[] = {{"all", false, NULL}, {"a", false, NULL}, {NULL, false, NULL}};
    if (parse_flags(sargc, sargv, f, p, &np, false, &e) < 0) goto fail;
    if (np < 1 || np > 2) {
      ctl_fail(&e, 0, "kill: usage: kill [--all] ID [SIGNAL]");
      goto fail;
    }
    r = cmd_kill(&go, p[0], np == 2 ? p[1] : NULL, flag(f, "all") || flag(f, "a"), &e);
  } else if (!strcmp(cmd, "delete")) {
    struct flag f[] = {{"force", false, NULL}, {"f", false, NULL}, {NULL, false, NULL}};
    if (parse_flags(sargc, sargv, f, p, &np, false, &e) < 0) goto fail;
    if (np != 1) {
      ctl_fail(&e, 0, "delete: exactly one container id is required");
      goto fail;
    }
    r = cmd_delete(&go, p[0], flag(f, "force") || flag(f, "f"), &e);
  } else if (!strcmp(cmd, "exec")) {
    struct flag f[] = {{"process", true, NULL},  {"p", true, NULL},
                       {"detach", false, NULL},  {"d", false, NULL},
                       {"pid-file", true, NULL}, {"console-socket", true, NULL},
                       {"tty", false, NULL},     {"t", false, NULL},
                       {"cwd", true, NULL},      {"env", true, NULL},
                       {"e", true, NULL},        {"user", true, NULL},
                       {"u", true, NULL},        {"preserve-fds", true, NULL},
                       {NULL, false, NULL}};
    /* flags end at the container id: what follows is the command */
    if (parse_flags(sargc, sargv, f, p, &np, true, &e) < 0) goto fail;
    if (np < 1) {
      ctl_fail(&e, 0, "exec: a container id is required");
      goto fail;
    }
    char **env = xmalloc((sargc + 1) * sizeof(char *));
    int nenv = 0;
    for (int i = 0; i < sargc; i++)
      if ((!strcmp(sargv[i], "--env") || !strcmp(sargv[i], "-e")) && i + 1 < sargc) env[nenv++] = sargv[i + 1];
    struct exec_opts o = {.process_file = flag(f, "process") ?: flag(f, "p"),
                          .pid_file = flag(f, "pid-file"),
                          .console_socket = flag(f, "console-socket"),
                          .cwd = flag(f, "cwd"),
                          .detach = flag(f, "detach") || flag(f, "d"),
                          .tty = flag(f, "tty") || flag(f, "t"),
                          .args = p + 1,
                          .nargs = np - 1,
                          .env = env,
                          .nenv = nenv};
    r = cmd_exec(&go, p[0], &o, &e);
    if (r >= 0) return r;
  } else if (!strcmp(cmd, "ps")) {
    struct flag f[] = {{"format", true, NULL}, {"f", true, NULL}, {NULL, false, NULL}};
    if (parse_flags(sargc, sargv, f, p, &np, true, &e) < 0) goto fail;
    if (np < 1) {
      ctl_fail(&e, 0, "ps: a container id is required");
      goto fail;
    }
    r = cmd_ps(&go, p[0], flag(f, "format") ?: flag(f, "f") ?: "table", &e);
  } else if (!strcmp(cmd, "list")) {
    struct flag f[] = {{"format", true, NULL}, {"f", true, NULL}, {"quiet", false, NULL}, {"q", false, NULL}, {NULL, false, NULL}};
    if (parse_flags(sargc, sargv, f, p, &np, false, &e) < 0) goto fail;
    r = cmd_list(&go, flag(f, "format") ?: flag(f, "f"), flag(f, "quiet") || flag(f, "q"), &e);
  } else if (!strcmp(cmd, "events")) {
    struct flag f[] = {{"stats", false, NULL}, {"interval", true, NULL}, {"cgroup", true, NULL}, {NULL, false, NULL}};
    if (parse_flags(sargc, sargv, f, p, &np, false, &e) < 0) goto fail;
    if (np != 1) {
      ctl_fail(&e, 0, "events: exactly one container id is required");
      goto fail;
    }
    r = cmd_events(&go, p[0], flag(f, "stats") != NULL, flag(f, "cgroup"), &e);
  } else if (!strcmp(cmd, "update")) {
    /* update --resources FILE|- ID: LinuxResources JSON (what containerd's Update passes) */
    struct flag f[] = {{"resources", true, NULL},  {"r", true, NULL},         {"memory", true, NULL},     {"pids-limit", true, NULL},
                       {"cpu-shares", true, NULL}, {"cpu-quota", true, NULL}, {"cpu-period", true, NULL}, {NULL, false, NULL}};
    if (parse_flags(sargc, sargv, f, p, &np, false, &e) < 0) goto fail;
    if (np != 1) {
      ctl_fail(&e, 0, "update: exactly one container id is required");
      goto fail;
    }
    const char *res = flag(f, "resources") ?: flag(f, "r");
    json_t *j = NULL;
    json_error_t jerr;
    if (res) {
      j = !strcmp(res, "-") ? json_loadf(stdin, 0, &jerr) : json_load_file(res, 0, &jerr);
      if (!j) {
        ctl_fail(&e, 0, "update --resources %s: %s (line %d)", res, jerr.text, jerr.line);
        goto fail;
      }
    } else {
      j = json_object();
      const char *v;
      if ((v = flag(f, "memory"))) json_object_set_new(j, "memory", json_pack("{s:I}", "limit", (json_int_t)strtoll(v, NULL, 10)));
      if ((v = flag(f, "pids-limit"))) json_object_set_new(j, "pids", json_pack("{s:I}", "limit", (json_int_t)strtoll(v, NULL, 10)));
      json_t *cpu = json_object();
      if ((v = flag(f, "cpu-shares"))) json_object_set_new(cpu, "shares", json_integer(strtoll(v, NULL, 10)));
      if ((v = flag(f, "cpu-quota"))) json_object_set_new(cpu, "quota", json_integer(strtoll(v, NULL, 10)));
      if ((v = flag(f, "cpu-period"))) json_object_set_new(cpu, "period", json_integer(strtoll(v, NULL, 10)));
      json_object_set_new(j, "cpu", cpu);
    }
    r = cmd_update(&go, p[0], j, &e);
    json_decref(j);
  } else if (!strcmp(cmd, "spec-validate")) {
    /* validate a bundle without running it (used by tests and tools) */
    struct flag f[] = {{"bundle", true, NULL}, {"b", true, NULL}, {NULL, false, NULL}};
    if (parse_flags(sargc, sargv, f, p, &np, false, &e) < 0) goto fail;
    json_t *spec = spec_load(flag(f, "bundle") ?: flag(f, "b") ?: ".", &e);
    if (spec) {
      json_decref(spec);
      r = 0;
    }
  } else {
    ctl_fail(&e, 0, "unknown command \"%s\"", cmd);
    usage();
  }
  if (r == 0) return 0;
fail:
  ctl_log_error(&e);
  /* never 0 for a failure, even one that forgot its kind */
  return e.kind ? (int)e.kind : CTL_KIND_INTERNAL;
}
