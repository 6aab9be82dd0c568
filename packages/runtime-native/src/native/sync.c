/* The parent <-> child protocol of create and exec: fixed-size messages over a SOCK_SEQPACKET
 * socketpair, so one send is one message and a dead peer reads as EOF. */
#include "sync.h"
#include "error.h"
#include <unistd.h>
#include <sys/socket.h>

int sync_send(int fd, int type, pid_t pid, const struct ctl_err *err) {
  struct sync_msg m = {.type = type, .pid = pid};
  if (err) m.err = *err;
  for (;;) {
    ssize_t w = send(fd, &m, sizeof m, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    return w == (ssize_t)sizeof m ? 0 : -1;
  }
}

int sync_recv(int fd, struct sync_msg *m, int flags) {
  for (;;) {
    ssize_t r = recv(fd, m, sizeof *m, flags);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    if (r == 0) return 0;
    if (r != (ssize_t)sizeof *m) return -1;
    return 1;
  }
}

void sync_child_fail(int fd, struct ctl_err *e) {
  sync_send(fd, SYNC_ERROR, getpid(), e);
  _exit(1);
}
