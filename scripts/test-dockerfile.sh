#!/usr/bin/env bash
# Carries out Dockerfile.arm64's steps without a Docker engine, to check what the image would do:
# each stage starts from Debian bookworm with Node.js 22 in /usr/local (what node:22-bookworm-slim
# is), its RUN lines run in that root with systemd-nspawn, COPY lines copy from the repository (or
# the build stage), ENV/WORKDIR/USER apply; then the image's ENTRYPOINT + CMD run as its user with
# the documented volumes, and its HEALTHCHECK command is run inside. This is not `docker build`:
# it runs on this machine's architecture (x86-64 here; scripts/arm64-emulated-detect.sh covers the
# arm64 binaries) and reads only the instructions the Dockerfile uses.
#
#   sudo scripts/test-dockerfile.sh [WORKDIR]
#
# Needs root, and from Debian: debootstrap systemd-container mosquitto mosquitto-clients python3.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${1:-/var/tmp/edge-counter-install-test}"
DOCKERFILE="$REPO/Dockerfile.arm64"
BROKER_PORT=18841 MIRROR_PORT=18842
DEVICE=container-test-01
# shellcheck source=lib/test-env.sh
. "$REPO/scripts/lib/test-env.sh"

require_test_tools
if (exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null; then echo "port 8080 is taken; the image's HEALTHCHECK uses it" >&2; exit 1; fi

lock_workdir
BASE="$(debootstrap_base bookworm)"
NODE_TARBALL="$(node_dist)"
CONTEXT="$WORK/docker-context"
copy_source "$CONTEXT"

# --- the Dockerfile, one instruction per line (continuations joined, comments dropped)
mapfile -t INSTRUCTIONS < <(sed -e 's/^[[:space:]]*#.*$//' "$DOCKERFILE" | sed -e ':a' -e '/\\$/N; s/\\\n//; ta' | grep -v '^[[:space:]]*$')

declare -A STAGE_ROOT=()
root="" workdir="/" user="root" envs=() entrypoint="" cmd="" healthcheck=""
json_words() { python3 -c 'import json,sys,shlex; print(" ".join(shlex.quote(w) for w in json.loads(sys.argv[1])))' "$1"; }
in_stage() { systemd-nspawn -q --register=no --keep-unit -D "$root" --chdir="$workdir" --user="$user" \
  --setenv=NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt "${envs[@]}" "$@"; }

n=0
for line in "${INSTRUCTIONS[@]}"; do
  n=$((n + 1))
  op="${line%% *}" arg="${line#* }"
  case "$op" in
    FROM)
      name="stage$n"; [[ "$arg" =~ [Aa][Ss][[:space:]]+([A-Za-z0-9_-]+) ]] && name="${BASH_REMATCH[1]}"
      root="$WORK/image-$name" workdir="/" user="root" envs=()
      echo "== FROM ${arg} -> Debian bookworm + Node.js $NODE_VERSION in /usr/local ($root)"
      copy_root "$BASE" "$root"
      tar -xJf "$NODE_TARBALL" -C "$root/usr/local" --strip-components=1 --exclude='*/README.md' --exclude='*/CHANGELOG.md' --exclude='*/LICENSE'
      STAGE_ROOT[$name]="$root"
      ;;
    WORKDIR) workdir="$arg"; mkdir -p "$root$workdir" ;;
    USER) user="$arg" ;;
    ENV) for kv in $arg; do envs+=("--setenv=$kv"); done ;;
    RUN)
      echo "== RUN ${arg:0:100}"
      in_stage /bin/sh -c "$arg" >>"$WORK/docker-build.log" 2>&1 || { tail -30 "$WORK/docker-build.log"; fail "RUN $arg"; exit 1; }
      ;;
    COPY)
      from="$CONTEXT"
      if [[ "$arg" == --from=* ]]; then
        stage="${arg%% *}" && stage="${stage#--from=}" && from="${STAGE_ROOT[$stage]}" && arg="${arg#* }"
      fi
      read -r -a words <<<"$arg"
      dest="${words[-1]}"; [[ "$dest" == /* ]] || dest="$workdir/$dest"
      unset 'words[-1]'
      for src in "${words[@]}"; do
        if [ -d "$from/$src" ]; then mkdir -p "$root$dest" && cp -a "$from/$src/." "$root$dest/"
        elif [[ "$dest" == */ ]] || [ "${#words[@]}" -gt 1 ]; then mkdir -p "$root$dest" && cp -a "$from/$src" "$root$dest/"
        else mkdir -p "$(dirname "$root$dest")" && cp -a "$from/$src" "$root$dest"; fi
      done
      echo "== COPY $arg"
      ;;
    ENTRYPOINT) entrypoint="$(json_words "$arg")" ;;
    CMD) cmd="$(json_words "$arg")" ;;
    HEALTHCHECK) healthcheck="${arg#*CMD }" ;;
    VOLUME | EXPOSE | LABEL | ARG) ;;
    *) echo "unsupported instruction: $op" >&2; exit 1 ;;
  esac
done
pass "every instruction of Dockerfile.arm64 carried out"

IMAGE="$root"
check "the image runs as a non-root user" test "$user" != root -a -n "$user"
check "the image holds no model weights" bash -c "! find '$IMAGE/app' '$IMAGE/models' -name '*.onnx' 2>/dev/null | grep -q ."
check "ffmpeg, tini and curl are in the image" test -x "$IMAGE/usr/bin/ffmpeg" -a -x "$IMAGE/usr/bin/tini" -a -x "$IMAGE/usr/bin/curl"
check "no dev dependency in the image (vitest, typescript, biome)" bash -c "! ls '$IMAGE'/app/node_modules/{vitest,typescript,@biomejs/biome}/package.json 2>/dev/null | grep -q ."

# --- docker run: config read-only at /config, volumes for /data and /models, a local broker and model mirror
serve_dir "$MODEL_DIR" "$MIRROR_PORT" "$WORK/docker-mirror.log"
start_broker "$BROKER_PORT" docker-
CONFIG="$WORK/docker-config" DATA="$WORK/docker-data" MODELS="$WORK/docker-models"
rm -rf "$CONFIG" "$DATA" "$MODELS" && mkdir -p "$CONFIG" "$DATA" "$MODELS"
cp "$CLIP" "$CONFIG/sample.avi"
cat >"$CONFIG/device.yaml" <<EOF
device: { id: $DEVICE, location: { latitude: 55.6761, longitude: 12.5683 } }
camera: { source: /config/sample.avi, fps: 7 }
model: { id: yolox-nano, dir: /models, threads: 1 }
lines:
  - { name: path, points: [[0.1, 0.6], [0.9, 0.6]], from: north, to: south }
aggregation: { periodSec: 5 }
privacy: { allowShortIntervals: true } # a test: intervals arrive within seconds
storage: { path: /data/counts.db }
mqtt: { url: "mqtt://127.0.0.1:$BROKER_PORT", baseTopic: city }
EOF
# named volumes start with the image's content and ownership
cp -a "$IMAGE/data/." "$DATA/" && chown --reference="$IMAGE/data" "$DATA"
cp -a "$IMAGE/models/." "$MODELS/" && chown --reference="$IMAGE/models" "$MODELS"
echo "== run: $entrypoint $cmd (as $user)"
systemd-nspawn -q --register=no --keep-unit -D "$IMAGE" --chdir="$workdir" --user="$user" "${envs[@]}" \
  --setenv=MODEL_MIRROR="http://127.0.0.1:$MIRROR_PORT/" \
  --bind-ro="$CONFIG:/config" --bind="$DATA:/data" --bind="$MODELS:/models" \
  /bin/sh -c "exec $entrypoint $cmd" >"$WORK/docker-run.log" 2>&1 &
RUNNER=$!
BACKGROUND+=("$RUNNER")
container_pid() { pgrep -o -P "$RUNNER"; }
wait_for "container start" 30 container_pid >/dev/null
INIT="$(container_pid)"
inside() { nsenter -t "$INIT" -m -p -r -w "$@"; }
healthy() { inside /bin/sh -c "$healthcheck" >/dev/null 2>&1; }
check "HEALTHCHECK passes (${healthcheck})" wait_for health 180 healthy
check "the model was fetched into the /models volume, sha256-checked" cmp -s "$MODEL_DIR/yolox_nano.onnx" "$MODELS/yolox_nano.onnx"
check "counts are stored in the /data volume" test -s "$DATA/counts.db"
counter_pid=""
for p in $(pgrep -f '[b]in/counter.js run' || true); do
  [ "$(stat -c %u "/proc/$p" 2>/dev/null || echo 0)" = 0 ] || { counter_pid="$p"; break; }
done
check "the counter runs as '$user', not root" test -n "$counter_pid"
counts_seen() { grep -q "^city/$DEVICE/counts " "$WORK/docker-mqtt.log"; }
check "counts published over MQTT" wait_for counts 60 counts_seen
echo "== docker stop (SIGTERM to PID 1, tini)"
kill -TERM "$INIT"
stopped() { ! kill -0 "$RUNNER" 2>/dev/null; }
check "stops within docker's 10 s grace period" wait_for stop 10 stopped
offline_seen() { grep -q "^city/$DEVICE/status .*\"online\":false" "$WORK/docker-mqtt.log"; }
check "offline status published on stop" wait_for offline 5 offline_seen
last_partial() { grep "^city/$DEVICE/counts " "$WORK/docker-mqtt.log" | tail -n 1 | grep -q '"partial":true'; }
check "the last interval was closed as partial" last_partial

echo "== logs in $WORK (docker-build.log, docker-run.log)"
if [ "$failures" -gt 0 ]; then echo "$failures check(s) failed"; exit 1; fi
echo "all checks passed"
