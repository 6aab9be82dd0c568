{
  # Plain executables: the runtime must start without Node. Two Node addons: ctl_xattr.node for
  # the build's tree walks (Node has no xattr calls), ctl_socket.node for the command line's
  # connections to the daemon; nothing of the runtime loads them.
  "target_defaults": {
    "cflags!": ["-O3", "-fno-omit-frame-pointer"],
    "cflags": ["-O2", "-Wall", "-Wno-format-truncation", "-std=gnu11"],
    "ldflags": ["-Wl,--as-needed"],
  },
  "targets": [
    {
      "target_name": "ctl-runtime",
      "type": "executable",
      # every file of the runtime uses GNU extensions (unshare, setns, pipe2, ...)
      "defines": ["_GNU_SOURCE"],
      "sources": [
        "src/native/main.c",
        "src/native/util.c",
        "src/native/error.c",
        "src/native/spec.c",
        "src/native/json.c",
        "src/native/state.c",
        "src/native/namespaces.c",
        "src/native/mounts.c",
        "src/native/mount_options.c",
        "src/native/cgroups.c",
        "src/native/cgroups_stats.c",
        "src/native/cgroups_resources.c",
        "src/native/caps.c",
        "src/native/seccomp.c",
        "src/native/process.c",
        "src/native/spawn.c",
        "src/native/sync.c",
        "src/native/create.c",
        "src/native/start.c",
        "src/native/kill.c",
        "src/native/delete.c",
        "src/native/exec.c",
        "src/native/ops.c",
        "src/native/hooks.c",
        "src/native/clock.c",
        "src/native/loopback.c",
        "src/native/unix_path.c"
      ],
      "cflags": ["<!@(pkg-config --cflags libseccomp jansson)"],
      "libraries": ["<!@(pkg-config --libs libseccomp jansson)"],
      # static: it is exec'd three times per container (create, start, delete), and the dynamic
      # loader's work on libseccomp, libjansson and libc was 0.2 of its 0.7 ms per exec
      "ldflags": ["-static"]
    },
    {
      "target_name": "ctl-shim",
      "type": "executable",
      "sources": ["src/native/shim.c", "src/native/clock.c", "src/native/unix_path.c"],
      # static: no shared-library pages to map, which keeps the resident size per shim near 0.6 MiB
      "ldflags": ["-static"]
    },
    {
      # runs short commands for the daemon, which should not fork itself (see launch.c)
      "target_name": "ctl-launch",
      "type": "executable",
      # with ctl-netns's and ctl-mount's operations, which it runs itself, and ctl-apply's, which it
      # runs in a forked child without exec (see launch.c)
      "sources": [
        "src/native/launch.c", "src/native/parent_death.c", "src/native/netns.c", "src/native/netns_veth.c", "src/native/loopback.c",
        "src/native/mount_tool.c", "src/native/mount_options.c",
        "src/native/apply.c", "src/native/apply_core.c", "src/native/apply_writers.c", "src/native/apply_common.c"
      ],
      "cflags": ["<!@(pkg-config --cflags libarchive libcrypto libisal)"],
      "libraries": ["<!@(pkg-config --libs libarchive libcrypto libisal)", "-lpthread"]
    },
    {
      # a container's network namespace pinned on a file, made and removed (see netns.c);
      # static: it runs once per container start and stop, so no shared libraries to load
      "target_name": "ctl-netns",
      "type": "executable",
      "sources": ["src/native/netns_main.c", "src/native/netns.c", "src/native/netns_veth.c", "src/native/loopback.c"],
      "ldflags": ["-static"]
    },
    {
      # a rootfs mounted and unmounted with mount(2) (see mount_tool.c); static, as ctl-netns
      "target_name": "ctl-mount",
      "type": "executable",
      "sources": ["src/native/mount_main.c", "src/native/mount_tool.c", "src/native/mount_options.c"],
      "ldflags": ["-static"]
    },
    {
      # crun on a hybrid cgroup layout (see the file's comment)
      "target_name": "ctl-crun",
      "type": "executable",
      "sources": ["src/native/crun_wrap.c"]
    },
    {
      # OCI layer applier: libarchive for tar/zstd, ISA-L (igzip) for gzip, libcrypto for sha256
      "target_name": "ctl-apply",
      "type": "executable",
      "sources": ["src/native/apply_main.c", "src/native/apply.c", "src/native/apply_core.c", "src/native/apply_writers.c", "src/native/apply_common.c", "src/native/parent_death.c"],
      "cflags": ["<!@(pkg-config --cflags libarchive libcrypto libisal)"],
      "libraries": ["<!@(pkg-config --libs libarchive libcrypto libisal)", "-lpthread"]
    },
    {
      # lgetxattr/llistxattr/lsetxattr/lremovexattr for Node (src/xattr.ts): node_api.h only,
      # from the headers of the Node that builds it (--nodedir), so nothing is downloaded
      "target_name": "ctl_xattr",
      "defines": ["_GNU_SOURCE"],
      "sources": ["src/native/xattr_addon.c", "src/native/napi_errors.c"]
    },
    {
      # a unix socket polled on Node's loop, for the command line's gRPC client (src/socket.ts):
      # node:net would load all of Node's streams at every short command
      "target_name": "ctl_socket",
      "defines": ["_GNU_SOURCE"],
      "sources": ["src/native/socket_addon.c", "src/native/napi_errors.c", "src/native/unix_path.c"]
    },
    {
      # OCI layer differ (overlay upperdir or two trees -> tar layer)
      "target_name": "ctl-diff",
      "type": "executable",
      "sources": ["src/native/diff.c", "src/native/diff_core.c", "src/native/apply_common.c", "src/native/parent_death.c"],
      "cflags": ["<!@(pkg-config --cflags libarchive libcrypto)"],
      "libraries": ["<!@(pkg-config --libs libarchive libcrypto)"]
    }
  ]
}
