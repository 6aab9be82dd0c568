/* Bringing up `lo` in the network namespace we are in (a new one starts with it down); shared by
 * ctl-runtime (namespaces.c) and ctl-netns. */
#ifndef CTL_LOOPBACK_H
#define CTL_LOOPBACK_H

/* 0, or -1 with errno set. One ioctl pair on a throw-away socket; no netlink, no exec of ip(8). */
int ctl_loopback_up(void);

#endif
