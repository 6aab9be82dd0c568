/* ctl-mount's operations (mount_tool.c), shared by the ctl-mount executable (mount_main.c) and
 * ctl-launch, which runs them without a process of their own (launch.c). */
#ifndef CTL_MOUNT_TOOL_H
#define CTL_MOUNT_TOOL_H

/* argv as ctl-mount's command line (argv[0] the program); an exit code (kinds.h). On failure
 * ctl_mount_message() says what failed. Opens nothing that outlives the call. */
int ctl_mount_run(int argc, char **argv);

/* The message of the last failure ("ctl-mount: STEP WHAT: REASON"), empty after a success. */
const char *ctl_mount_message(void);

#endif
