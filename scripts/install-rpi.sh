#!/usr/bin/env bash
# Installs the edge counter on Raspberry Pi OS (64-bit, bookworm) as a systemd service.
#   sudo scripts/install-rpi.sh            install or update (idempotent: a second run changes nothing)
#   sudo scripts/install-rpi.sh --uninstall  remove the service and the app (config and data are kept)
# Layout: app in /opt/edge-counter, config in /etc/edge-counter/device.yaml, data and models in
# /var/lib/edge-counter, logs in journald (journalctl -u edge-counter).
set -euo pipefail

APP=/opt/edge-counter
ETC=/etc/edge-counter
VAR=/var/lib/edge-counter
UNIT=/etc/systemd/system/edge-counter.service
SRC="$(cd "$(dirname "$0")/.." && pwd)"

[ "$(id -u)" -eq 0 ] || { echo "run as root (sudo $0)" >&2; exit 1; }

if [ "${1:-}" = "--uninstall" ]; then
  systemctl disable --now edge-counter.service 2>/dev/null || true
  rm -f "$UNIT"
  systemctl daemon-reload
  rm -rf "$APP"
  echo "removed the service and $APP; kept $ETC and $VAR (delete them yourself to remove config and counts)"
  exit 0
fi

# Node.js 20+ and ffmpeg from Debian (bookworm ships Node 18: use NodeSource's or Debian backports' 20+ if so)
need=()
command -v ffmpeg >/dev/null || need+=(ffmpeg)
command -v node >/dev/null || need+=(nodejs npm)
if [ "${#need[@]}" -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$major" -ge 20 ] || { echo "Node.js $major found; the counter needs 20 or newer" >&2; exit 1; }

id -u edge-counter >/dev/null 2>&1 || useradd --system --home "$VAR" --shell /usr/sbin/nologin --groups video edge-counter

install -d -m 0755 "$APP"
# copy the app only when it changed, so a second run changes nothing
rsync_like() {
  for d in bin edge models examples docs; do
    mkdir -p "$APP/$d"
    cp -ru "$SRC/$d/." "$APP/$d/"
  done
  for f in package.json package-lock.json .npmrc; do cmp -s "$SRC/$f" "$APP/$f" || cp "$SRC/$f" "$APP/$f"; done
}
rsync_like
if ! cmp -s "$APP/package-lock.json" "$APP/node_modules/.package-lock.json" 2>/dev/null; then
  (cd "$APP" && npm ci --omit=dev --no-audit --no-fund)
fi

install -d -m 0750 -o root -g edge-counter "$ETC"
if [ ! -f "$ETC/device.yaml" ]; then
  sed -e 's#^  dir: models#  dir: /var/lib/edge-counter/models#' "$APP/examples/device.yaml" > "$ETC/device.yaml"
  printf '\nstorage:\n  path: /var/lib/edge-counter/counts.db\n' >> "$ETC/device.yaml"
  chmod 0640 "$ETC/device.yaml"; chgrp edge-counter "$ETC/device.yaml"
  echo "wrote $ETC/device.yaml from the example: edit device, camera, lines and mqtt, then: systemctl restart edge-counter"
fi
install -d -m 0750 -o edge-counter -g edge-counter "$VAR" "$VAR/models"

UNIT_TEXT="[Unit]
Description=Edge counter (pedestrians, cyclists, vehicles; aggregate counts over MQTT)
After=network-online.target
Wants=network-online.target

[Service]
User=edge-counter
Group=edge-counter
SupplementaryGroups=video
WorkingDirectory=$VAR
Environment=NODE_ENV=production MODEL_DIR=$VAR/models
EnvironmentFile=-$ETC/environment
ExecStartPre=$APP/bin/counter.js config check $ETC/device.yaml
ExecStart=$APP/bin/counter.js run --config $ETC/device.yaml
Restart=always
RestartSec=5
TimeoutStopSec=20
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
ReadWritePaths=$VAR
PrivateTmp=yes

[Install]
WantedBy=multi-user.target
"
if [ "$(cat "$UNIT" 2>/dev/null)" != "$UNIT_TEXT" ]; then
  printf '%s' "$UNIT_TEXT" > "$UNIT"
  systemctl daemon-reload
fi
systemctl enable edge-counter.service >/dev/null
echo "installed. Fetch the model once: sudo -u edge-counter MODEL_DIR=$VAR/models $APP/bin/counter.js model fetch yolox-nano --dir $VAR/models"
echo "then: systemctl restart edge-counter; journalctl -u edge-counter -f; curl localhost:8080/health"
