/* The kinds of failure the native tools report, as their exit code: ctl-runtime (every verb but
 * a foreground run or exec, whose code is the process's), ctl-shim's starter (the runtime's code
 * when create fails), ctl-apply and ctl-diff. src/errors.ts (NATIVE_EXIT) maps them onto the
 * engine's ErrorKind, so no caller reads the message to learn the kind. The numbers are the
 * layer tools' original ones; 1, runc's only error code, is InvalidArgument. */
#ifndef CTL_KINDS_H
#define CTL_KINDS_H

enum ctl_kind {
  CTL_KIND_INVALID_ARGUMENT = 1,    /* flags, id, config.json, a layer: the input is refused */
  CTL_KIND_USAGE = 2,               /* a command line the tool does not understand (InvalidArgument) */
  CTL_KIND_FAILED_PRECONDITION = 3, /* not in a state for this (container status, host feature, diff id) */
  CTL_KIND_RESOURCE_EXHAUSTED = 4,  /* ENOSPC, EDQUOT, ENOMEM, EMFILE, ENFILE, EAGAIN */
  CTL_KIND_NOT_FOUND = 5,           /* the container, bundle, file or cgroup does not exist */
  CTL_KIND_INTERNAL = 6,            /* any other failure */
  CTL_KIND_ALREADY_EXISTS = 7,      /* a container with this id exists */
  CTL_KIND_PERMISSION_DENIED = 8,   /* EPERM, EACCES */
};

#endif
