#!/usr/bin/env bash
# Idempotent set-up of everything the project needs on a Debian 12 host, as root:
# the Debian packages (runtime deps, interop and benchmark references), the npm workspace
# and the build. It never starts system services.
set -euo pipefail
cd "$(dirname "$0")/.."

# Packages the project uses. Build: gcc, make, python3 and pkg-config (node-gyp builds the C
# runtime). Runtime: busybox-static (test images), iproute2, nftables, btrfs-progs, xfsprogs,
# e2fsprogs (size-limited layers), zstd (zstd layers on export; tests make zstd layers), file,
# tini (its static build is run --init's /sbin/docker-init),
# libseccomp-dev and libjansson-dev (the C runtime links them), libarchive-dev and libssl-dev
# (ctl-apply and ctl-diff link them), libisal-dev (ISA-L's igzip: ctl-apply inflates gzip layers).
# Interop tests and benchmarks: containerd, runc, crun, skopeo, docker-registry (the pull/push
# tests start their own instance on 127.0.0.1; the package's system service is not used),
# containernetworking-plugins with iptables (their bridge's ipMasq and portmap call it: the netd
# bench runs them), hyperfine, iperf3 (netd's bandwidth tests and the throughput benchmarks),
# podman (the run benchmarks' reference: with runc, and on its CNI bridge beside ctl's default
# bridge; Debian's uses containernetworking-plugins), buildah (ctl build's reference: its config and
# history are compared with buildah bud's in the build tests, and the build bench times both). Not here: docker.io, whose docker-proxy the
# throughput bench measures when it is installed (it conflicts with Docker's own docker-ce).
# Lint: clang-format (the C sources' format). Tests: strace (runtime-native's spawn-order test
# delays forks with it to force a message order). Fuzzing (packages/runtime-native/fuzz, built by
# its build.sh): clang-14 and libclang-rt-14-dev (libFuzzer and the ASan/UBSan runtimes).
PACKAGES=(
  gcc make python3 pkg-config
  busybox-static iproute2 nftables btrfs-progs xfsprogs e2fsprogs zstd file tini
  libseccomp-dev libarchive-dev libssl-dev libjansson-dev libisal-dev
  containerd runc crun skopeo docker-registry containernetworking-plugins iptables
  hyperfine iperf3 podman buildah clang-format strace
  clang-14 libclang-rt-14-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages (${missing[*]}); run as root to install them" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # policy-rc.d keeps the packages' maintainer scripts from starting system services.
  policy=/usr/sbin/policy-rc.d
  made_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; made_policy=1
  fi
  trap '[ "$made_policy" = 1 ] && rm -f "$policy"' EXIT
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Some packages enable a unit even with policy-rc.d; stop nothing, just make sure they don't run.
  for svc in containerd docker-registry podman; do
    if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
      echo "setup: note: $svc is running as a system service (not started by us)" >&2
    fi
  done
fi

# npm workspace: lockfile-exact install; no dependency install scripts are needed.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --ignore-scripts
fi

# Build everything (code generation, TypeScript, native code) through nx.
npx nx run-many -t build --output-style=static
