#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "unix_path.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int unix_path_address(const char *path, struct sockaddr_un *a) {
  memset(a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  size_t len = strlen(path);
  if (len < sizeof a->sun_path) {
    memcpy(a->sun_path, path, len + 1);
    return -2;
  }
  const char *slash = strrchr(path, '/');
  if (!slash || strlen(slash + 1) + sizeof "/proc/self/fd/2147483647/" > sizeof a->sun_path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  char dir[4096];
  size_t dlen = slash == path ? 1 : (size_t)(slash - path);
  if (dlen >= sizeof dir) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(dir, path, dlen);
  dir[dlen] = 0;
  int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return -1;
  snprintf(a->sun_path, sizeof a->sun_path, "/proc/self/fd/%d/%s", dfd, slash + 1);
  return dfd;
}
