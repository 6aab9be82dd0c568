#!/usr/bin/env bash
# Builds a small busybox OCI image archive (an OCI image layout in a tar, as `skopeo copy
# oci-archive:` writes it) from Debian's busybox-static: the binary, its applet links, and
# `sh` as the default command. Reproducible: the same busybox gives the same digests.
#
#   tools/busybox-image.sh OUT.tar [NAME]      NAME defaults to docker.io/library/busybox:latest
#
# VOLUMES="/data /cache" declares those paths as the image's Volumes, each holding a file
# `seed` ("from the image"), for tests of anonymous volumes and their copy-up.
set -euo pipefail
out=${1:?usage: busybox-image.sh OUT.tar [NAME]}
name=${2:-docker.io/library/busybox:latest}
busybox=${BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || { echo "busybox-image: $busybox not found (apt-get install busybox-static)" >&2; exit 1; }
file -L "$busybox" 2>/dev/null | grep -q 'statically linked' || ldd "$busybox" 2>&1 | grep -q 'not a dynamic' \
  || { echo "busybox-image: $busybox is not statically linked" >&2; exit 1; }

case "$(uname -m)" in
  x86_64) arch=amd64 ;;
  aarch64) arch=arm64 ;;
  *) arch=$(uname -m) ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs
mkdir -p "$rootfs"/{bin,etc,tmp,root,proc,sys,dev,var/tmp}
chmod 1777 "$rootfs/tmp" "$rootfs/var/tmp"
cp "$busybox" "$rootfs/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
done
volumes_json=
for v in ${VOLUMES:-}; do
  mkdir -p "$rootfs$v"
  echo 'from the image' >"$rootfs$v/seed"
  volumes_json="$volumes_json${volumes_json:+,}\"$v\":{}"
done
[ -z "$volumes_json" ] || volumes_json=",\"Volumes\":{$volumes_json}"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"

blobs=$work/layout/blobs/sha256
mkdir -p "$blobs"
put() { # stores stdin as a blob, prints its digest hex
  local tmp=$work/blob.tmp hex
  cat >"$tmp"
  hex=$(sha256sum "$tmp" | cut -d' ' -f1)
  mv "$tmp" "$blobs/$hex"
  echo "$hex"
}

tar -C "$rootfs" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --format=posix \
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime -cf "$work/layer.tar" .
diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
layer=$(gzip -n -9 <"$work/layer.tar" | put)
layer_size=$(stat -c %s "$blobs/$layer")

config=$(printf '{"architecture":"%s","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"],"WorkingDir":"/"%s},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created_by":"tools/busybox-image.sh","comment":"busybox-static from Debian"}]}' "$arch" "$volumes_json" "$diff_id" | put)
config_size=$(stat -c %s "$blobs/$config")

manifest=$(printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
  "$config" "$config_size" "$layer" "$layer_size" | put)
manifest_size=$(stat -c %s "$blobs/$manifest")

tag=${name##*:}
[ "$tag" = "$name" ] && tag=latest
printf '{"imageLayoutVersion":"1.0.0"}' >"$work/layout/oci-layout"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"%s","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
  "$manifest" "$manifest_size" "$arch" "$name" "$tag" >"$work/layout/index.json"

tar -C "$work/layout" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$out" oci-layout index.json blobs
echo "$out: $name sha256:$manifest"
