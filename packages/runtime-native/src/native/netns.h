/* ctl-netns's operations (netns.c, netns_veth.c), shared by the ctl-netns executable
 * (netns_main.c) and ctl-launch, which runs them without a process of their own (launch.c). */
#ifndef CTL_NETNS_H
#define CTL_NETNS_H

#include <stddef.h>

/* argv as ctl-netns's command line (argv[0] the program); an exit code (kinds.h). On failure
 * ctl_netns_message() says what failed. Leaves the calling process as it found it: in the network
 * namespace it was in, with no descriptor of its own left open. */
int ctl_netns_run(int argc, char **argv);

/* The message of the last failure ("ctl-netns: STEP WHAT: REASON"), empty after a success. */
const char *ctl_netns_message(void);

/* Records a failure of STEP on WHAT with errno's reason; answers its kind (kinds.h). */
int ctl_netns_fail(const char *step, const char *what);

/* Records a command line not understood (the usage as message); answers CTL_KIND_USAGE. */
int ctl_netns_usage(const char *usage);

#endif
