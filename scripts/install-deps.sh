#!/usr/bin/env bash
# Installs every Debian package StreamVault needs to build, test and benchmark.
# Idempotent: packages already present are skipped, apt-get runs only when needed.
set -euo pipefail

BUILD_PKGS="build-essential meson ninja-build pkg-config clang libclang-rt-14-dev llvm
  libevent-dev libjansson-dev libsqlite3-dev libssl-dev libcurl4-openssl-dev
  libavcodec-dev libswscale-dev libavutil-dev"
TEST_PKGS="libcmocka-dev python3-pytest python3-pytest-xdist python3-pytest-timeout ffmpeg curl sqlite3 tzdata python3-gi
  gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav prometheus
  chromium"

# Front-end test packages (hls.js, playwright-core driving Debian's chromium), pinned by
# tests/browser/package-lock.json.
browser_deps() {
  local dir
  dir="$(cd "$(dirname "$0")/.." && pwd)/tests/browser"
  [ -d "$dir/node_modules/hls.js" ] && [ -d "$dir/node_modules/playwright-core" ] && return 0
  echo "install-deps: npm ci in tests/browser" >&2
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
}

missing=()
for p in $BUILD_PKGS $TEST_PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node/npm: the machine's own when present (it may come from another repository), else Debian's
command -v npm >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -eq 0 ]; then
  browser_deps
  exit 0
fi

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
browser_deps
