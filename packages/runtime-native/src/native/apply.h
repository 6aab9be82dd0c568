/* ctl-apply's command line as a function (apply.c): the binary's main, and what ctl-launch runs in
 * a forked child for a request to run the ctl-apply beside it. */
#ifndef APPLY_H
#define APPLY_H

/* Parses argv as ctl-apply does, applies the layer and returns the exit code (or ends the process
 * with it: run it in a process of its own, which it chroots). */
int ctl_apply_main(int argc, char **argv);

/* Starts libcrypto, so that processes forked after it do not each load its configuration. */
void ctl_apply_preload(void);

#endif
