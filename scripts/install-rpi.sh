#!/usr/bin/env bash
# Installs the edge counter on Raspberry Pi OS (64-bit) or Debian as a systemd service.
#   sudo scripts/install-rpi.sh              install or update (idempotent: a second run changes nothing)
#   sudo scripts/install-rpi.sh --uninstall  remove the service and the app (config and data are kept)
# Layout: app in /opt/edge-counter, config in /etc/edge-counter/device.yaml (secrets in
# /etc/edge-counter/environment), data and models in /var/lib/edge-counter, logs in journald
# (journalctl -u edge-counter).
# Node.js: an installed node >= 20 is used; else Debian's nodejs when it is >= 20 (trixie-based
# Raspberry Pi OS); else (bookworm ships 18) the official Node.js $NODE_VERSION build, checked
# against its SHASUMS256.txt, goes to /opt/edge-counter/node. NODE_DIST_URL points at a mirror.
set -euo pipefail

APP=/opt/edge-counter
ETC=/etc/edge-counter
VAR=/var/lib/edge-counter
UNIT=/etc/systemd/system/edge-counter.service
SRC="$(cd "$(dirname "$0")/.." && pwd)"
NODE_VERSION="${NODE_VERSION:-22.23.3}"
NODE_DIST_URL="${NODE_DIST_URL:-https://nodejs.org/dist}"
APP_PARTS=(bin edge models examples docs package.json package-lock.json .npmrc)

[ "$(id -u)" -eq 0 ] || { echo "run as root (sudo $0)" >&2; exit 1; }
say() { echo "install-rpi: $*"; }

if [ "${1:-}" = "--uninstall" ]; then
  if [ -f "$UNIT" ]; then
    systemctl disable --now edge-counter.service >/dev/null 2>&1 || true
    rm -f "$UNIT"
    systemctl daemon-reload
  fi
  rm -rf "$APP"
  say "removed the service and $APP; kept $ETC and $VAR (delete them to remove config, models and counts)"
  exit 0
fi
[ -z "${1:-}" ] || { echo "usage: $0 [--uninstall]" >&2; exit 2; }

changed=()
node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

# --- Debian packages: ffmpeg for capture; compilers only for better-sqlite3 when no prebuilt binary
# can be fetched for this platform (npm then builds it from source).
need=()
command -v ffmpeg >/dev/null || need+=(ffmpeg)
for tool in python3 make g++; do command -v "$tool" >/dev/null || need+=("$tool"); done
command -v curl >/dev/null || need+=(curl)
command -v xz >/dev/null || need+=(xz-utils)

NODE=""
if [ -x "$APP/node/bin/node" ] && [ "$("$APP/node/bin/node" --version)" = "v$NODE_VERSION" ]; then
  NODE="$APP/node/bin/node"
elif command -v node >/dev/null && [ "$(node_major "$(command -v node)")" -ge 20 ] && command -v npm >/dev/null; then
  NODE="$(command -v node)"
fi
apt_updated=0
apt_install() {
  [ "$apt_updated" = 1 ] || { apt-get update -qq; apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
if [ -z "$NODE" ]; then
  candidate="$(apt-cache policy nodejs 2>/dev/null | awk '/Candidate:/ {print $2}')"
  if [ -n "$candidate" ] && [ "${candidate%%.*}" != "(none)" ] && [ "${candidate%%.*}" -ge 20 ] 2>/dev/null; then
    need+=(nodejs npm)
  fi
fi
if [ "${#need[@]}" -gt 0 ]; then
  say "installing from Debian: ${need[*]}"
  apt_install "${need[@]}"
  changed+=("packages: ${need[*]}")
fi
if [ -z "$NODE" ] && command -v node >/dev/null && [ "$(node_major "$(command -v node)")" -ge 20 ]; then
  NODE="$(command -v node)"
fi
if [ -z "$NODE" ]; then
  case "$(uname -m)" in
    aarch64 | arm64) arch=arm64 ;;
    x86_64) arch=x64 ;;
    *) echo "no Node.js build for $(uname -m); install Node.js 20+ yourself and run again" >&2; exit 1 ;;
  esac
  name="node-v$NODE_VERSION-linux-$arch"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  say "downloading Node.js $NODE_VERSION from $NODE_DIST_URL"
  curl -fsSL "$NODE_DIST_URL/v$NODE_VERSION/SHASUMS256.txt" -o "$tmp/SHASUMS256.txt"
  curl -fsSL "$NODE_DIST_URL/v$NODE_VERSION/$name.tar.xz" -o "$tmp/$name.tar.xz"
  (cd "$tmp" && grep " $name.tar.xz\$" SHASUMS256.txt | sha256sum -c --quiet -) ||
    { echo "$name.tar.xz does not match its sha256 in SHASUMS256.txt; nothing installed" >&2; exit 1; }
  rm -rf "$APP/node.new" && mkdir -p "$APP/node.new"
  tar -xJf "$tmp/$name.tar.xz" -C "$APP/node.new" --strip-components=1
  rm -rf "$APP/node" && mv "$APP/node.new" "$APP/node"
  NODE="$APP/node/bin/node"
  changed+=("Node.js $NODE_VERSION")
fi
NPM="$(dirname "$NODE")/npm"
[ -x "$NPM" ] || NPM="$(command -v npm)"
say "Node.js $("$NODE" --version) at $NODE"

# --- system user and folders
if ! id -u edge-counter >/dev/null 2>&1; then
  getent group video >/dev/null || groupadd --system video
  useradd --system --home-dir "$VAR" --no-create-home --shell /usr/sbin/nologin --groups video edge-counter
  changed+=("user edge-counter")
fi
install -d -m 0755 "$APP"
# group-writable: the service saves lines and zones drawn on its set-up page into device.yaml
# (written beside it and renamed over it, the old version kept as device.yaml.previous); sticky, so
# that it can replace only files it owns: device.yaml, never the root-owned environment file
install -d -m 1770 -o root -g edge-counter "$ETC"
install -d -m 0750 -o edge-counter -g edge-counter "$VAR" "$VAR/models"

# --- the app: each part replaced only when it differs from the source, so a second run changes nothing
for part in "${APP_PARTS[@]}"; do
  if ! diff -rq "$SRC/$part" "$APP/$part" >/dev/null 2>&1; then
    rm -rf "$APP/$part"
    cp -r "$SRC/$part" "$APP/$part"
    changed+=("$part")
  fi
done
# dependencies: reinstalled when the lockfile or the Node.js version changed
stamp="$(cat "$APP/package-lock.json" <("$NODE" --version) | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$APP/node_modules/.install-stamp" 2>/dev/null)" != "$stamp" ]; then
  say "installing dependencies (npm ci --omit=dev)"
  # a native module built from source uses the headers shipped with the Node.js build in /opt, not a download
  nodedir=()
  [ "$NODE" != "$APP/node/bin/node" ] || nodedir=(--nodedir="$APP/node")
  (cd "$APP" && PATH="$(dirname "$NODE"):$PATH" "$NPM" ci --omit=dev --no-audit --no-fund --loglevel=error "${nodedir[@]}")
  echo "$stamp" >"$APP/node_modules/.install-stamp"
  changed+=("node_modules")
fi

# --- configuration: written once from the example, never overwritten
if [ ! -f "$ETC/device.yaml" ]; then
  sed -e "s#^  dir: models#  dir: $VAR/models#" "$APP/examples/device.yaml" >"$ETC/device.yaml"
  printf '\nstorage:\n  path: %s/counts.db\n' "$VAR" >>"$ETC/device.yaml"
  chmod 0660 "$ETC/device.yaml" && chown edge-counter:edge-counter "$ETC/device.yaml"
  changed+=("$ETC/device.yaml")
  say "wrote $ETC/device.yaml from the example: set device, camera, lines and mqtt, then: systemctl restart edge-counter"
fi
# an installation from before the set-up page: let the service save lines and zones into the file
if [ "$(stat -c %U "$ETC/device.yaml")" != edge-counter ] || [ -z "$(find "$ETC/device.yaml" -perm -g=w)" ]; then
  chown edge-counter:edge-counter "$ETC/device.yaml" && chmod ug+rw "$ETC/device.yaml"
  changed+=("$ETC/device.yaml (the service's, for the set-up page)")
fi

UNIT_TEXT="[Unit]
Description=Edge counter (pedestrians, cyclists, vehicles; aggregate counts over MQTT)
Documentation=file://$APP/docs/deployment.md
After=network-online.target
Wants=network-online.target

[Service]
User=edge-counter
Group=edge-counter
SupplementaryGroups=video
WorkingDirectory=$VAR
Environment=NODE_ENV=production MODEL_DIR=$VAR/models
# secrets (COUNTER_MQTT_PASSWORD=...) and MODEL_MIRROR=... go here, mode 0640 root:edge-counter
EnvironmentFile=-$ETC/environment
ExecStartPre=$NODE $APP/bin/counter.js config check $ETC/device.yaml
# the configured model is downloaded (sha256-checked) on the first start
ExecStart=$NODE $APP/bin/counter.js run --fetch-model --config $ETC/device.yaml
Restart=always
RestartSec=5
TimeoutStopSec=20
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
# $ETC: the set-up page saves lines and zones into device.yaml
ReadWritePaths=$VAR $ETC
PrivateTmp=yes

[Install]
WantedBy=multi-user.target
"
if ! printf '%s' "$UNIT_TEXT" | cmp -s - "$UNIT"; then
  printf '%s' "$UNIT_TEXT" >"$UNIT"
  systemctl daemon-reload
  changed+=("$UNIT")
fi
systemctl is-enabled --quiet edge-counter.service 2>/dev/null || {
  systemctl enable edge-counter.service >/dev/null 2>&1
  changed+=("enabled edge-counter.service")
}

if [ "${#changed[@]}" -eq 0 ]; then
  say "nothing to change: the installation is up to date"
  exit 0
fi
say "changed: $(IFS=,; echo "${changed[*]}" | sed 's/,/, /g')"
if systemctl is-active --quiet edge-counter.service; then
  systemctl restart edge-counter.service
  say "restarted edge-counter.service with the update"
else
  say "start it when $ETC/device.yaml is set: systemctl start edge-counter; journalctl -u edge-counter -f; curl localhost:8080/health"
fi
