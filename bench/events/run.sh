#!/bin/sh
# Events through one sink: emit cost and end-to-end events/s to a local receiver.
# Usage: bench/events/run.sh [BUILD_DIR] [N]   (BUILD_DIR default: build; N default 200000)
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build}
N=${2:-200000}
WORK=$(mktemp -d /tmp/sv-bench-events-XXXXXX)
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ninja -C "$BUILD" libsv.a >/dev/null
cc -O2 -std=c17 -D_GNU_SOURCE -I"$ROOT/src" -o "$WORK/bench_events" "$ROOT/bench/events/bench_events.c" \
   "$BUILD/libsv.a" $(pkg-config --cflags --libs libevent_core libevent_pthreads jansson sqlite3 libcrypto libcurl) -lpthread -lm
/usr/bin/python3 "$ROOT/bench/events/receiver.py" "$PORT" &
RECV=$!
trap 'kill $RECV 2>/dev/null; rm -rf "$WORK"' EXIT INT TERM
sleep 0.5
for BATCH in 100 1000; do
    rm -rf "$WORK/data"; mkdir -p "$WORK/data"
    "$WORK/bench_events" "http://127.0.0.1:$PORT/events" "$N" "$BATCH" "$WORK/data" 2>/dev/null
done
