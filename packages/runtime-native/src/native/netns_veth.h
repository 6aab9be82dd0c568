/* ctl-netns veth (netns_veth.c): a container's veth pair over rtnetlink, in one exec. */
#ifndef CTL_NETNS_VETH_H
#define CTL_NETNS_VETH_H

/* argv: HOST BRIDGE ALIAS NETNS IFNAME MAC [ADDRESS/PREFIX... [via GATEWAY...]]; an exit code (kinds.h) */
int netns_veth(int argc, char **argv);

/* Deletes the link of that name in our netns; no such link is no error. An exit code (kinds.h) */
int netns_link_del(const char *name);

#endif
