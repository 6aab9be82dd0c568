#!/usr/bin/env bash
# Seeds for the fuzz harnesses, into DIR (default fuzz/seeds, not kept in git; the kept corpus is
# fuzz/corpus/, made from these with libFuzzer's -merge=1). Needs root and a built ctl-diff.
#  - a busybox rootfs as tools/busybox-image.sh lays it out (Debian's busybox-static; the binary cut
#    to 4 KiB so that an input stays small), as a PAX tar from GNU tar and gzip'ed;
#  - layers written by ctl-diff itself from an overlay upperdir with every kind of entry (whiteout,
#    opaque dir, hardlinks, xattrs, symlink, fifo, device), uncompressed, gzip and zstd;
#  - the malicious cases of test/layers-malicious.test.ts (traversal, symlink and hardlink escapes,
#    device nodes, whiteouts, corrupt compression), dumped by that test when CTL_FUZZ_SEEDS names
#    a directory;
#  - huge headers (a PAX path deeper than PATH_MAX, a 60 KiB xattr, a 30,000-byte GNU long name).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
pkg=$here/..
out=${1:-$here/seeds}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

rootfs=$work/rootfs
mkdir -p "$rootfs"/{bin,etc,tmp,root,proc,sys,dev,var/tmp}
chmod 1777 "$rootfs/tmp" "$rootfs/var/tmp"
head -c 4096 /bin/busybox >"$rootfs/bin/busybox"
chmod 755 "$rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$rootfs/etc/passwd"
tar -C "$rootfs" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --format=posix \
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime -cf "$out/busybox-rootfs.tar" .
gzip -n -9 <"$out/busybox-rootfs.tar" >"$out/busybox-rootfs.tar.gz"

upper=$work/upper
mkdir -p "$upper"/{etc,opaque/kept,usr/lib}
echo hello >"$upper/etc/hosts"
ln "$upper/etc/hosts" "$upper/etc/hosts.link"
ln -s usr/lib "$upper/lib"
ln -s ../../outside "$upper/usr/up"
mkfifo "$upper/usr/fifo"
mknod "$upper/usr/null" c 1 3
mknod "$upper/gone" c 0 0
python3 -c 'import os, sys; os.setxattr(sys.argv[1], "trusted.overlay.opaque", b"y"); os.setxattr(sys.argv[2], "user.note", b"a value")' \
  "$upper/opaque" "$upper/etc/hosts"
chmod 4755 "$upper/usr/lib"
chown 1000:1000 "$upper/opaque/kept"
touch -d @1700000000.123456789 "$upper/etc/hosts"
for c in none gzip zstd; do
  "$pkg/build/Release/ctl-diff" --upper "$upper" --mode overlay --compression "$c" --output "$out/ctl-diff-$c.layer" >/dev/null
done

# huge headers: a PAX path of 40,000 bytes (deeper than PATH_MAX), a 60 KiB xattr, a GNU long name
python3 - "$out" <<'PY'
import io, sys, tarfile
def entry(tf, name, data=b'', **pax):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.pax_headers = pax
    tf.addfile(ti, io.BytesIO(data))
with open(sys.argv[1] + '/huge-headers.tar', 'wb') as f:
    tf = tarfile.open(fileobj=f, mode='w', format=tarfile.PAX_FORMAT)
    entry(tf, 'd/' * 20000 + 'deep', b'x')
    entry(tf, 'big-xattr', b'y', **{'SCHILY.xattr.user.big': 'v' * 61440})
    tf.close()
with open(sys.argv[1] + '/gnu-longname.tar', 'wb') as f:
    tf = tarfile.open(fileobj=f, mode='w', format=tarfile.GNU_FORMAT)
    entry(tf, 'n' * 200 + '/' + 'm' * 30000, b'z')
    tf.close()
PY

(cd "$pkg" && CTL_FUZZ_SEEDS=$out npx mocha --config ../../.mocharc.json dist/test/layers-malicious.test.js >/dev/null)
echo "seeds in $out: $(find "$out" -type f | wc -l) files, $(du -sh "$out" | cut -f1)"
