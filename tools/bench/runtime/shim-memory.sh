#!/bin/sh
# Resident memory per container shim: N sleeping containers under ctl-shim (+ ctl-runtime) versus
# N under Debian's containerd with containerd-shim-runc-v2 (+ runc), on private paths.
# Reads Rss and Pss of each shim from /proc/PID/smaps_rollup and prints the averages.
#
# Usage: tools/bench/runtime/shim-memory.sh [N]     (needs root; build packages/runtime-native first)
set -eu
N=${1:-10}
HERE=$(cd "$(dirname "$0")" && pwd)
PKG=$HERE/../../../packages/runtime-native
CTL=$PKG/build/Release/ctl-runtime
SHIM=$PKG/build/Release/ctl-shim
[ -x "$CTL" ] && [ -x "$SHIM" ] || { echo "shim-memory.sh: build packages/runtime-native first" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "shim-memory.sh: needs root" >&2; exit 1; }

WORK=$(mktemp -d /tmp/ctl-bench-shim.XXXXXX)
CD_PID=
# runc leaves containerd's namespace cgroup (/default) behind: remove it after, if we made it
HAD_DEFAULT_CG=$(ls -d /sys/fs/cgroup/*/default 2>/dev/null | head -1)
cleanup() {
  for d in "$WORK"/ctl/*/; do
    [ -d "$d" ] && "$CTL" --root "$WORK/state" delete --force "$(basename "$d")" >/dev/null 2>&1 || true
  done
  if [ -n "$CD_PID" ]; then
    for i in $(seq 1 "$N"); do
      ctr -a "$WORK/cd.sock" task kill -s KILL "m$i" >/dev/null 2>&1 || true
    done
    sleep 0.5
    for i in $(seq 1 "$N"); do
      ctr -a "$WORK/cd.sock" task delete -f "m$i" >/dev/null 2>&1 || true
      ctr -a "$WORK/cd.sock" container rm "m$i" >/dev/null 2>&1 || true
    done
    kill "$CD_PID" 2>/dev/null || true
    wait "$CD_PID" 2>/dev/null || true
    [ -n "$HAD_DEFAULT_CG" ] || for d in /sys/fs/cgroup/*/default; do [ -d "$d" ] && rmdir "$d" 2>/dev/null || true; done
  fi
  grep " $WORK" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do umount -l "$m"; done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

kb() { awk -v f="$2" '$1 == f":" {print $2}' "/proc/$1/smaps_rollup"; }
report() { # name pids...
  name=$1; shift
  rss=0; pss=0; n=0
  for p in "$@"; do rss=$((rss + $(kb "$p" Rss))); pss=$((pss + $(kb "$p" Pss))); n=$((n + 1)); done
  printf '  %-34s %2d shims   Rss %6d kB avg   Pss %6d kB avg\n' "$name" "$n" $((rss / n)) $((pss / n))
}

# a busybox rootfs, shared
R=$WORK/rootfs
mkdir -p "$R/bin" "$R/proc" "$R/sys" "$R/dev" "$R/tmp" "$R/etc" "$R/run"
cp "$(command -v busybox)" "$R/bin/busybox"
for a in $("$R/bin/busybox" --list); do [ "$a" = busybox ] || ln -s busybox "$R/bin/$a"; done

# --- ctl-shim + ctl-runtime
mkdir -p "$WORK/ctl"
CTL_SHIMS=
for i in $(seq 1 "$N"); do
  B=$WORK/ctl/s$i
  mkdir -p "$B"
  (cd "$B" && runc spec)
  sed -i "s|\"terminal\": true|\"terminal\": false|; s|\"sh\"$|\"sleep\", \"1000\"|; s|\"path\": \"rootfs\"|\"path\": \"$R\"|" "$B/config.json"
  "$SHIM" --state-dir "$B" --pid-file "$B/init.pid" --log "$B/container.log" -- \
    "$CTL" --root "$WORK/state" create --bundle "$B" --pid-file "$B/init.pid" "s$i" >/dev/null
  "$CTL" --root "$WORK/state" start "s$i"
  CTL_SHIMS="$CTL_SHIMS $(awk '{print $4}' "/proc/$(cat "$B/init.pid")/stat")"
done
echo "resident memory per shim, $N sleeping containers each:"
# shellcheck disable=SC2086
report "ctl-shim (static C)" $CTL_SHIMS

# --- containerd-shim-runc-v2 + runc under a private containerd
command -v containerd >/dev/null && command -v ctr >/dev/null || { echo "  (containerd not installed: no comparison)"; exit 0; }
IMG=$WORK/img
mkdir -p "$IMG/blobs/sha256"
tar -C "$R" -cf "$WORK/layer.tar" .
put() { d=$(sha256sum "$1" | cut -d' ' -f1); cp "$1" "$IMG/blobs/sha256/$d"; echo "$d $(stat -c %s "$1")"; }
set -- $(put "$WORK/layer.tar"); L=$1; LS=$2
printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$L" >"$WORK/config.json"
set -- $(put "$WORK/config.json"); C=$1; CS=$2
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' "$C" "$CS" "$L" "$LS" >"$WORK/manifest.json"
set -- $(put "$WORK/manifest.json"); M=$1; MS=$2
echo '{"imageLayoutVersion":"1.0.0"}' >"$IMG/oci-layout"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"docker.io/library/busybox:ctl-bench"}}]}' "$M" "$MS" >"$IMG/index.json"
tar -C "$IMG" -cf "$WORK/busybox.tar" .
cat >"$WORK/config.toml" <<TOML
version = 2
root = "$WORK/cd-root"
state = "$WORK/cd-state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$WORK/cd.sock"
[ttrpc]
  address = "$WORK/cd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
TOML
containerd --config "$WORK/config.toml" >"$WORK/containerd.log" 2>&1 &
CD_PID=$!
i=0; while [ ! -S "$WORK/cd.sock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
ctr -a "$WORK/cd.sock" images import "$WORK/busybox.tar" >/dev/null
CD_SHIMS=
for i in $(seq 1 "$N"); do
  ctr -a "$WORK/cd.sock" run -d --runc-root "$WORK/runc" docker.io/library/busybox:ctl-bench "m$i" sleep 1000
  pid=$(ctr -a "$WORK/cd.sock" task ls | awk -v id="m$i" '$1 == id {print $2}')
  CD_SHIMS="$CD_SHIMS $(awk '{print $4}' "/proc/$pid/stat")"
done
# shellcheck disable=SC2086
report "containerd-shim-runc-v2 (Go)" $CD_SHIMS
