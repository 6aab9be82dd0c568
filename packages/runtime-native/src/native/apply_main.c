/* ctl-apply's binary: the tool is apply.c's ctl_apply_main, which ctl-launch also runs. */
#include "apply.h"

int main(int argc, char **argv) { return ctl_apply_main(argc, argv); }
