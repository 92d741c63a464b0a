#!/usr/bin/env bash
# Runs the benchmark harness on a machine that has no Node and no network (the 16-core device
# machine some tasks are lent; see DEVELOPERS.md). Two steps:
#
#   bench/device.sh pack          here: writes .dev/node.xz (this Node binary) and
#                                 .dev/bench-deps.tar.xz (dist/, the built addon, and the
#                                 node_modules the harness imports). .dev/ is git-ignored locally.
#   bench/device.sh run [ARGS]    there, in the copied repository root: unpacks both, then runs
#                                 `node bench/run.mjs ARGS` and, where $OUT is set, copies the
#                                 results JSON and the table there.
#
# The harness itself runs unchanged: primesieve is absent there, and a missing anchor is a
# "skipped" row. Only x86-64 Linux builds travel (the device machine is x86-64).
set -euo pipefail
cd "$(dirname "$0")/.."

# What the harness needs at run time besides the tracked sources. The peers have no dependencies
# of their own except piscina's optional @napi-rs/nice (thread priorities), taken where present.
DEPS=(dist build/Release/spindle.node node_modules/piscina node_modules/tinypool node_modules/workerpool)
OPTIONAL_DEPS=(node_modules/@napi-rs/nice node_modules/@napi-rs/nice-linux-x64-gnu)

pack() {
  for p in "${DEPS[@]}"; do
    [[ -e $p ]] || { echo "device.sh: $p is missing: build first (npm run build:native, npm run build:ts)" >&2; exit 1; }
  done
  mkdir -p .dev
  grep -qxF '.dev/' .git/info/exclude 2>/dev/null || echo '.dev/' >> .git/info/exclude
  local extra=()
  for p in "${OPTIONAL_DEPS[@]}"; do [[ -e $p ]] && extra+=("$p"); done
  xz -T0 -6 -c "$(command -v node)" > .dev/node.xz
  tar -cf - "${DEPS[@]}" "${extra[@]}" | xz -T0 -6 > .dev/bench-deps.tar.xz
  du -h .dev/node.xz .dev/bench-deps.tar.xz
  echo "carry [\".dev\"] and run: bash bench/device.sh run [--quick] [--only=...]"
}

# xz may be missing on a bare image; Python's lzma module decompresses the same format.
unxz_to() {
  if command -v xz > /dev/null; then xz -dc "$1" > "$2"; else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"; fi
}

run() {
  [[ -f .dev/node.xz && -f .dev/bench-deps.tar.xz ]] || { echo "device.sh: .dev/ is missing: run 'bench/device.sh pack' here and carry .dev" >&2; exit 1; }
  mkdir -p /tmp/spindle-node
  unxz_to .dev/node.xz /tmp/spindle-node/node
  chmod +x /tmp/spindle-node/node
  export PATH="/tmp/spindle-node:$PATH"
  unxz_to .dev/bench-deps.tar.xz /tmp/spindle-bench-deps.tar
  tar -xf /tmp/spindle-bench-deps.tar # into the repository root: dist/, build/, node_modules/
  echo "== node $(node --version), $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  local status=0
  node bench/run.mjs "$@" | tee /tmp/spindle-bench-table.md || status=$?
  if [[ -n ${OUT:-} ]]; then
    cp bench/results/latest.json "$OUT/latest.json" 2> /dev/null || true
    cp /tmp/spindle-bench-table.md "$OUT/table.md"
  fi
  return "$status"
}

case "${1:-}" in
  pack) pack ;;
  run) shift; run "$@" ;;
  *) echo "usage: bench/device.sh pack | run [bench/run.mjs arguments]" >&2; exit 2 ;;
esac
