/* ctl-mount: a container's rootfs mounted and unmounted with mount(2) and umount2(2), in place of
 * mount(8) and `umount --recursive` on the run path of every container: those cost an exec with a
 * PATH search, libmount's loading and a parse of the whole mount table each (5-6 ms a container).
 *
 *   ctl-mount mount TYPE SOURCE TARGET [OPTIONS]   OPTIONS as mount -o takes them: the generic ones
 *                        (ro, nosuid, nodev, bind, rbind, ...) become mount flags, the rest the file
 *                        system's data; type "bind" is a bind mount. A bind with other flags is
 *                        remounted with them, as the kernel ignores them on the bind itself.
 *   ctl-mount umount TARGET   unmounts the topmost mount on TARGET and every mount below it,
 *                        deepest first; TARGET not mounted is an error (FailedPrecondition)
 *
 * Relative paths in OPTIONS (an overlay's long lower chain) resolve against the working directory.
 * Exit codes are the native tools' kinds (kinds.h). ctl-launch runs these in its own process
 * (launch.c): they change nothing of the calling process and close what they open. */
#define _GNU_SOURCE
#include "mount_tool.h"
#include "mount_options.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>
#include "kinds.h"

static char message[PATH_MAX * 2 + 256];

const char *ctl_mount_message(void) { return message; }

static int fail(int err, const char *step, const char *what) {
  snprintf(message, sizeof message, "ctl-mount: %s %s: %s", step, what,
           err == EINVAL && !strcmp(step, "unmount") ? "not mounted" : strerror(err));
  switch (err) {
  case ENOENT:
  case ENOTDIR:
    return CTL_KIND_NOT_FOUND;
  case EPERM:
  case EACCES:
    return CTL_KIND_PERMISSION_DENIED;
  case EBUSY:
  case ENODEV:
    return CTL_KIND_FAILED_PRECONDITION;
  case EINVAL:
    return strcmp(step, "unmount") ? CTL_KIND_INVALID_ARGUMENT : CTL_KIND_FAILED_PRECONDITION;
  case ENOMEM:
  case ENOSPC:
  case EMFILE:
  case ENFILE:
    return CTL_KIND_RESOURCE_EXHAUSTED;
  default:
    return CTL_KIND_INTERNAL;
  }
}

/* fstab's options for mount(8) itself, which the kernel never sees */
static bool userspace_only(const char *o) {
  static const char *const names[] = {"auto", "noauto", "user", "nouser", "users", "nofail", "_netdev", "owner", "group"};
  if (!strncmp(o, "x-", 2)) return true;
  for (size_t k = 0; k < sizeof names / sizeof *names; k++)
    if (!strcmp(o, names[k])) return true;
  return false;
}

static int do_mount(const char *type, const char *source, const char *target, const char *options) {
  unsigned long flags = 0, propagation = 0;
  size_t olen = strlen(options);
  char *data = malloc(olen + 1), *copy = strdup(options);
  if (!data || !copy) {
    free(data);
    free(copy);
    return fail(ENOMEM, "mount on", target);
  }
  size_t dlen = 0;
  char *save = NULL;
  for (char *o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
    const struct mount_option *f = mount_flag_option(o);
    const struct mount_option *p = f ? NULL : mount_propagation_option(o);
    if (f) {
      flags = (flags & ~f->clear) | f->set;
    } else if (p) {
      propagation |= p->set;
    } else if (!userspace_only(o)) {
      if (dlen) data[dlen++] = ',';
      memcpy(data + dlen, o, strlen(o));
      dlen += strlen(o);
    }
  }
  data[dlen] = 0;
  free(copy);
  char what[PATH_MAX * 2 + 64];
  int rc = 0;
  if (!strcmp(type, "bind")) flags |= MS_BIND;
  if (flags & MS_BIND) {
    snprintf(what, sizeof what, "%s on %s", source, target);
    /* the kernel takes only MS_REC with MS_BIND; the other flags need a remount of the new mount */
    if (mount(source, target, NULL, flags & (MS_BIND | MS_REC), NULL) < 0)
      rc = fail(errno, "bind", what);
    else if ((flags & ~(MS_BIND | MS_REC | MS_SILENT)) && mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | (flags & ~MS_REC), NULL) < 0) {
      int e = errno;
      umount2(target, MNT_DETACH);
      rc = fail(e, "remount with its flags the bind of", what);
    }
  } else {
    snprintf(what, sizeof what, "%s (%s) on %s", type, source, target);
    if (mount(source, target, type, flags, dlen ? data : NULL) < 0) rc = fail(errno, "mount", what);
  }
  if (rc == 0 && propagation && mount(NULL, target, NULL, propagation, NULL) < 0) rc = fail(errno, "set the propagation of", target);
  free(data);
  return rc;
}

struct mount_entry {
  int id, parent;
  char *path;
  bool gone;
};

/* mountinfo escapes space, tab, newline and backslash as \ooo */
static void unescape(char *s) {
  char *w = s;
  for (char *r = s; *r; r++) {
    if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
      *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
      r += 3;
    } else {
      *w++ = *r;
    }
  }
  *w = 0;
}

static char *read_mountinfo(void) {
  int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  size_t len = 0, cap = 1 << 16;
  char *buf = malloc(cap);
  for (;;) {
    if (!buf) break;
    if (len + 1 >= cap) {
      char *bigger = realloc(buf, cap *= 2);
      if (!bigger) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = bigger;
    }
    ssize_t n = read(fd, buf + len, cap - 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      free(buf);
      buf = NULL;
      break;
    }
    if (n == 0) {
      buf[len] = 0;
      break;
    }
    len += n;
  }
  int e = errno;
  close(fd);
  errno = e;
  return buf;
}

static bool has_live_child(const struct mount_entry *m, size_t n, int id) {
  for (size_t k = 0; k < n; k++)
    if (!m[k].gone && m[k].parent == id) return true;
  return false;
}

/* The slow path, for a target with mounts below it: the tree of the topmost mount on target, read
 * from mountinfo (in this process's mount namespace: a container's own mounts are in its), each
 * unmounted once nothing is mounted below it. */
static int umount_tree(const char *target) {
  char abs[PATH_MAX];
  if (!realpath(target, abs)) return fail(errno, "unmount", target);
  char *info = read_mountinfo();
  if (!info) return fail(errno, "read /proc/self/mountinfo to unmount", target);
  size_t n = 0, cap = 64;
  struct mount_entry *all = malloc(cap * sizeof *all);
  for (char *save = NULL, *line = strtok_r(info, "\n", &save); line && all; line = strtok_r(NULL, "\n", &save)) {
    int id, parent, at = 0;
    /* id parent major:minor root mount-point ... */
    if (sscanf(line, "%d %d %*s %*s %n", &id, &parent, &at) < 2 || !at) continue;
    char *path = line + at, *sp = strchr(path, ' ');
    if (sp) *sp = 0;
    unescape(path);
    if (n == cap) {
      struct mount_entry *bigger = realloc(all, (cap *= 2) * sizeof *all);
      if (!bigger) break;
      all = bigger;
    }
    all[n++] = (struct mount_entry){.id = id, .parent = parent, .path = path, .gone = true};
  }
  int rc = 0;
  if (!all) {
    rc = fail(ENOMEM, "unmount", target);
    goto out;
  }
  /* the top of the stack on target, then its descendants: marked live, all others stay "gone" */
  ssize_t top = -1;
  for (size_t k = 0; k < n; k++)
    if (!strcmp(all[k].path, abs)) top = (ssize_t)k;
  if (top < 0) {
    rc = fail(EINVAL, "unmount", target);
    goto out;
  }
  all[top].gone = false;
  for (bool grew = true; grew;) {
    grew = false;
    for (size_t k = 0; k < n; k++)
      if (all[k].gone && k != (size_t)top)
        for (size_t p = 0; p < n; p++)
          if (!all[p].gone && all[p].id == all[k].parent && all[k].id != all[k].parent) {
            all[k].gone = false;
            grew = true;
            break;
          }
  }
  for (bool progress = true; progress && !all[top].gone;) {
    progress = false;
    for (size_t k = n; k-- > 0;) {
      if (all[k].gone || has_live_child(all, n, all[k].id)) continue;
      /* EINVAL: gone already, with a parent unmounted elsewhere (propagation) */
      if (umount2(all[k].path, 0) < 0 && errno != EINVAL && errno != ENOENT) {
        rc = fail(errno, "unmount", all[k].path);
        goto out;
      }
      all[k].gone = progress = true;
    }
  }
out:
  free(all);
  free(info);
  return rc;
}

static int do_umount(const char *target) {
  /* the usual case: one mount on target, nothing below it (a container's mounts are in its own
   * mount namespace), so no mount table to read */
  if (umount2(target, 0) == 0) return 0;
  if (errno != EBUSY) return fail(errno, "unmount", target);
  return umount_tree(target);
}

int ctl_mount_run(int argc, char **argv) {
  message[0] = 0;
  if ((argc == 5 || argc == 6) && !strcmp(argv[1], "mount")) return do_mount(argv[2], argv[3], argv[4], argc == 6 ? argv[5] : "");
  if (argc == 3 && !strcmp(argv[1], "umount")) return do_umount(argv[2]);
  snprintf(message, sizeof message, "usage: ctl-mount mount TYPE SOURCE TARGET [OPTIONS] | umount TARGET");
  return CTL_KIND_USAGE;
}
