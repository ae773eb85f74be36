#!/usr/bin/env bash
# Runs scripts/install-rpi.sh for real on a fresh Debian (trixie, what current Raspberry Pi OS is
# built on) booted with systemd as PID 1 in a systemd-nspawn container, then checks what a
# technician relies on: the service starts, fetches its model, answers /health, publishes counts
# over MQTT, logs to journald, comes back after being killed (Restart=always); a second install
# changes nothing; an update restarts the service; uninstall keeps config and counts.
#
#   sudo scripts/test-install-rpi.sh [WORKDIR]     (WORKDIR keeps the Debian root between runs)
#
# Needs root, and from Debian: debootstrap systemd-container mosquitto mosquitto-clients ffmpeg.
# The container shares the host's network: it reaches Debian's and the npm registry, a model mirror
# and a Mosquitto broker that this script starts on loopback.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${1:-/var/tmp/edge-counter-install-test}"
SUITE="${SUITE:-trixie}"
ROOTFS="$WORK/$SUITE-run" # a fresh copy of the suite's base for every run
BROKER_PORT=18831 MIRROR_PORT=18832 API_PORT=18833
DEVICE=pole-test-01
# shellcheck source=lib/test-env.sh
. "$REPO/scripts/lib/test-env.sh"

require_test_tools

lock_workdir
BASE="$(debootstrap_base "$SUITE")"
copy_root "$BASE" "$ROOTFS"
copy_source "$ROOTFS/root/edge-counter"

# Node.js builds for the installer on suites whose nodejs is older than 20 (bookworm), served from here
node_dist >/dev/null
NODE_DIST="$WORK/node-dist"
NODE_PORT=18834

echo "== model mirror on :$MIRROR_PORT, Mosquitto on :$BROKER_PORT"
serve_dir "$MODEL_DIR" "$MIRROR_PORT" "$WORK/mirror.log"
serve_dir "$NODE_DIST" "$NODE_PORT" "$WORK/node-dist.log"
start_broker "$BROKER_PORT" ""

echo "== boot $SUITE with systemd"
systemd-nspawn --keep-unit --register=no -q -D "$ROOTFS" -b --console=passive >"$WORK/nspawn.log" 2>&1 &
NSPAWN=$!
BACKGROUND+=("$NSPAWN")
# the container's PID 1: systemd started by this nspawn
container_init() { pgrep -P "$NSPAWN" -x systemd; }
INIT=""
for _ in $(seq 60); do INIT="$(container_init || true)"; [ -n "$INIT" ] && break; sleep 1; done
[ -n "$INIT" ] || { cat "$WORK/nspawn.log"; echo "container did not boot" >&2; exit 1; }
ct() { nsenter -t "$INIT" -a env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
  NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt "$@"; }
state="$(ct systemctl is-system-running --wait 2>/dev/null || true)"
echo "   system state: $state"

run_install() { ct env NODE_DIST_URL="${1:-http://127.0.0.1:$NODE_PORT}" /root/edge-counter/scripts/install-rpi.sh; }
debian_node="$(ct bash -c "apt-get update -qq >/dev/null 2>&1; apt-cache policy nodejs | awk '/Candidate:/ {print \$2}'")"
echo "   Debian's nodejs here: $debian_node"
if [ "${debian_node%%.*}" -lt 20 ] 2>/dev/null; then
  echo "== Node.js from a mirror whose SHASUMS256.txt does not match is refused"
  if run_install "http://127.0.0.1:$NODE_PORT/bad" >"$WORK/install0.log" 2>&1; then fail "install refuses a bad checksum"; else pass "install refuses a bad checksum"; fi
  check "it says why" grep -q "does not match its sha256" "$WORK/install0.log"
  check "no Node.js left in /opt" test ! -e "$ROOTFS/opt/edge-counter/node/bin/node"
fi

echo "== first install"
start=$(date +%s)
if run_install >"$WORK/install1.log" 2>&1; then
  pass "install exits 0 ($(($(date +%s) - start)) s)"
else
  fail "install exits 0"; tail -30 "$WORK/install1.log"; exit 1
fi
if [ "${debian_node%%.*}" -lt 20 ] 2>/dev/null; then
  check "Node.js $NODE_VERSION installed in /opt/edge-counter/node" test "$(ct /opt/edge-counter/node/bin/node --version)" = "v$NODE_VERSION"
  check "the unit runs that Node.js" grep -q "^ExecStart=/opt/edge-counter/node/bin/node " "$ROOTFS/etc/systemd/system/edge-counter.service"
fi
check "service enabled" ct systemctl is-enabled --quiet edge-counter.service
check "unit passes systemd-analyze verify" ct systemd-analyze verify /etc/systemd/system/edge-counter.service
check "unit has Restart=always" grep -qx "Restart=always" "$ROOTFS/etc/systemd/system/edge-counter.service"
check "config written to /etc/edge-counter/device.yaml" test -f "$ROOTFS/etc/edge-counter/device.yaml"

echo "== configure the device (sample clip as camera, local broker, model from the mirror)"
cp "$CLIP" "$ROOTFS/var/lib/edge-counter/sample.avi"
cat >"$ROOTFS/etc/edge-counter/device.yaml" <<EOF
device:
  id: $DEVICE
  location: { latitude: 55.6761, longitude: 12.5683 }
camera: { source: /var/lib/edge-counter/sample.avi, fps: 7 }
model: { id: yolox-nano, dir: /var/lib/edge-counter/models, threads: 1 }
lines:
  - { name: path, points: [[0.1, 0.6], [0.9, 0.6]], from: north, to: south }
aggregation: { periodSec: 5 }
privacy: { allowShortIntervals: true } # a test: intervals arrive within seconds
storage: { path: /var/lib/edge-counter/counts.db }
mqtt: { url: "mqtt://127.0.0.1:$BROKER_PORT", baseTopic: city }
api: { host: 127.0.0.1, port: $API_PORT }
EOF
printf 'MODEL_MIRROR=http://127.0.0.1:%s/\n' "$MIRROR_PORT" >"$ROOTFS/etc/edge-counter/environment"
ct chown -R edge-counter:edge-counter /var/lib/edge-counter
ct systemctl start edge-counter.service

health() { ct curl -fs -o /dev/null "http://127.0.0.1:$API_PORT/health"; }
check "/health answers 200 after start" wait_for health 240 health
check "model fetched from the mirror, sha256-checked" bash -c "cmp -s '$MODEL_DIR/yolox_nano.onnx' '$ROOTFS/var/lib/edge-counter/models/yolox_nano.onnx'"
check "model file owned by the service user" test "$(ct stat -c %U /var/lib/edge-counter/models/yolox_nano.onnx)" = edge-counter
counts_seen() { grep -q "^city/$DEVICE/counts " "$WORK/mqtt.log"; }
check "counts published over MQTT" wait_for counts 60 counts_seen
check "status online published" grep -q "^city/$DEVICE/status .*\"online\":true" "$WORK/mqtt.log"
check "the page is served, its script bundled on the device" ct curl -fs -o /dev/null "http://127.0.0.1:$API_PORT/page/app.js"
save_lines() {
  ct curl -fs -o /dev/null -X PUT -H 'content-type: application/json' \
    --data '{"lines":[{"name":"path","points":[[0.1,0.62],[0.9,0.62]],"from":"north","to":"south"}],"zones":[]}' \
    "http://127.0.0.1:$API_PORT/api/geometry"
}
check "the service saves lines from its page into /etc/edge-counter/device.yaml" save_lines
check "the file holds them, the previous version beside it" bash -c "grep -q '0.62' '$ROOTFS/etc/edge-counter/device.yaml' && test -f '$ROOTFS/etc/edge-counter/device.yaml.previous'"
check "the service cannot replace the root-owned environment file (sticky /etc/edge-counter)" \
  ct bash -c "command -v runuser >/dev/null && { runuser -u edge-counter -- bash -c 'echo X=1 >/etc/edge-counter/.try && mv -f /etc/edge-counter/.try /etc/edge-counter/environment' 2>/dev/null; rm -f /etc/edge-counter/.try; ! grep -q X=1 /etc/edge-counter/environment; }"
ct journalctl -u edge-counter --no-pager -o cat >"$WORK/journal1.log" 2>&1 || true
check "journald holds the service log (model fetched, API listening)" bash -c "grep -q 'model fetched' '$WORK/journal1.log' && grep -q 'local API listening' '$WORK/journal1.log'"

echo "== Restart=always: kill -9 the counter"
pid1="$(ct systemctl show -p MainPID --value edge-counter.service)"
ct bash -c "kill -9 $pid1"
restarted() { local p; p="$(ct systemctl show -p MainPID --value edge-counter.service)"; [ "$p" != 0 ] && [ "$p" != "$pid1" ]; }
check "systemd started a new process" wait_for restart 60 restarted
check "NRestarts >= 1" test "$(ct systemctl show -p NRestarts --value edge-counter.service)" -ge 1
check "/health answers 200 after the restart" wait_for health 120 health

echo "== second install changes nothing"
snapshot() { ct find /opt/edge-counter /etc/edge-counter /etc/systemd/system/edge-counter.service /etc/systemd/system/multi-user.target.wants -printf '%p %s %T@ %m %u %g\n' | sort | sha256sum; }
before="$(snapshot)"
pid2="$(ct systemctl show -p MainPID --value edge-counter.service)"
run_install >"$WORK/install2.log" 2>&1 || fail "second install exits 0"
check "second install reports nothing to change" grep -q "nothing to change" "$WORK/install2.log"
check "no file under /opt, /etc or the unit changed (path, size, mtime, mode, owner)" test "$(snapshot)" = "$before"
check "the running service was left alone" test "$(ct systemctl show -p MainPID --value edge-counter.service)" = "$pid2"

echo "== an update (a changed file) is installed and restarts the service"
echo "# updated" >>"$ROOTFS/root/edge-counter/docs/deployment.md"
run_install >"$WORK/install3.log" 2>&1 || fail "update install exits 0"
check "update reports the changed part" grep -q "changed: docs" "$WORK/install3.log"
check "the updated file is in /opt" grep -q "^# updated" "$ROOTFS/opt/edge-counter/docs/deployment.md"
check "the service was restarted with the update" test "$(ct systemctl show -p MainPID --value edge-counter.service)" != "$pid2"
check "/health answers 200 after the update" wait_for health 120 health

echo "== uninstall"
ct /root/edge-counter/scripts/install-rpi.sh --uninstall >"$WORK/uninstall.log" 2>&1 || fail "uninstall exits 0"
check "unit removed" test ! -e "$ROOTFS/etc/systemd/system/edge-counter.service"
check "service no longer known to systemd" bash -c "! nsenter -t $INIT -a systemctl cat edge-counter.service >/dev/null 2>&1"
check "no counter process left" bash -c "! pgrep -f '[/]opt/edge-counter/bin/counter.js run' >/dev/null"
check "app removed" test ! -e "$ROOTFS/opt/edge-counter"
check "config kept" test -f "$ROOTFS/etc/edge-counter/device.yaml"
check "counts kept" test -s "$ROOTFS/var/lib/edge-counter/counts.db"
ct /root/edge-counter/scripts/install-rpi.sh --uninstall >>"$WORK/uninstall.log" 2>&1 && pass "uninstall twice is fine" || fail "uninstall twice is fine"

ct systemctl poweroff >/dev/null 2>&1 || true
for _ in $(seq 30); do kill -0 "$NSPAWN" 2>/dev/null || break; sleep 1; done
echo "== logs in $WORK"
if [ "$failures" -gt 0 ]; then echo "$failures check(s) failed"; exit 1; fi
echo "all checks passed"
