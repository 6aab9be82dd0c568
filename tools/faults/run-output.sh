#!/bin/bash
# Output of short foreground runs must never be lost (issue 11): runs `ctl run --rm IMAGE echo ok`
# N times, P at a time, in an instance of its own, and counts the runs whose output was not
# exactly "ok" (or whose exit code was not 0). Usage:
#   tools/faults/run-output.sh [N=100] [P=10] [IMAGE-ARCHIVE (default: made by tools/busybox-image.sh)]
# Environment: CTL (the ctl binary; default this checkout's), KEEP=1 to keep the instance dir.
set -euo pipefail
N=${1:-100}
P=${2:-10}
HERE=$(cd "$(dirname "$0")/../.." && pwd)
CTL=${CTL:-$HERE/node_modules/.bin/ctl}
WORK=$(mktemp -d /tmp/ctl-run-output.XXXXXX)
ctl() { "$CTL" --root "$WORK/root" --state "$WORK/state" "$@"; }
cleanup() {
  ctl ps -a -q 2>/dev/null | xargs -r "$CTL" --root "$WORK/root" --state "$WORK/state" rm -f >/dev/null 2>&1 || true
  local pid
  pid=$(grep -o '"daemon ready"[^}]*"pid":[0-9]*' "$WORK/state/daemon.log" 2>/dev/null | grep -o '[0-9]*$' | tail -1 || true)
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  [ "${KEEP:-}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT
ARCHIVE=${3:-$WORK/busybox.tar}
[ -f "$ARCHIVE" ] || bash "$HERE/tools/busybox-image.sh" "$ARCHIVE" >/dev/null
ctl image import "$ARCHIVE" >/dev/null
one() {
  local out code=0
  out=$(ctl run --rm busybox echo ok 2>&1) || code=$?
  if [ "$out" = ok ] && [ "$code" = 0 ]; then echo good; else printf 'bad exit=%s output=%q\n' "$code" "$out"; fi
}
export -f one ctl
export CTL WORK
seq "$N" | xargs -P "$P" -I{} bash -c one >"$WORK/results"
bad=$(grep -c '^bad' "$WORK/results" || true)
grep '^bad' "$WORK/results" | sort | uniq -c | head -5 || true
echo "runs=$N parallel=$P lost=$bad"
[ "$bad" = 0 ]
