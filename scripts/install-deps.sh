#!/usr/bin/env bash
# Installs every Debian package StreamVault needs to build, test and benchmark.
# Idempotent: packages already present are skipped, apt-get runs only when needed.
set -euo pipefail

BUILD_PKGS="build-essential meson ninja-build pkg-config clang libclang-rt-14-dev llvm
  libevent-dev libjansson-dev libsqlite3-dev libssl-dev libcurl4-openssl-dev
  libavcodec-dev libswscale-dev libavutil-dev"
TEST_PKGS="libcmocka-dev python3-pytest python3-pytest-xdist python3-pytest-timeout ffmpeg curl sqlite3 tzdata python3-gi
  gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav prometheus"

missing=()
for p in $BUILD_PKGS $TEST_PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
