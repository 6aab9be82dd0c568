/* The ctl-mount executable: its operations (mount_tool.c) in a process of their own, for callers
 * without ctl-launch (CTL_LAUNCHER=0). */
#include <stdio.h>
#include "mount_tool.h"

int main(int argc, char **argv) {
  int rc = ctl_mount_run(argc, argv);
  if (*ctl_mount_message()) fprintf(stderr, "%s\n", ctl_mount_message());
  return rc;
}
