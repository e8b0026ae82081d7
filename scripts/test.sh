#!/usr/bin/env bash
# `npm test`: every test and lint of tabmq, after installing whatever of the
# toolchain is missing. A failing install step (the first five) stops the run;
# a failing check does not stop the other checks, so one run reports every
# failure. At the end: a summary of all steps with their times and the
# Chromium version the browser steps ran on, and a non-zero exit status if
# any step failed.
#
# Steps:
#   toolchain      rustfmt/clippy components, wasm32-unknown-unknown target
#   wasm-bindgen   the wasm-bindgen CLI, pinned to the wasm-bindgen crate's version
#   npm            npm ci (when node_modules is missing or older than package-lock.json)
#   chromium       Debian's chromium + chromium-driver, when /usr/bin/chromium is missing
#   interop        mosquitto and mosquitto-clients (apt), paho-mqtt (pip): interop tests, bench
#   fmt            cargo fmt --check (and rustfmt --check on fuzz/fuzz_targets)
#   clippy         cargo clippy --all-targets -- -D warnings, and again for wasm32
#                  on the lib, the examples and tests/wasm_bindings.rs
#   lint           ESLint (eslint.config.js) over every JS file, zero warnings
#   types          tsc --noEmit on tests/types/*.ts: typed uses of the published
#                  .d.ts files (README examples, options, handles, errors)
#   cargo-test     cargo test (unit, golden vectors, properties, fuzz corpus replay, doctests)
#   differential   cargo test --test codec_differential -- --include-ignored
#                  (the codec against npm mqtt-packet; skipped while the test file is absent)
#   wasm-build     scripts/build-wasm.sh: release wasm32 build + wasm-bindgen into www/pkg/
#   wasm-imports   build examples/wasm_probe.rs for wasm32, then
#                  scripts/check-wasm-imports.mjs: no module may import from "env",
#                  and the probe must round-trip real MQTT packets byte for byte
#   wasm-test      wasm-bindgen-test in headless Chromium: tests/wasm_bindings.rs, tests/wasm_store.rs
#   node-test      node --test tests/node/*.test.mjs: the Node host over TCP and WebSocket,
#                  interop with mosquitto_pub/sub and Python paho-mqtt, load, the CLI,
#                  the data directory (SQLite: kill -9 crash tests, disk full on tmpfs)
#   browser-test   node --test tests/browser/*.test.mjs: Playwright + MQTT.js + Paho in
#                  Chromium, every broker mode; durable sessions in IndexedDB
#   package-test   npm pack -> a fresh Vite app using the tarball -> Chromium
#   demo-test      the demo (npm start's server) in Chromium, screenshots included
#   bench-smoke    npm run bench:quick: the benchmark runs end to end (numbers printed, not asserted)
#   clean-tree     npm test leaves the checkout as it found it: `git status --porcelain`
#                  (and the content of each file it lists) is the same at the end as at
#                  the start, so a developer's own uncommitted edits are fine but a file
#                  npm test wrote or rewrote is not. Generated files go to git-ignored
#                  places: target/, www/pkg/, node_modules/, bench/.work/,
#                  bench/results/*-quick.*, tests/demo/screenshots/, or the system's tmp.
#                  (Editing the checkout while npm test runs also trips it.)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
CARGO_BIN="${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}/bin"
export PATH="$CARGO_BIN:$PATH"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-auto}"

# ---- the steps -------------------------------------------------------------

step_toolchain() { bash scripts/ensure-toolchain.sh rust-components wasm-target; }
step_wasm_bindgen() { bash scripts/ensure-toolchain.sh wasm-bindgen; }
step_npm() { bash scripts/ensure-toolchain.sh npm; }

step_fmt() {
  cargo fmt --check
  # The fuzz crate is its own workspace (cargo-fuzz needs nightly and builds
  # libFuzzer), so cargo fmt above does not see it; its sources are still linted.
  local targets=(fuzz/fuzz_targets/*.rs)
  if [[ -e "${targets[0]}" ]]; then
    rustfmt --check --edition "$(crate_edition)" "${targets[@]}"
  fi
}

step_clippy() {
  cargo clippy --all-targets -- -D warnings
  # src/wasm/ only compiles for wasm32, so the host run above never sees it.
  # Only the targets meant for wasm32: the other tests use native-only
  # dev-dependencies.
  local wasm_targets=(--lib --examples --test wasm_bindings --test wasm_store)
  cargo clippy --target wasm32-unknown-unknown "${wasm_targets[@]}" -- -D warnings
}
step_lint() { npx --no-install eslint --max-warnings 0 .; }
step_types() { npx --no-install tsc -p tests/types; }
step_cargo_test() { cargo test; }
step_differential() { cargo test --test codec_differential -- --include-ignored; }
step_wasm_build() { bash scripts/build-wasm.sh; }

step_wasm_imports() {
  local dir
  dir="$(target_dir)/wasm32-unknown-unknown/release"
  build_probe "$dir"
  node scripts/check-wasm-imports.mjs \
    --probe "$dir/examples/wasm_probe.wasm" \
    "$dir/tabmq.wasm" \
    www/pkg/tabmq_bg.wasm
}

step_node_test() { node --test --test-concurrency=1 "${NODE_TESTS[@]}"; }

step_chromium() { bash scripts/ensure-toolchain.sh chromium; }
step_interop() { bash scripts/ensure-interop.sh; }

# The wasm bindings and the IndexedDB store, in headless Chromium.
step_wasm_test() {
  CHROMEDRIVER=/usr/bin/chromedriver \
    CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
    cargo test --target wasm32-unknown-unknown --test wasm_bindings --test wasm_store
}

# Playwright + MQTT.js (and Paho) in real Chromium: the browser host and
# durable sessions in IndexedDB. One file at a time: each drives a browser.
step_browser_test() { node --test --test-concurrency=1 tests/browser/*.test.mjs; }

# npm pack -> a fresh Vite app that depends on the tarball -> Chromium.
step_package_test() { node --test tests/package/*.test.mjs; }

# The demo served as `npm start` serves it, driven in Chromium.
step_demo_test() { node --test tests/demo/*.test.mjs; }

# `npm run bench:quick`: the benchmark's smoke run (small counts). Numbers are
# printed and written to bench/results/, never asserted: it fails only if
# the benchmark itself cannot run.
step_bench_smoke() { node bench/run.mjs --quick; }

# The checkout is as npm test found it (TREE_AT_START, recorded before the
# first step).
step_clean_tree() {
  local now
  now=$(tree_state)
  if [[ "$now" == "$TREE_AT_START" ]]; then
    echo "the checkout is as npm test found it"
    return 0
  fi
  echo "npm test changed the checkout (- before, + after; status, git blob hash, path)." >&2
  echo "What a step writes belongs in a git-ignored folder (see .gitignore):" >&2
  diff -U0 --label 'before npm test' --label 'after npm test' \
    <(printf '%s\n' "$TREE_AT_START") <(printf '%s\n' "$now") | grep '^[-+][^-+]' >&2 || true
  return 1
}

# ---- helpers ---------------------------------------------------------------

# One line per path that `git status --porcelain` lists (untracked files one
# by one): its status, the git hash of its content (- when it is not a file)
# and the path. Paths are relative to the top of the work tree.
tree_state() (
  cd "$(git rev-parse --show-toplevel)"
  git status --porcelain=v1 -z --untracked-files=all | while IFS= read -r -d '' entry; do
    xy=${entry:0:2} path=${entry:3} sum=-
    # -z puts a rename's or copy's source in a field of its own.
    if [[ "$xy" == *[RC]* ]]; then IFS= read -r -d '' _ || true; fi
    if [[ -f "$path" ]]; then sum=$(git hash-object -- "$path"); fi
    printf '%s %s %s\n' "$xy" "$sum" "$path"
  done
)

# The browser the browser steps use, for the summary: results must not depend
# on one Chromium version, so every run says which one it had.
browser_versions() {
  local chromium=${CHROMIUM_PATH:-/usr/bin/chromium} version playwright
  version=$("$chromium" --version 2>/dev/null | head -n 1) || true
  playwright=$(node -p 'require("playwright-core/package.json").version' 2>/dev/null) || true
  echo "${version:-$chromium: not installed} ($chromium), playwright-core ${playwright:-not installed}"
}

crate_edition() { sed -n 's/^edition = "\(.*\)"$/\1/p' Cargo.toml | head -n 1; }

target_dir() {
  cargo metadata --format-version 1 --no-deps |
    node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.parse(s).target_directory))'
}

# Builds examples/wasm_probe.rs as a wasm32 cdylib into $1/examples/. This
# works because the dev-dependencies that cannot build for wasm32 (proptest,
# criterion) are native-only in Cargo.toml: cargo builds every dev-dependency
# for an example.
build_probe() {
  cargo build --target wasm32-unknown-unknown --release --example wasm_probe
  [[ -f "$1/examples/wasm_probe.wasm" ]] || { echo "wasm_probe.wasm was not produced in $1/examples" >&2; return 1; }
}

# ---- the runner ------------------------------------------------------------

STEPS=(toolchain wasm-bindgen npm chromium interop fmt clippy lint types cargo-test differential wasm-build wasm-imports wasm-test node-test browser-test package-test demo-test bench-smoke clean-tree)
declare -A STATUS=() SECONDS_TAKEN=() NOTE=()

shopt -s nullglob
NODE_TESTS=(tests/node/*.test.mjs)
shopt -u nullglob

SETUP_STEPS=" toolchain wasm-bindgen npm chromium interop "

skip_reason() {
  case "$1" in
    wasm-imports | browser-test | package-test | demo-test | node-test | bench-smoke)
      [[ "${STATUS[wasm-build]:-}" == ok ]] || echo "needs wasm-build" ;;
    differential) [[ -f tests/codec_differential.rs ]] || echo "tests/codec_differential.rs does not exist yet" ;;
    node-test) ((${#NODE_TESTS[@]})) || echo "no tests/node/*.test.mjs yet" ;;
    clean-tree) [[ -n "${TREE_AT_START+set}" ]] || echo "not a git work tree (git rev-parse failed)" ;;
  esac
}

summary() {
  echo
  echo "==================== npm test summary ===================="
  local step total=0
  for step in "${STEPS[@]}"; do
    local status=${STATUS[$step]:-not run} secs=${SECONDS_TAKEN[$step]:-}
    printf '  %-14s %-8s %8s  %s\n' "$step" "$status" "${secs:+${secs}s}" "${NOTE[$step]:-}"
  done
  for step in "${!SECONDS_TAKEN[@]}"; do
    total=$(awk -v a="$total" -v b="${SECONDS_TAKEN[$step]}" 'BEGIN { printf "%.1f", a + b }')
  done
  echo "  total: ${total}s"
  echo "  browser: $(browser_versions)"
  echo "=========================================================="
}

now_ms() { date +%s%3N; }

echo "tabmq: npm test in $ROOT"
echo "  $(rustc --version 2>/dev/null || echo 'rustc: not found'), $(cargo --version 2>/dev/null || echo 'cargo: not found'), node $(node --version), npm $(npm --version)"

# What clean-tree compares with at the end.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  TREE_AT_START=$(tree_state)
fi

FAILED=()
n=0
for step in "${STEPS[@]}"; do
  n=$((n + 1))
  reason=$(skip_reason "$step")
  if [[ -n "$reason" ]]; then
    STATUS[$step]=skipped
    NOTE[$step]=$reason
    echo
    echo "==> [$n/${#STEPS[@]}] $step: skipped ($reason)"
    continue
  fi
  echo
  echo "==> [$n/${#STEPS[@]}] $step"
  start=$(now_ms)
  # A subshell outside any `if`/`||`, so that `set -e` really stops the step at
  # its first failing command.
  set +e
  (
    set -euo pipefail
    "step_${step//-/_}"
  )
  rc=$?
  set -e
  SECONDS_TAKEN[$step]=$(awk -v ms="$(($(now_ms) - start))" 'BEGIN { printf "%.1f", ms / 1000 }')
  if ((rc == 0)); then
    STATUS[$step]=ok
    continue
  fi
  STATUS[$step]=FAILED
  NOTE[$step]="exit status $rc"
  FAILED+=("$step")
  if [[ "$SETUP_STEPS" == *" $step "* ]]; then
    echo "npm test: setup step '$step' failed; not running the checks" >&2
    break
  fi
done

summary
if ((${#FAILED[@]})); then
  echo "npm test: FAILED (${FAILED[*]})" >&2
  exit 1
fi
echo "npm test: all steps passed"
