/* Unix socket addresses for paths of any length (sun_path holds 107 bytes; a bundle under a long
 * namespace and container id is longer). */
#ifndef CTL_UNIX_PATH_H
#define CTL_UNIX_PATH_H

#include <sys/un.h>

/* Fills a for path. A path too long for sun_path is reached through its directory, opened here:
 * "/proc/self/fd/N/<name>" (the kernel resolves the directory by its fd). Returns that fd, to
 * close once bind or connect is done, or -2 when none was needed; -1 with errno on failure. */
int unix_path_address(const char *path, struct sockaddr_un *a);

#endif
