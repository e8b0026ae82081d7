#!/usr/bin/env bash
# Installs what building and testing tabmq needs, skipping whatever is already
# present. Each component is one function; run all of them (the default) or
# name some:
#
#   scripts/ensure-toolchain.sh                       # everything npm test needs
#   scripts/ensure-toolchain.sh wasm-target wasm-bindgen   # what npm start needs
#
# Components: rust-components, wasm-target, wasm-bindgen, npm.
# Prerequisites: rustup + cargo (stable) and Node 20+ with npm. Everything else
# comes from the crates.io and npm registries.
#
# To add a component (for example Chromium for browser tests, later): write an
# `ensure_<name>` function that returns early when the thing is present, and add
# <name> to ALL_COMPONENTS (or leave it out and name it where it is needed).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The wasm-bindgen CLI refuses modules built by any other version of the
# wasm-bindgen crate, so it is pinned to exactly the crate's version in Cargo.toml.
WASM_BINDGEN_VERSION=0.2.130
ALL_COMPONENTS=(rust-components wasm-target wasm-bindgen npm chromium)

# `cargo install` puts binaries here; a fresh shell may not have it on PATH.
CARGO_BIN="${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}/bin"
case ":$PATH:" in
  *":$CARGO_BIN:"*) ;;
  *) export PATH="$CARGO_BIN:$PATH" ;;
esac

log() { printf '[ensure-toolchain] %s\n' "$*"; }
die() { printf '[ensure-toolchain] ERROR: %s\n' "$*" >&2; exit 1; }

# rustfmt and clippy come with rustup's default profile, but a minimal profile
# leaves them out.
ensure_rust_components() {
  command -v cargo >/dev/null || die "cargo not found: install Rust with rustup (https://rustup.rs)"
  local missing=()
  cargo fmt --version >/dev/null 2>&1 || missing+=(rustfmt)
  cargo clippy --version >/dev/null 2>&1 || missing+=(clippy)
  if ((${#missing[@]} == 0)); then
    log "rustfmt and clippy: present"
    return
  fi
  command -v rustup >/dev/null || die "${missing[*]} missing and rustup not found"
  log "installing rust components: ${missing[*]}"
  rustup component add "${missing[@]}"
}

ensure_wasm_target() {
  command -v rustup >/dev/null || die "rustup not found: install Rust with rustup (https://rustup.rs)"
  if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    log "rust target wasm32-unknown-unknown: present"
    return
  fi
  log "installing rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
}

wasm_bindgen_installed() {
  [[ "$(wasm-bindgen --version 2>/dev/null || true)" == "wasm-bindgen $WASM_BINDGEN_VERSION" ]]
}

ensure_wasm_bindgen() {
  # The crate and the CLI must agree; catch a bump of one without the other.
  local locked
  locked=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
  if [[ -n "$locked" && "$locked" != "$WASM_BINDGEN_VERSION" ]]; then
    die "Cargo.lock has wasm-bindgen $locked but this script pins the CLI to $WASM_BINDGEN_VERSION: update WASM_BINDGEN_VERSION"
  fi
  if wasm_bindgen_installed; then
    log "wasm-bindgen CLI $WASM_BINDGEN_VERSION: present"
    return
  fi
  # Two runs at once (say CI and a local npm test) would both spend minutes
  # compiling the CLI; the second waits for the first, then finds it installed.
  mkdir -p "$CARGO_BIN"
  exec 9>"$CARGO_BIN/.tabmq-wasm-bindgen-install.lock"
  if command -v flock >/dev/null; then
    log "waiting for any other install of wasm-bindgen-cli to finish"
    flock 9
  fi
  if wasm_bindgen_installed; then
    log "wasm-bindgen CLI $WASM_BINDGEN_VERSION: present (installed by another run)"
    return
  fi
  log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (compiles from source: a few minutes)"
  # Deliberately WITHOUT --locked. wasm-bindgen-cli 0.2.130's own lockfile pins
  # webpki-roots 1.0.11, which the registry mirror our machines reach does not
  # have, so `cargo install --locked` fails at dependency resolution. Without
  # --locked cargo picks the newest semver-compatible versions the registry has
  # (webpki-roots 1.0.10 at the time of writing). The CLI's own version is still
  # exact, and that is what has to match the wasm-bindgen crate.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
  wasm_bindgen_installed || die "wasm-bindgen --version does not say $WASM_BINDGEN_VERSION after installing"
  exec 9>&-
}

ensure_npm() {
  command -v npm >/dev/null || die "npm not found: install Node.js 20 or newer"
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  ((major >= 20)) || die "Node.js 20 or newer is needed, found $(node --version)"
  if [[ ! -f package-lock.json ]]; then
    log "no package-lock.json: running npm install to create it (commit it)"
    npm install --no-audit --no-fund
    return
  fi
  # npm writes node_modules/.package-lock.json on every install: when it is
  # missing or older than package-lock.json, node_modules is stale.
  if [[ -d node_modules && -f node_modules/.package-lock.json &&
        ! package-lock.json -nt node_modules/.package-lock.json ]]; then
    log "npm packages: up to date with package-lock.json"
    return
  fi
  log "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund
}

# Debian's Chromium and ChromeDriver: the browser tests (playwright-core,
# which never downloads a browser) and wasm-bindgen-test-runner use them.
ensure_chromium() {
  if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
    log "chromium: present ($(/usr/bin/chromium --version 2>/dev/null | head -n 1))"
    return
  fi
  command -v apt-get >/dev/null || die "/usr/bin/chromium not found and no apt-get to install it"
  log "installing chromium and chromium-driver"
  export DEBIAN_FRONTEND=noninteractive
  local sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  if ! "${sudo[@]}" apt-get install -y --no-install-recommends chromium chromium-driver; then
    log "apt-get install failed; running apt-get update and trying again"
    "${sudo[@]}" apt-get update
    "${sudo[@]}" apt-get install -y --no-install-recommends chromium chromium-driver
  fi
  [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]] || die "chromium installed but /usr/bin/chromium or /usr/bin/chromedriver is missing"
}

components=("$@")
((${#components[@]})) || components=("${ALL_COMPONENTS[@]}")
for component in "${components[@]}"; do
  fn="ensure_${component//-/_}"
  declare -F "$fn" >/dev/null || die "unknown component '$component' (known: ${ALL_COMPONENTS[*]})"
  "$fn"
done
