/* Mount options as mount(8) and the OCI runtime spec name them: those that are flags of mount(2)
 * and those that are propagations (a mount call of their own). Anything else is the file system's
 * (its data). Shared by ctl-runtime's spec mounts (mounts.c) and ctl-mount (mount_tool.c). */
#ifndef CTL_MOUNT_OPTIONS_H
#define CTL_MOUNT_OPTIONS_H

struct mount_option {
  const char *name;
  unsigned long set, clear;
};

/* The flag option of that name (ro, nosuid, bind, ...), or NULL. */
const struct mount_option *mount_flag_option(const char *name);
/* The propagation option of that name (private, rslave, ...), or NULL. */
const struct mount_option *mount_propagation_option(const char *name);

#endif
