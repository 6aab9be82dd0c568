#!/bin/sh
# Build the libFuzzer harnesses (clang-14, ASan + UBSan) into fuzz/build/. Not part of the normal
# build: run it by hand, or let test/fuzz.test.ts run it. Needs clang-14 and libclang-rt-14-dev.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
native="$here/../src/native"
out="$here/build"
mkdir -p "$out"
CC=${FUZZ_CC:-clang-14}
# -fno-sanitize-recover: a UBSan finding ends the run as a crash instead of a line in the log
CFLAGS="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -std=gnu11 -Wall -Wno-string-plus-int"
LIBS="$(pkg-config --libs libarchive libcrypto libisal) -lpthread"
common="$native/diff_core.c $native/apply_core.c $native/apply_writers.c $native/apply_common.c $here/sandbox.c"
for harness in apply_fuzzer diff_fuzzer; do
  # shellcheck disable=SC2086
  $CC $CFLAGS -o "$out/$harness" "$here/$harness.c" $common $LIBS
  echo "built $out/$harness"
done
