/* The ctl-netns executable: its operations (netns.c) in a process of their own, for callers without
 * ctl-launch (CTL_LAUNCHER=0) and for ctl-launch when it cannot run them itself. */
#include <stdio.h>
#include "netns.h"

int main(int argc, char **argv) {
  int rc = ctl_netns_run(argc, argv);
  if (*ctl_netns_message()) fprintf(stderr, "%s\n", ctl_netns_message());
  return rc;
}
