/* The mount options tables: see mount_options.h. */
#include "mount_options.h"
#include <string.h>
#include <sys/mount.h>

static const struct mount_option flag_options[] = {
    {"defaults", 0, 0},
    {"ro", MS_RDONLY, 0},
    {"rw", 0, MS_RDONLY},
    {"nosuid", MS_NOSUID, 0},
    {"suid", 0, MS_NOSUID},
    {"nodev", MS_NODEV, 0},
    {"dev", 0, MS_NODEV},
    {"noexec", MS_NOEXEC, 0},
    {"exec", 0, MS_NOEXEC},
    {"sync", MS_SYNCHRONOUS, 0},
    {"async", 0, MS_SYNCHRONOUS},
    {"dirsync", MS_DIRSYNC, 0},
    {"remount", MS_REMOUNT, 0},
    {"mand", MS_MANDLOCK, 0},
    {"nomand", 0, MS_MANDLOCK},
    {"atime", 0, MS_NOATIME},
    {"noatime", MS_NOATIME, 0},
    {"diratime", 0, MS_NODIRATIME},
    {"nodiratime", MS_NODIRATIME, 0},
    {"relatime", MS_RELATIME, 0},
    {"norelatime", 0, MS_RELATIME},
    {"strictatime", MS_STRICTATIME, 0},
    {"nostrictatime", 0, MS_STRICTATIME},
    {"lazytime", MS_LAZYTIME, 0},
    {"nolazytime", 0, MS_LAZYTIME},
    {"silent", MS_SILENT, 0},
    {"loud", 0, MS_SILENT},
    {"bind", MS_BIND, 0},
    {"rbind", MS_BIND | MS_REC, 0},
};

static const struct mount_option propagation_options[] = {
    {"private", MS_PRIVATE, 0},       {"rprivate", MS_PRIVATE | MS_REC, 0},
    {"shared", MS_SHARED, 0},         {"rshared", MS_SHARED | MS_REC, 0},
    {"slave", MS_SLAVE, 0},           {"rslave", MS_SLAVE | MS_REC, 0},
    {"unbindable", MS_UNBINDABLE, 0}, {"runbindable", MS_UNBINDABLE | MS_REC, 0},
};

static const struct mount_option *find(const struct mount_option *table, size_t n, const char *name) {
  for (size_t k = 0; k < n; k++)
    if (!strcmp(name, table[k].name)) return &table[k];
  return NULL;
}

const struct mount_option *mount_flag_option(const char *name) {
  return find(flag_options, sizeof flag_options / sizeof *flag_options, name);
}

const struct mount_option *mount_propagation_option(const char *name) {
  return find(propagation_options, sizeof propagation_options / sizeof *propagation_options, name);
}
