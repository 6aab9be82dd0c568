/* ctl-netns veth: a container's veth pair made and configured in one exec, over rtnetlink (what
 * netd's two `ip -batch` runs did: one in the host's netns, one in the container's).
 *
 *   ctl-netns veth HOST BRIDGE ALIAS NETNS IFNAME MAC [ADDRESS/PREFIX... [via GATEWAY...]]
 *   ctl-netns link-del NAME   deletes the link NAME of our netns (a veth: both ends); none is fine
 *
 * In our netns: the pair HOST/IFNAME with IFNAME (MAC given) made directly in the netns at path
 * NETNS, HOST on BRIDGE with ALIAS, hairpin on and up. Then in NETNS: lo up, the addresses on
 * IFNAME (IPv6 without duplicate address detection), IFNAME up, a default route appended per
 * gateway. A step that fails stops it; the message names the step and says the kernel's words.
 * It ends in the network namespace it started in, its descriptors closed (ctl-launch runs it in its
 * own process: netns.h). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "kinds.h"
#include "loopback.h"
#include "netns.h"
#include "netns_veth.h"

struct req {
  struct nlmsghdr h;
  char buf[1024];
};

static struct rtattr *attr(struct req *r, unsigned short type, const void *data, size_t len) {
  struct rtattr *a = (struct rtattr *)((char *)r + NLMSG_ALIGN(r->h.nlmsg_len));
  a->rta_type = type;
  a->rta_len = RTA_LENGTH(len);
  if (len) memcpy(RTA_DATA(a), data, len);
  r->h.nlmsg_len = NLMSG_ALIGN(r->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
  return a;
}

static struct rtattr *nest(struct req *r, unsigned short type) { return attr(r, type | NLA_F_NESTED, NULL, 0); }
static void end(struct req *r, struct rtattr *a) { a->rta_len = (char *)r + r->h.nlmsg_len - (char *)a; }
static void *body(struct req *r, size_t len) {
  r->h.nlmsg_len = NLMSG_LENGTH(len);
  return NLMSG_DATA(&r->h);
}

/* Sends one request and reads its ack: 0, or -1 with errno the kernel's answer. */
static int talk(int fd, struct req *r, unsigned short type, unsigned short flags) {
  static unsigned seq;
  r->h.nlmsg_type = type;
  r->h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
  r->h.nlmsg_seq = ++seq;
  if (send(fd, r, r->h.nlmsg_len, 0) < 0) return -1;
  char ans[4096];
  for (;;) {
    ssize_t n = recv(fd, ans, sizeof ans, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)ans; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != seq || h->nlmsg_type != NLMSG_ERROR) continue;
      int e = -((struct nlmsgerr *)NLMSG_DATA(h))->error;
      if (e) errno = e;
      return e ? -1 : 0;
    }
  }
}

static int rtnl(void) { return socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE); }

#define fail ctl_netns_fail

static int parse_mac(const char *s, unsigned char mac[6]) {
  return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]) == 6 ? 0 : -1;
}

/* Sets a link up, with whatever else the caller put in the request after the ifinfomsg. */
static int link_up(int fd, struct req *r, int index) {
  struct ifinfomsg *i = NLMSG_DATA(&r->h);
  i->ifi_index = index;
  i->ifi_flags = IFF_UP;
  i->ifi_change = IFF_UP;
  return talk(fd, r, RTM_NEWLINK, 0);
}

/* An IPv4 or IPv6 address into bytes (4 or 16 of them): its family, or -1 (EINVAL). */
static int parse_ip(const char *ip, unsigned char bytes[16]) {
  int family = strchr(ip, ':') ? AF_INET6 : AF_INET;
  if (inet_pton(family, ip, bytes) != 1) return errno = EINVAL, -1;
  return family;
}

static int add_address(int fd, int index, const char *cidr) {
  char ip[INET6_ADDRSTRLEN + 1];
  const char *slash = strchr(cidr, '/');
  if (!slash || (size_t)(slash - cidr) >= sizeof ip) return errno = EINVAL, -1;
  memcpy(ip, cidr, slash - cidr);
  ip[slash - cidr] = 0;
  unsigned char bytes[16];
  int family = parse_ip(ip, bytes);
  if (family < 0) return -1;
  struct req r = {0};
  *(struct ifaddrmsg *)body(&r, sizeof(struct ifaddrmsg)) = (struct ifaddrmsg){
      .ifa_family = family, .ifa_prefixlen = atoi(slash + 1), .ifa_flags = family == AF_INET6 ? IFA_F_NODAD : 0, .ifa_index = index};
  size_t len = family == AF_INET ? 4 : 16;
  attr(&r, IFA_LOCAL, bytes, len);
  attr(&r, IFA_ADDRESS, bytes, len);
  return talk(fd, &r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
}

static int append_default_route(int fd, int index, const char *gateway) {
  unsigned char bytes[16];
  int family = parse_ip(gateway, bytes);
  if (family < 0) return -1;
  struct req r = {0};
  *(struct rtmsg *)body(&r, sizeof(struct rtmsg)) = (struct rtmsg){.rtm_family = family,
                                                                   .rtm_table = RT_TABLE_MAIN,
                                                                   .rtm_protocol = RTPROT_BOOT,
                                                                   .rtm_scope = RT_SCOPE_UNIVERSE,
                                                                   .rtm_type = RTN_UNICAST};
  attr(&r, RTA_GATEWAY, bytes, family == AF_INET ? 4 : 16);
  attr(&r, RTA_OIF, &index, sizeof index);
  return talk(fd, &r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_APPEND);
}

/* The host's end: made with its peer in the netns (nsfd), then on the bridge, named, up. */
static int host_end(int fd, int nsfd, int master, const char *host, const char *alias, const char *ifname, const unsigned char mac[6]) {
  struct req r = {0};
  body(&r, sizeof(struct ifinfomsg));
  attr(&r, IFLA_IFNAME, host, strlen(host) + 1);
  attr(&r, IFLA_MASTER, &master, sizeof master);
  struct rtattr *info = nest(&r, IFLA_LINKINFO);
  attr(&r, IFLA_INFO_KIND, "veth", 4);
  struct rtattr *data = nest(&r, IFLA_INFO_DATA);
  struct rtattr *peer = attr(&r, VETH_INFO_PEER, NULL, 0);
  r.h.nlmsg_len += NLMSG_ALIGN(sizeof(struct ifinfomsg)); /* the peer's ifinfomsg, zeroed */
  attr(&r, IFLA_IFNAME, ifname, strlen(ifname) + 1);
  attr(&r, IFLA_ADDRESS, mac, 6);
  attr(&r, IFLA_NET_NS_FD, &nsfd, sizeof nsfd);
  end(&r, peer);
  end(&r, data);
  end(&r, info);
  if (talk(fd, &r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL) < 0) return fail("add the veth pair", host);

  int index = if_nametoindex(host);
  if (!index) return fail("find", host);
  memset(&r, 0, sizeof r);
  body(&r, sizeof(struct ifinfomsg));
  attr(&r, IFLA_IFALIAS, alias, strlen(alias));
  info = nest(&r, IFLA_LINKINFO);
  attr(&r, IFLA_INFO_SLAVE_KIND, "bridge", 6);
  data = nest(&r, IFLA_INFO_SLAVE_DATA);
  unsigned char hairpin = 1;
  attr(&r, IFLA_BRPORT_MODE, &hairpin, 1);
  end(&r, data);
  end(&r, info);
  if (link_up(fd, &r, index) < 0) return fail("set alias, hairpin and up on", host);
  return 0;
}

/* The container's end, in the netns we are in now: lo up, addresses, up, default routes. */
static int container_end(int fd, const char *ifname, int argc, char **argv) {
  if (ctl_loopback_up() < 0) return fail("bring up", "lo");
  int inner = if_nametoindex(ifname);
  if (!inner) return fail("find", ifname);
  int i = 6;
  for (; i < argc && strcmp(argv[i], "via"); i++)
    if (add_address(fd, inner, argv[i]) < 0) return fail("add the address", argv[i]);
  struct req r = {0};
  body(&r, sizeof(struct ifinfomsg));
  if (link_up(fd, &r, inner) < 0) return fail("set up", ifname);
  for (i++; i < argc; i++)
    if (append_default_route(fd, inner, argv[i]) < 0) return fail("append the default route via", argv[i]);
  return 0;
}

int netns_veth(int argc, char **argv) {
  if (argc < 6) return ctl_netns_usage("ctl-netns veth HOST BRIDGE ALIAS NETNS IFNAME MAC [ADDRESS/PREFIX... [via GATEWAY...]]");
  const char *host = argv[0], *bridge = argv[1], *alias = argv[2], *netns = argv[3], *ifname = argv[4];
  unsigned char mac[6];
  if (strlen(host) >= IFNAMSIZ || strlen(ifname) >= IFNAMSIZ || parse_mac(argv[5], mac) < 0)
    return errno = EINVAL, fail("check", "the names and MAC");
  int master = if_nametoindex(bridge);
  if (!master) return fail("find the bridge", bridge);
  int rc = 0, fd = -1, nsfd = -1, home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0) return fail("open", "the caller's network namespace");
  if ((nsfd = open(netns, O_RDONLY | O_CLOEXEC)) < 0) {
    rc = fail("open the network namespace", netns);
  } else if ((fd = rtnl()) < 0) {
    rc = fail("open", "rtnetlink");
  } else if ((rc = host_end(fd, nsfd, master, host, alias, ifname, mac)) == 0) {
    close(fd);
    fd = -1;
    if (setns(nsfd, CLONE_NEWNET) < 0) {
      rc = fail("enter the network namespace", netns);
    } else {
      if ((fd = rtnl()) < 0)
        rc = fail("open", "rtnetlink in the network namespace");
      else
        rc = container_end(fd, ifname, argc, argv);
      if (setns(home, CLONE_NEWNET) < 0 && rc == 0) rc = fail("return to the caller's network namespace from", netns);
    }
  }
  if (fd >= 0) close(fd);
  if (nsfd >= 0) close(nsfd);
  close(home);
  return rc;
}

/* `ip link del NAME` without iproute2: this static binary starts in half the time of `ip`, and a
 * veth goes at every container's removal. */
int netns_link_del(const char *name) {
  if (strlen(name) >= IFNAMSIZ) return errno = EINVAL, fail("check", name);
  int fd = rtnl();
  if (fd < 0) return fail("open", "rtnetlink");
  struct req r = {0};
  body(&r, sizeof(struct ifinfomsg));
  attr(&r, IFLA_IFNAME, name, strlen(name) + 1);
  int rc = talk(fd, &r, RTM_DELLINK, 0) < 0 && errno != ENODEV ? fail("delete the link", name) : 0;
  close(fd);
  return rc;
}
