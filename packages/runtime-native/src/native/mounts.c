/* The container's filesystem: spec mounts under the rootfs, device nodes and /dev links,
 * pivot_root, then masked and read-only paths and a read-only root. Runs in the container's
 * init, in its mount namespace (new or joined by path), or, for a container without one, in the
 * caller's under a bind of the rootfs (host_mntns). */
#include "mounts.h"
#include "mount_options.h"
#include "util.h"
#include "error.h"
#include "json.h"
#include "cgroups.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <linux/openat2.h>

unsigned long mount_parse_options(json_t *options, char **data, unsigned long *propagation, bool *bind, bool *rec) {
  unsigned long flags = 0;
  size_t i, dlen = 0;
  json_t *o;
  *data = NULL;
  json_array_foreach(options, i, o) {
    const char *s = json_string_value(o);
    if (!s) continue;
    /* bind and rbind are the caller's to do (a bind mount, then a remount with the flags) */
    if (!strcmp(s, "bind") || !strcmp(s, "rbind")) {
      *bind = true;
      if (s[0] == 'r') *rec = true;
      continue;
    }
    if (!strcmp(s, "tmpcopyup")) continue;
    const struct mount_option *f = mount_flag_option(s);
    if (f) {
      flags = (flags & ~f->clear) | f->set;
      continue;
    }
    const struct mount_option *p = mount_propagation_option(s);
    if (p) {
      *propagation = p->set;
      continue;
    }
    size_t l = strlen(s);
    *data = realloc(*data, dlen + l + 2);
    if (dlen) (*data)[dlen++] = ',';
    memcpy(*data + dlen, s, l + 1);
    dlen += l;
  }
  return flags;
}

/* The flags a remount must keep: in a user namespace the kernel locks them. */
static unsigned long locked_flags(const char *path) {
  struct statvfs sv;
  unsigned long f = 0;
  if (statvfs(path, &sv) < 0) return 0;
  if (sv.f_flag & ST_NOSUID) f |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV) f |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
  if (sv.f_flag & ST_RDONLY) f |= MS_RDONLY;
  return f;
}

static int touch(const char *path, struct ctl_err *e) {
  int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0 && errno != EEXIST && errno != EISDIR) return SYSERR(e, "create", path);
  if (fd >= 0) close(fd);
  return 0;
}

static int openat2_in_root(int dirfd, const char *rel, struct ctl_err *e) {
  struct open_how how = {.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
  int fd = (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
  if (fd < 0 && errno != ENOENT) ctl_fail(e, errno, "openat2 %s", rel);
  return fd;
}

/* Walk `path` from the root, making what is missing (directories; an empty file for the last
 * name when as_file). Each name is made in a directory that was itself resolved in root; a
 * dangling symlink is followed by restarting the walk at its target (also taken in root).
 * Returns an O_PATH fd. */
static int walk_and_make(int root, const char *dest, bool as_file, struct ctl_err *e) {
  char path[4096];
  /* the walk keeps paths in PATH_MAX-sized buffers: a longer one is refused, not cut */
  if (strlen(dest) >= sizeof path) return ctl_fail(e, ENAMETOOLONG, "resolve %s in rootfs", dest);
  snprintf(path, sizeof path, "%s", dest);
  for (int hops = 0; hops < 40; hops++) {
    char prefix[4096] = "";
    int parent = dup(root);
    char *cur = path, *restart = NULL;
    while (*cur) {
      while (*cur == '/') cur++;
      if (!*cur) break;
      char *end = strchrnul(cur, '/');
      char comp[256];
      snprintf(comp, sizeof comp, "%.*s", (int)(end - cur), cur);
      bool last = *end == 0 || end[strspn(end, "/")] == 0;
      size_t pl = strlen(prefix);
      snprintf(prefix + pl, sizeof prefix - pl, "/%s", comp);
      int next = openat2_in_root(root, prefix, e);
      if (next < 0 && errno != ENOENT) {
        close(parent);
        return -1;
      }
      if (next < 0) {
        char tgt[4096];
        ssize_t n = readlinkat(parent, comp, tgt, sizeof tgt - 1);
        if (n >= 0) { /* a dangling symlink: continue at its target, resolved in root */
          tgt[n] = 0;
          static char buf[8192];
          prefix[pl] = 0;
          snprintf(buf, sizeof buf, "%s%s%s%s", tgt[0] == '/' ? "" : prefix, tgt[0] == '/' ? "" : "/", tgt, end);
          restart = buf;
          close(parent);
          break;
        }
        int r = (last && as_file) ? openat(parent, comp, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644) : mkdirat(parent, comp, 0755);
        if (r < 0 && errno != EEXIST) {
          ctl_fail(e, errno, "create %s in rootfs", prefix);
          close(parent);
          return -1;
        }
        if (last && as_file && r >= 0) close(r);
        next = openat2_in_root(root, prefix, e);
        if (next < 0) {
          ctl_fail(e, errno, "open %s in rootfs", prefix);
          close(parent);
          return -1;
        }
      }
      close(parent);
      parent = next;
      cur = end;
    }
    if (!restart) return parent;
    if (strlen(restart) >= sizeof path) return ctl_fail(e, ENAMETOOLONG, "resolve %s in rootfs: a symlink leads to a longer path", dest);
    snprintf(path, sizeof path, "%s", restart);
  }
  return ctl_fail(e, ELOOP, "resolve %s in rootfs", dest);
}

/* The host path of `dest` inside the rootfs, made if missing, with every symlink resolved as if
 * the rootfs were / (openat2 RESOLVE_IN_ROOT): a symlink in the image cannot point a mount
 * outside the container. */
static char *resolve_in_root(const char *rootfs, const char *dest, bool as_file, struct ctl_err *e) {
  cleanup_close int root = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) return ctl_fail(e, errno, "open rootfs %s", rootfs), NULL;
  int fd = openat2_in_root(root, dest, e);
  if (fd < 0 && errno != ENOENT) return NULL;
  if (fd < 0 && (fd = walk_and_make(root, dest, as_file, e)) < 0) return NULL;
  char link[64], target[4096];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, target, sizeof target - 1);
  close(fd);
  if (n < 0) return ctl_fail(e, errno, "readlink %s (%s)", link, dest), NULL;
  target[n] = 0;
  size_t rl = strlen(rootfs);
  if (strncmp(target, rootfs, rl) != 0 || (target[rl] != '/' && target[rl] != 0))
    return ctl_fail(e, EXDEV, "%s resolves outside the rootfs to %s", dest, target), NULL;
  return strdup(target);
}

static int bind_mount(const char *src, const char *dest, unsigned long flags, unsigned long prop, bool rec, bool userns,
                      struct ctl_err *e) {
  if (mount(src, dest, NULL, MS_BIND | (rec ? MS_REC : 0), NULL) < 0) return ctl_fail(e, errno, "bind mount %s on %s", src, dest);
  unsigned long extra = flags & ~(MS_REMOUNT | MS_BIND | MS_REC);
  if (extra) {
    unsigned long keep = userns ? locked_flags(dest) & ~MS_RDONLY : 0;
    if (mount(NULL, dest, NULL, MS_BIND | MS_REMOUNT | extra | keep, NULL) < 0) return ctl_fail(e, errno, "remount %s", dest);
  }
  if (prop && mount(NULL, dest, NULL, prop, NULL) < 0) return ctl_fail(e, errno, "set propagation of %s", dest);
  return 0;
}

static int do_spec_mount(struct mount_ctx *m, size_t idx, json_t *mnt, struct ctl_err *e) {
  const char *type = jstr(mnt, "type") ?: "", *src = jstr(mnt, "source") ?: "";
  cleanup_free char *dest = NULL;
  cleanup_free char *data = NULL;
  unsigned long prop = 0;
  bool bind = !strcmp(type, "bind"), rec = false;
  unsigned long flags = mount_parse_options(json_object_get(mnt, "options"), &data, &prop, &bind, &rec);
  if (bind) {
    cleanup_free char *abs = src[0] == '/' ? strdup(src) : xasprintf("%s/%s", m->bundle, src);
    struct stat st;
    if (stat(abs, &st) < 0) return ctl_fail(e, errno, "mounts[%zu].source: bind source %s", idx, abs);
    dest = resolve_in_root(m->rootfs, jstr(mnt, "destination"), !S_ISDIR(st.st_mode), e);
    if (!dest) return ctl_wrap(e, "mounts[%zu].destination", idx);
    if (bind_mount(abs, dest, flags, prop, rec, m->userns, e) < 0) return ctl_wrap(e, "mounts[%zu]", idx);
    return 0;
  }
  dest = resolve_in_root(m->rootfs, jstr(mnt, "destination"), false, e);
  if (!dest) return ctl_wrap(e, "mounts[%zu].destination", idx);
  if (!strcmp(type, "cgroup") || !strcmp(type, "cgroup2")) {
    if (!m->cg) return 0;
    return cg_mount_in_container(m->cg, dest, flags, m->cgroupns, e) < 0 ? ctl_wrap(e, "mounts[%zu]", idx) : 0;
  }
  if (mount(src, dest, type, flags, data) < 0) {
    int err = errno;
    /* without a network (sysfs) or ipc (mqueue) namespace of our own, the kernel refuses a new
     * instance in a user namespace: bind the host's instead, as runc does */
    if (err == EPERM && (!strcmp(type, "sysfs") || !strcmp(type, "mqueue"))) {
      const char *host = !strcmp(type, "sysfs") ? "/sys" : "/dev/mqueue";
      if (bind_mount(host, dest, flags, prop, true, m->userns, e) == 0) return 0;
    }
    return ctl_fail(e, err, "mounts[%zu]: mount %s (%s) on %s%s%s", idx, src, type, dest, data ? " with " : "", data ? data : "");
  }
  if (prop && mount(NULL, dest, NULL, prop, NULL) < 0) return ctl_fail(e, errno, "set propagation of %s", dest);
  return 0;
}

static const struct {
  const char *path;
  unsigned maj, min;
} DEFAULT_DEVICES[] = {{"/dev/null", 1, 3},   {"/dev/zero", 1, 5},    {"/dev/full", 1, 7},
                       {"/dev/random", 1, 8}, {"/dev/urandom", 1, 9}, {"/dev/tty", 5, 0}};

static int make_device(struct mount_ctx *m, const char *path, char type, unsigned maj, unsigned min, mode_t mode, uid_t uid, gid_t gid,
                       struct ctl_err *e) {
  cleanup_free char *dest = NULL;
  if (m->userns) {
    /* no mknod in a user namespace: bind the host's node */
    if (!(dest = resolve_in_root(m->rootfs, path, true, e))) return -1;
    if (mount(path, dest, NULL, MS_BIND, NULL) < 0) return ctl_fail(e, errno, "bind device %s on %s", path, dest);
    return 0;
  }
  mode_t fmt = type == 'b' ? S_IFBLK : type == 'p' ? S_IFIFO : S_IFCHR;
  /* resolve the parent in root, then make the node by name inside it */
  cleanup_free char *pdir = strdup(path);
  char *slash = strrchr(pdir, '/');
  *slash = 0;
  cleanup_free char *parent = resolve_in_root(m->rootfs, *pdir ? pdir : "/", false, e);
  if (!parent) return -1;
  dest = xasprintf("%s/%s", parent, slash + 1);
  if (mknod(dest, fmt | (mode & 07777), makedev(maj, min)) < 0) {
    if (errno != EEXIST) return ctl_fail(e, errno, "mknod %s", dest);
    unlink(dest);
    if (mknod(dest, fmt | (mode & 07777), makedev(maj, min)) < 0) return ctl_fail(e, errno, "mknod %s", dest);
  }
  if (chown(dest, uid, gid) < 0) return ctl_fail(e, errno, "chown %s", dest);
  return 0;
}

static int make_devices(struct mount_ctx *m, struct ctl_err *e) {
  size_t i;
  json_t *d;
  json_t *devs = jpath(m->spec, "linux.devices");
  for (size_t k = 0; k < sizeof DEFAULT_DEVICES / sizeof *DEFAULT_DEVICES; k++) {
    bool overridden = false;
    json_array_foreach(devs, i, d) if (!strcmp(jstr(d, "path"), DEFAULT_DEVICES[k].path)) overridden = true;
    if (!overridden && make_device(m, DEFAULT_DEVICES[k].path, 'c', DEFAULT_DEVICES[k].maj, DEFAULT_DEVICES[k].min, 0666, 0, 0, e) < 0)
      return -1;
  }
  json_array_foreach(devs, i, d) {
    long long maj = 0, min = 0, mode = 0666, uid = 0, gid = 0;
    jint(d, "major", &maj);
    jint(d, "minor", &min);
    jint(d, "fileMode", &mode);
    jint(d, "uid", &uid);
    jint(d, "gid", &gid);
    if (make_device(m, jstr(d, "path"), jstr(d, "type")[0], maj, min, mode, uid, gid, e) < 0) return ctl_wrap(e, "linux.devices[%zu]", i);
  }
  static const char *links[][2] = {{"/proc/self/fd", "/dev/fd"},
                                   {"/proc/self/fd/0", "/dev/stdin"},
                                   {"/proc/self/fd/1", "/dev/stdout"},
                                   {"/proc/self/fd/2", "/dev/stderr"},
                                   {"/proc/kcore", "/dev/core"}};
  cleanup_free char *devdir = resolve_in_root(m->rootfs, "/dev", false, e);
  if (!devdir) return -1;
  for (size_t k = 0; k < sizeof links / sizeof *links; k++) {
    cleanup_free char *dest = xasprintf("%s%s", devdir, links[k][1] + 4);
    if (symlink(links[k][0], dest) < 0 && errno != EEXIST) return ctl_fail(e, errno, "symlink %s", dest);
  }
  cleanup_free char *pts = xasprintf("%s/pts/ptmx", devdir);
  if (access(pts, F_OK) == 0) {
    cleanup_free char *ptmx = xasprintf("%s/ptmx", devdir);
    unlink(ptmx);
    if (symlink("pts/ptmx", ptmx) < 0) return ctl_fail(e, errno, "symlink %s", ptmx);
  }
  return 0;
}

/* linux.rootfsPropagation as mount flags; *given tells whether the config names one. */
static int root_propagation(json_t *spec, unsigned long *prop, bool *given, struct ctl_err *e) {
  *prop = MS_SLAVE | MS_REC;
  const char *rp = jstr(jpath(spec, "linux"), "rootfsPropagation");
  *given = rp && *rp;
  if (!*given) return 0;
  const struct mount_option *p = mount_propagation_option(rp);
  if (p) return *prop = p->set, 0;
  return ctl_fail(e, 0, "config.json: linux.rootfsPropagation: unknown value \"%s\"", rp);
}

/* pivot_root refuses (EINVAL) a new root whose parent mount is shared, as it is when
 * rootfsPropagation is "shared": make the mount that holds the rootfs private first (in the
 * container's namespace; the root gets the asked propagation back after the pivot). */
static int rootfs_parent_private(const char *rootfs, struct ctl_err *e) {
  FILE *f = fopen("/proc/self/mountinfo", "re");
  if (!f) return SYSERR(e, "open", "/proc/self/mountinfo");
  cleanup_free char *line = NULL, *best = NULL;
  size_t cap = 0, rl = strlen(rootfs), best_len = 0;
  bool best_shared = false;
  while (getline(&line, &cap, f) > 0) {
    char mp[4096];
    if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1) continue;
    size_t ml = strlen(mp);
    bool prefix = !strcmp(mp, "/") || (!strncmp(rootfs, mp, ml) && (rootfs[ml] == '/' || rootfs[ml] == 0));
    if (!prefix || ml > rl || (best && ml < best_len)) continue;
    char *sep = strstr(line, " - ");
    char *shared = strstr(line, " shared:");
    free(best);
    best = strdup(mp);
    best_len = ml;
    best_shared = shared && sep && shared < sep;
  }
  fclose(f);
  if (best && best_shared && mount(NULL, best, NULL, MS_PRIVATE, NULL) < 0)
    return ctl_fail(e, errno, "make %s, the mount holding the rootfs, private (linux.rootfsPropagation)", best);
  return 0;
}

int mounts_prepare_rootfs(struct mount_ctx *m, struct ctl_err *e) {
  unsigned long prop;
  bool given;
  if (root_propagation(m->spec, &prop, &given, e) < 0) return -1;
  if (m->host_mntns) {
    if (given) return ctl_fail(e, 0, "config.json: linux.rootfsPropagation needs a mount namespace (linux.namespaces has none)");
  } else {
    /* an unbindable / could not give the rootfs bind below: it gets that after the pivot */
    if (mount(NULL, "/", NULL, (prop & MS_UNBINDABLE) ? MS_SLAVE | MS_REC : prop, NULL) < 0)
      return ctl_fail(e, errno, "set propagation of / (linux.rootfsPropagation)");
    if (rootfs_parent_private(m->rootfs, e) < 0) return -1;
  }
  if (mount(m->rootfs, m->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0) return ctl_fail(e, errno, "bind mount rootfs %s", m->rootfs);
  size_t i;
  json_t *mnt;
  json_array_foreach(json_object_get(m->spec, "mounts"), i, mnt) if (do_spec_mount(m, i, mnt, e) < 0) return -1;
  return make_devices(m, e);
}

static int enter_root(struct mount_ctx *m, struct ctl_err *e) {
  if (m->host_mntns) {
    /* the caller's namespace: neither pivot_root nor a move of the rootfs may touch its / */
    if (chroot(m->rootfs) < 0) return SYSERR(e, "chroot", m->rootfs);
    return chdir("/") < 0 ? SYSERR(e, "chdir", "/") : 0;
  }
  if (m->no_pivot) {
    if (chdir(m->rootfs) < 0) return SYSERR(e, "chdir", m->rootfs);
    if (mount(m->rootfs, "/", NULL, MS_MOVE, NULL) < 0) return ctl_fail(e, errno, "move mount %s to /", m->rootfs);
    if (chroot(".") < 0) return SYSERR(e, "chroot", m->rootfs);
    if (chdir("/") < 0) return SYSERR(e, "chdir", "/");
    return 0;
  }
  cleanup_close int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (oldroot < 0) return SYSERR(e, "open", "/");
  cleanup_close int newroot = open(m->rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (newroot < 0) return SYSERR(e, "open", m->rootfs);
  if (fchdir(newroot) < 0) return SYSERR(e, "fchdir", m->rootfs);
  if (syscall(SYS_pivot_root, ".", ".") < 0) return ctl_fail(e, errno, "pivot_root %s", m->rootfs);
  if (fchdir(oldroot) < 0) return SYSERR(e, "fchdir", "old root");
  if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0) return SYSERR(e, "make old root rslave", ".");
  if (umount2(".", MNT_DETACH) < 0) return SYSERR(e, "umount old root", ".");
  if (chdir("/") < 0) return SYSERR(e, "chdir", "/");
  return 0;
}

int mounts_pivot(struct mount_ctx *m, struct ctl_err *e) {
  unsigned long prop;
  bool given;
  if (enter_root(m, e) < 0 || root_propagation(m->spec, &prop, &given, e) < 0) return -1;
  /* the container's root itself gets the asked propagation (the set-up may have changed it) */
  if (given && !m->host_mntns && mount(NULL, "/", NULL, prop, NULL) < 0)
    return ctl_fail(e, errno, "set propagation of the container's / (linux.rootfsPropagation)");
  return 0;
}

unsigned long long mounts_top_id(const char *path) {
#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x4000U
#endif
  struct statx sx;
  if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_MNT_ID_UNIQUE, &sx) < 0) return 0;
  return (sx.stx_mask & (STATX_MNT_ID_UNIQUE | STATX_MNT_ID)) ? sx.stx_mnt_id : 0;
}

int mounts_release_host(const char *rootfs, unsigned long long id, struct ctl_err *e) {
  if (!id || mounts_top_id(rootfs) != id) return 0;
  if (umount2(rootfs, MNT_DETACH) < 0) return ctl_fail(e, errno, "detach the rootfs mounts of %s", rootfs);
  return 0;
}

int mount_console(const char *slave, struct ctl_err *e) {
  if (touch("/dev/console", e) < 0) return -1;
  if (mount(slave, "/dev/console", NULL, MS_BIND, NULL) < 0) return ctl_fail(e, errno, "bind %s on /dev/console", slave);
  return 0;
}

static int mask_path(const char *p, struct ctl_err *e) {
  struct stat st;
  if (stat(p, &st) < 0) return errno == ENOENT ? 0 : ctl_fail(e, errno, "linux.maskedPaths: stat %s", p);
  int r = S_ISDIR(st.st_mode) ? mount("tmpfs", p, "tmpfs", MS_RDONLY, "size=0") : mount("/dev/null", p, NULL, MS_BIND, NULL);
  if (r < 0 && errno != ENOENT) return ctl_fail(e, errno, "linux.maskedPaths: mask %s", p);
  return 0;
}

static int readonly_path(const char *p, struct ctl_err *e) {
  if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0) {
    if (errno == ENOENT) return 0;
    return ctl_fail(e, errno, "linux.readonlyPaths: bind %s", p);
  }
  if (mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags(p), NULL) < 0)
    return ctl_fail(e, errno, "linux.readonlyPaths: remount %s read-only", p);
  return 0;
}

int mounts_finalize(struct mount_ctx *m, struct ctl_err *e) {
  size_t i;
  json_t *p;
  json_array_foreach(jpath(m->spec, "linux.maskedPaths"), i, p) if (mask_path(json_string_value(p), e) < 0) return -1;
  json_array_foreach(jpath(m->spec, "linux.readonlyPaths"), i, p) if (readonly_path(json_string_value(p), e) < 0) return -1;
  if (jbool(json_object_get(m->spec, "root"), "readonly")) {
    if (mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags("/"), NULL) < 0)
      return ctl_fail(e, errno, "root.readonly: remount / read-only");
  }
  return 0;
}
