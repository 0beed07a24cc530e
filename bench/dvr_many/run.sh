#!/usr/bin/env bash
# Many concurrent publishers recorded to DVR: N ffmpeg processes push a pre-encoded
# 3 Mbps H.264+AAC FLV in real time (-re -c copy) to StreamVault with live HLS + DVR on.
# Reports the server's CPU (% of one core), peak RSS, and whether every stream was
# recorded whole (ranges vs. published duration, writer drops). Not run in CI.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
N=${N:-100}
SECS=${SECS:-60}
WORK=${WORK:-/tmp/sv-bench-many}
PORT=19940; HTTP=18940
make -s build >/dev/null
mkdir -p "$WORK"
IN=$WORK/in3m.flv
if [ ! -s "$IN" ]; then
  ffmpeg -nostdin -loglevel error -f lavfi -i testsrc2=size=1280x720:rate=25 \
    -f lavfi -i sine=frequency=440:sample_rate=48000 -t $((SECS + 10)) -c:v libx264 \
    -preset veryfast -b:v 3M -maxrate 3M -bufsize 3M -g 50 -c:a aac -b:a 96k -f flv "$IN"
fi
rm -rf "$WORK/data"; mkdir -p "$WORK/data"
printf 'admin bench:bench;\nlog_level warn;\ndvr { root %s/data/dvr; segment_duration 2000; }\n' \
  "$WORK" > "$WORK/sv.conf"
"$ROOT/build/streamvault" --config "$WORK/sv.conf" --data-dir "$WORK/data" \
  --http-port $HTTP --rtmp-port $PORT 2>"$WORK/sv.log" &
SV=$!
sleep 0.5
cpu() { awk '{print ($14+$15)/100}' "/proc/$SV/stat"; }
pids=()
for i in $(seq 1 "$N"); do
  ffmpeg -nostdin -loglevel error -re -t "$SECS" -i "$IN" -c copy -f flv \
    "rtmp://127.0.0.1:$PORT/live/s$i" & pids+=($!)
done
sleep 5   # connected and past the first GOPs
c0=$(cpu); t0=$(date +%s.%N); peak=0
while kill -0 "${pids[0]}" 2>/dev/null; do
  r=$(awk '/VmRSS/{print $2}' "/proc/$SV/status"); [ "$r" -gt "$peak" ] && peak=$r
  sleep 1
done
c1=$(cpu); t1=$(date +%s.%N)
for p in "${pids[@]}"; do wait "$p" || true; done
sleep 3
short=0; total=0
for i in $(seq 1 "$N"); do
  d=$(curl -s -u bench:bench "http://127.0.0.1:$HTTP/streamer/api/v3/streams/live/s$i/dvr/ranges" |
      /usr/bin/python3 -c 'import json,sys; print(sum(r["duration"] for r in json.load(sys.stdin)))')
  total=$((total + d)); [ "$d" -lt $((SECS - 3)) ] && short=$((short + 1))
done
drops=$(grep -c "dropping" "$WORK/sv.log" || true)
kill $SV; wait $SV || true
echo "| publishers | 3 Mbps each, ${SECS}s | server CPU (% of one core) | peak RSS | streams recorded short | writer drop events |"
echo "|---|---|---|---|---|---|"
echo "$N $c0 $c1 $t0 $t1 $peak $short $drops" | awk '{printf "| %d | %.0f Mbit/s | %.1f %% | %.0f MiB | %d | %d |\n", $1, $1*3.1, 100*($3-$2)/($5-$4), $6/1024, $7, $8}'
echo "recorded seconds in all: $total (of $((N * SECS)) published)"
