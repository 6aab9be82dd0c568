#!/bin/sh
# After the whole suite: the engine's parent cgroup (/ctl in each hierarchy) that the suites'
# containers were made under, once it is empty. Suites remove their own /ctl/<namespace>, but
# not /ctl itself while other suites may still be creating containers beside them (removing it
# under a running create makes the kernel refuse that container's cpuset). rmdir only removes
# an empty cgroup, so an engine that has containers running is left alone.
for d in /sys/fs/cgroup/*/ctl; do
  [ -d "$d" ] && rmdir "$d" 2>/dev/null
done
exit 0
