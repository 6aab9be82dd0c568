/* ctl-netns veth (netns_veth.c): a container's veth pair over rtnetlink, in one exec. */
#ifndef CTL_NETNS_VETH_H
#define CTL_NETNS_VETH_H

/* argv: HOST BRIDGE ALIAS NETNS IFNAME MAC [ADDRESS/PREFIX... [via GATEWAY...]]; an exit code (kinds.h) */
int netns_veth(int argc, char **argv);

#endif
