#!/usr/bin/env bash
# Builds the release wasm and its JS bindings, and prints where they are.
#   1. cargo build --target wasm32-unknown-unknown --release
#      -> <target-dir>/wasm32-unknown-unknown/release/tabmq.wasm
#   2. wasm-bindgen --target web --out-dir www/pkg   (one build for browsers and Node)
#      -> www/pkg/tabmq.js, www/pkg/tabmq_bg.wasm, www/pkg/tabmq.d.ts
# Installs the wasm32 target and the pinned wasm-bindgen CLI first if missing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# www/shared/host.js imports ../pkg/tabmq.js.
OUT_DIR=www/pkg

bash scripts/ensure-toolchain.sh wasm-target wasm-bindgen
CARGO_BIN="${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}/bin"
export PATH="$CARGO_BIN:$PATH"

cargo build --target wasm32-unknown-unknown --release

target_dir=$(cargo metadata --format-version 1 --no-deps |
  node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.parse(s).target_directory))')
raw="$target_dir/wasm32-unknown-unknown/release/tabmq.wasm"
[[ -f "$raw" ]] || { echo "build-wasm: $raw was not produced" >&2; exit 1; }

rm -rf "$OUT_DIR"
wasm-bindgen --target web --out-dir "$OUT_DIR" "$raw"

# Optimise with wasm-opt from the npm `binaryen` package (Debian's binaryen
# 108 emits modules that fail to load: never that one). Skipped, with a
# note, when the npm package is not installed yet.
WASM_OPT=node_modules/binaryen/bin/wasm-opt
if [[ -x "$WASM_OPT" ]]; then
  # -Oz until it stops shrinking (--converge: another ~0.3 KB), and no
  # producers section (which toolchain built it: not needed to run).
  "$WASM_OPT" -Oz --converge --strip-producers \
    --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-reference-types --enable-mutable-globals \
    "$OUT_DIR/tabmq_bg.wasm" -o "$OUT_DIR/tabmq_bg.wasm"
else
  echo "build-wasm: $WASM_OPT not found (npm packages not installed): wasm left unoptimised" >&2
fi

size() { printf '%s bytes, %s gzipped' "$(wc -c <"$1" | tr -d ' ')" "$(gzip -9c "$1" | wc -c | tr -d ' ')"; }
echo
echo "tabmq wasm (release):"
echo "  module:   $raw ($(size "$raw"))"
echo "  bindings: $OUT_DIR/tabmq.js + $OUT_DIR/tabmq_bg.wasm ($(size "$OUT_DIR/tabmq_bg.wasm"))"
