#!/bin/sh
# ctl-apply against GNU `tar -xzf` on the same synthetic gzip layer (~100 MB uncompressed in
# ~5,000 files: nested dirs, sizes from a few bytes to 8 MiB, half of the content random and half
# text-like, from a fixed seed so every run builds the same bytes), both extracting into a fresh
# directory each run: on a tmpfs, then on the ext4 disk under /var/tmp. Prints medians and the
# ratio ctl-apply / tar.
#
# The ext4 here has no journal and gets slower as it accumulates deletions, so on ext4 the two
# contenders alternate: ROUNDS hyperfine rounds of 3 runs each, tar first in odd rounds and
# ctl-apply first in even ones; the medians are over all rounds.
#
# Usage: tools/bench/layer-apply.sh [ROUNDS]   (root for the tmpfs mount; build packages/runtime-native first)
set -eu
ROUNDS=${1:-4}
HERE=$(cd "$(dirname "$0")" && pwd)
APPLY=${CTL_APPLY:-$HERE/../../packages/runtime-native/build/Release/ctl-apply}
for b in hyperfine python3 gzip tar; do
  command -v "$b" >/dev/null || { echo "layer-apply.sh: $b is not installed" >&2; exit 1; }
done
[ -x "$APPLY" ] || { echo "layer-apply.sh: $APPLY is missing: npm run build in packages/runtime-native" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "layer-apply.sh: needs root" >&2; exit 1; }

WORK=$(mktemp -d /var/tmp/ctl-bench-layer.XXXXXX)
TMPFS=$WORK/tmpfs
cleanup() {
  mountpoint -q "$TMPFS" 2>/dev/null && umount "$TMPFS"
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

python3 - "$WORK/layer.tar" <<'PY'
import io, random, sys, tarfile
rng = random.Random(20240601)
words = [bytes(rng.choice(b'abcdefghijklmnopqrstuvwxyz') for _ in range(rng.randint(2, 9))) for _ in range(2000)]
def text(n):
    out = bytearray()
    while len(out) < n:
        out += rng.choice(words) + (b'\n' if rng.random() < 0.1 else b' ')
    return bytes(out[:n])
def size():
    r = rng.random()
    if r < 0.70: return rng.randint(0, 8 << 10)
    if r < 0.95: return rng.randint(8 << 10, 64 << 10)
    if r < 0.995: return rng.randint(64 << 10, 1 << 20)
    return rng.randint(2 << 20, 8 << 20)
dirs = ['usr', 'usr/lib', 'usr/share', 'etc', 'var/lib']
with tarfile.open(sys.argv[1], 'w', format=tarfile.PAX_FORMAT) as tf:
    def add_dir(d):
        ti = tarfile.TarInfo(d); ti.type = tarfile.DIRTYPE; ti.mode = 0o755; ti.mtime = 1700000000
        tf.addfile(ti)
    for d in ['usr', 'usr/lib', 'usr/share', 'etc', 'var', 'var/lib']: add_dir(d)
    total = 0; n = 0
    while n < 5000:
        if rng.random() < 0.04:
            d = rng.choice(dirs) + '/d%d' % len(dirs); dirs.append(d); add_dir(d); continue
        s = size()
        if total + s > 100_000_000: s = rng.randint(0, 4096)
        data = rng.randbytes(s) if rng.random() < 0.5 else text(s)
        ti = tarfile.TarInfo('%s/f%d' % (rng.choice(dirs), n)); ti.size = s; ti.mtime = 1700000000
        ti.mode = 0o755 if rng.random() < 0.1 else 0o644
        tf.addfile(ti, io.BytesIO(data)); total += s; n += 1
    print('layer: %d files, %d dirs, %.1f MB of file data' % (n, len(dirs), total / 1e6), file=sys.stderr)
PY
gzip -6 -n "$WORK/layer.tar"
L=$WORK/layer.tar.gz
echo "gzip layer: $(du -m "$L" | cut -f1) MB compressed" >&2

mkdir -p "$TMPFS"
mount -t tmpfs -o size=2g tmpfs "$TMPFS"

# hyperfine JSON files -> "median_ctl median_tar ratio"
summarise() {
  python3 - "$@" <<'PY'
import json, statistics, sys
times = {'ctl-apply': [], 'tar -xzf': []}
for f in sys.argv[1:]:
    for r in json.load(open(f))['results']:
        times[r['command']] += r['times']
c, t = statistics.median(times['ctl-apply']), statistics.median(times['tar -xzf'])
print('ctl-apply %.3f s  tar -xzf %.3f s  ratio %.2f  (medians of %d and %d runs)' % (c, t, c / t, len(times['ctl-apply']), len(times['tar -xzf'])))
PY
}

run_round() {  # DIR FIRST OUT
  dir=$1 first=$2 out=$3
  ctl="-n ctl-apply --prepare 'rm -rf $dir/c && mkdir $dir/c' '$APPLY --whiteouts remove --target $dir/c --input $L'"
  tar="-n 'tar -xzf' --prepare 'rm -rf $dir/t && mkdir $dir/t' 'tar -xzf $L -C $dir/t'"
  if [ "$first" = tar ]; then order="$tar $ctl"; else order="$ctl $tar"; fi
  eval hyperfine --style basic --warmup 1 --runs 3 --export-json "$out" $order >/dev/null
  rm -rf "$dir/c" "$dir/t"
}

echo "tmpfs ($TMPFS):"
run_round "$TMPFS" tar "$WORK/tmpfs-1.json"
run_round "$TMPFS" ctl "$WORK/tmpfs-2.json"
summarise "$WORK"/tmpfs-*.json

EXT4=$WORK/ext4
mkdir -p "$EXT4"
echo "ext4 ($EXT4, contenders alternating, $ROUNDS rounds):"
i=1
while [ "$i" -le "$ROUNDS" ]; do
  if [ $((i % 2)) = 1 ]; then first=tar; else first=ctl; fi
  run_round "$EXT4" "$first" "$WORK/ext4-$i.json"
  i=$((i + 1))
done
summarise "$WORK"/ext4-*.json
