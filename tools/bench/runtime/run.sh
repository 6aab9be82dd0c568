#!/bin/sh
# Whole-process `run` of one bundle (busybox rootfs, process /bin/true, config from `runc spec`)
# with ctl-runtime, Debian's runc and Debian's crun, timed by hyperfine; prints medians and ratios.
#
# crun refuses this host's hybrid cgroup layout (v1 controllers + a v2 mount at
# /sys/fs/cgroup/unified), so every runtime is timed through the same wrapper: a private mount
# namespace without that v2 mount. ctl-runtime and runc are also timed directly (hybrid layout).
#
# Usage: tools/bench/runtime/run.sh [RUNS]     (needs root; build packages/runtime-native first)
set -eu
RUNS=${1:-100}
HERE=$(cd "$(dirname "$0")" && pwd)
CTL=${CTL_RUNTIME:-$HERE/../../../packages/runtime-native/build/Release/ctl-runtime}
for b in hyperfine runc crun unshare busybox python3; do
  command -v "$b" >/dev/null || { echo "run.sh: $b is not installed" >&2; exit 1; }
done
[ -x "$CTL" ] || { echo "run.sh: $CTL is missing: npm run build in packages/runtime-native" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "run.sh: needs root" >&2; exit 1; }

WORK=$(mktemp -d /tmp/ctl-bench-runtime.XXXXXX)
cleanup() {
  for r in crun runc ctl ctl-direct runc-direct; do
    [ -d "$WORK/root-$r" ] || continue
    for id in $(ls "$WORK/root-$r"); do
      case $r in crun) crun --root "$WORK/root-$r" delete -f "$id" ;; runc*) runc --root "$WORK/root-$r" delete -f "$id" ;; *) "$CTL" --root "$WORK/root-$r" delete --force "$id" ;; esac >/dev/null 2>&1 || true
    done
  done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

B=$WORK/bundle
mkdir -p "$B/rootfs/bin" "$B/rootfs/proc" "$B/rootfs/sys" "$B/rootfs/dev" "$B/rootfs/tmp"
cp "$(command -v busybox)" "$B/rootfs/bin/busybox"
ln -s busybox "$B/rootfs/bin/true"
ln -s busybox "$B/rootfs/bin/sh"
(cd "$B" && runc spec)
sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"\/bin\/true"/' "$B/config.json"
grep -q '"/bin/true"' "$B/config.json" || { echo "run.sh: could not set process.args" >&2; exit 1; }

wrap() { # $1 = runtime command line (root, run, bundle, id)
  echo "unshare -m sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec $1'"
}
# check each works once before timing
for cmd in "crun --root $WORK/root-crun run --bundle $B bench" "runc --root $WORK/root-runc run --bundle $B bench" \
  "$CTL --root $WORK/root-ctl run --bundle $B bench"; do
  sh -c "$(wrap "$cmd")" || { echo "run.sh: failed: $cmd" >&2; exit 1; }
done

hyperfine -N --warmup 10 --runs "$RUNS" --export-json "$WORK/result.json" \
  -n "crun (wrapped)" "$(wrap "crun --root $WORK/root-crun run --bundle $B bench")" \
  -n "runc (wrapped)" "$(wrap "runc --root $WORK/root-runc run --bundle $B bench")" \
  -n "ctl-runtime (wrapped)" "$(wrap "$CTL --root $WORK/root-ctl run --bundle $B bench")" \
  -n "runc (direct)" "runc --root $WORK/root-runc-direct run --bundle $B bench" \
  -n "ctl-runtime (direct)" "$CTL --root $WORK/root-ctl-direct run --bundle $B bench" >&2

python3 - "$WORK/result.json" <<'PY'
import json, sys
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
med = {k: v["median"] * 1000 for k, v in res.items()}
print("\nwhole-process run of /bin/true, median ms (%d runs each)" % len(res["crun (wrapped)"]["times"]))
for k, v in med.items():
    print("  %-24s %7.2f ms" % (k, v))
ctl, runc, crun = med["ctl-runtime (wrapped)"], med["runc (wrapped)"], med["crun (wrapped)"]
print("\nratios (same wrapper):")
print("  ctl-runtime / runc  = %.2f   (target < 1.00: %s)" % (ctl / runc, "met" if ctl < runc else "NOT met"))
print("  ctl-runtime / crun  = %.2f   (target <= 1.50: %s)" % (ctl / crun, "met" if ctl <= 1.5 * crun else "NOT met"))
print("  direct: ctl-runtime / runc = %.2f" % (med["ctl-runtime (direct)"] / med["runc (direct)"]))
PY
