#!/usr/bin/env bash
# Installs the MQTT peers tabmq is tested and benchmarked against (the
# Mosquitto broker for the benchmark), and the MQTT clients that
# tests/node/interop.test.mjs runs against
# tabmq, skipping each one that is already present:
#   - mosquitto_pub / mosquitto_sub (Debian package mosquitto-clients)
#   - the Python paho-mqtt package (PyPI), for tests/node/interop/paho_client.py
# Prerequisites: apt-get (run as root, as on CI) and python3.
set -euo pipefail

log() { printf '[ensure-interop] %s\n' "$*"; }
die() { printf '[ensure-interop] ERROR: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

ensure_mosquitto_clients() {
  if command -v mosquitto_sub >/dev/null && command -v mosquitto_pub >/dev/null; then
    log "mosquitto-clients: present"
    return
  fi
  command -v apt-get >/dev/null || die "mosquitto_sub not found and no apt-get to install mosquitto-clients"
  log "installing mosquitto-clients"
  export DEBIAN_FRONTEND=noninteractive
  # A fresh machine's package lists may be missing or stale: update only then.
  if ! as_root apt-get install -y --no-install-recommends mosquitto-clients; then
    log "apt-get install failed; running apt-get update and trying again"
    as_root apt-get update
    as_root apt-get install -y --no-install-recommends mosquitto-clients
  fi
  command -v mosquitto_sub >/dev/null || die "mosquitto-clients installed but mosquitto_sub is not on PATH"
}

ensure_paho() {
  command -v python3 >/dev/null || die "python3 not found (needed for the paho-mqtt interop test)"
  if python3 -c 'import paho.mqtt' 2>/dev/null; then
    log "paho-mqtt: present"
    return
  fi
  log "installing paho-mqtt (pip)"
  if ! python3 -m pip --version >/dev/null 2>&1; then
    log "pip not found; installing python3-pip"
    as_root apt-get install -y --no-install-recommends python3-pip ||
      { as_root apt-get update && as_root apt-get install -y --no-install-recommends python3-pip; }
  fi
  local pip=(python3 -m pip install --quiet --disable-pip-version-check paho-mqtt)
  # A Debian system Python refuses pip installs (PEP 668) unless told otherwise.
  if ! "${pip[@]}" 2>/tmp/ensure-interop-pip.log; then
    if grep -q externally-managed /tmp/ensure-interop-pip.log; then
      "${pip[@]}" --break-system-packages
    else
      cat /tmp/ensure-interop-pip.log >&2
      die "pip install paho-mqtt failed"
    fi
  fi
  python3 -c 'import paho.mqtt' || die "paho-mqtt installed but python3 cannot import paho.mqtt"
}

# The Mosquitto broker itself: the benchmark (`npm run bench`, and its quick
# smoke run in `npm test`) measures tabmq next to it.
ensure_mosquitto_broker() {
  if [[ -x /usr/sbin/mosquitto || -x /usr/bin/mosquitto ]]; then
    log "mosquitto: present"
    return
  fi
  command -v apt-get >/dev/null || die "mosquitto not found and no apt-get to install it"
  log "installing mosquitto"
  export DEBIAN_FRONTEND=noninteractive
  if ! as_root apt-get install -y --no-install-recommends mosquitto; then
    as_root apt-get update
    as_root apt-get install -y --no-install-recommends mosquitto
  fi
  # Debian starts it as a service on 1883; the bench runs its own instance.
  if command -v systemctl >/dev/null; then as_root systemctl stop mosquitto 2>/dev/null || true; fi
}

ensure_mosquitto_clients
ensure_mosquitto_broker
ensure_paho
