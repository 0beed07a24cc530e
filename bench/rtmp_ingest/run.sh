#!/usr/bin/env bash
# RTMP ingest benchmark, StreamVault vs nginx-rtmp (Debian's libnginx-mod-rtmp), one run:
#   1. CPU seconds per GB ingested, RTMP -> live HLS, an H.264+AAC FLV pushed by ffmpeg as
#      fast as it will go (-c copy, no -re);
#   2. the same with recording on (StreamVault DVR vs nginx-rtmp `record all`);
#   3. memory per idle publisher (N publishers that publish and then send nothing).
# Prints a markdown table. Not run in CI.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
WORK=${WORK:-/tmp/sv-bench-rtmp}
LOOPS=${LOOPS:-12}          # input repetitions (~45 MB each)
IDLE=${IDLE:-200}
SV_PORT=19935; SV_HTTP=18935; NG_PORT=19936; NG_HTTP=18936
command -v nginx >/dev/null && [ -e /usr/lib/nginx/modules/ngx_rtmp_module.so ] || \
  apt-get install -y -qq nginx libnginx-mod-rtmp >/dev/null
make -s build >/dev/null
mkdir -p "$WORK"
IN=$WORK/in.flv
if [ ! -s "$IN" ]; then
  ffmpeg -nostdin -loglevel error -f lavfi -i testsrc2=size=1280x720:rate=30 \
    -f lavfi -i sine=frequency=440:sample_rate=48000 -t 60 -c:v libx264 -preset veryfast \
    -b:v 6M -maxrate 6M -bufsize 6M -g 60 -c:a aac -b:a 128k -f flv "$IN"
fi
BYTES=$(( $(stat -c %s "$IN") * LOOPS ))

cpu_of() { awk '{print ($14+$15)/100}' "/proc/$1/stat"; }          # utime+stime, seconds
rss_kb() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }
push() { ffmpeg -nostdin -loglevel error -stream_loop $((LOOPS-1)) -i "$IN" -c copy -f flv "$1"; }

start_sv() {  # $1: extra config
  rm -rf "$WORK/sv"; mkdir -p "$WORK/sv"
  printf 'admin bench:bench;\nlog_level warn;\n%s\n' "$1" > "$WORK/sv.conf"
  "$ROOT/build/streamvault" --config "$WORK/sv.conf" --data-dir "$WORK/sv" \
    --http-port $SV_HTTP --rtmp-port $SV_PORT 2>"$WORK/sv.log" &
  SV_PID=$!; sleep 0.5
}
start_ng() {  # $1: extra application directives
  rm -rf "$WORK/ng"; mkdir -p "$WORK/ng/hls" "$WORK/ng/rec"
  cat > "$WORK/ng.conf" <<NGX
load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
daemon off; master_process off; worker_processes 1;
error_log $WORK/ng/error.log warn; pid $WORK/ng/nginx.pid;
events { worker_connections 4096; }
rtmp { server { listen $NG_PORT; chunk_size 4096;
  application live { live on; hls on; hls_path $WORK/ng/hls; hls_fragment 2s; $1 }
  application idle { live on; } } }
http { access_log off; server { listen $NG_HTTP; location / { root $WORK/ng; } } }
NGX
  nginx -c "$WORK/ng.conf" -p "$WORK/ng" &
  NG_PID=$!; sleep 0.5
}
measure() {  # $1 pid, $2 url -> cpu seconds per GB
  local c0 c1 t0 t1
  c0=$(cpu_of "$1"); t0=$(date +%s.%N)
  push "$2"
  sleep 1
  c1=$(cpu_of "$1"); t1=$(date +%s.%N)
  echo "$c0 $c1 $t0 $t1 $BYTES" | awk '{printf "%.2f %.1f", ($2-$1)/($5/1e9), $5/1e6/($4-$3)}'
}
idle_mem() {  # $1 pid, $2 port, $3 app -> KiB per idle publisher
  local r0 r1
  r0=$(rss_kb "$1")
  rm -f "$WORK/ready"
  /usr/bin/python3 "$ROOT/bench/rtmp_ingest/idle_publishers.py" 127.0.0.1 "$2" "$IDLE" 4 "$WORK/ready" &
  local p=$!
  while [ ! -e "$WORK/ready" ]; do sleep 0.2; done
  sleep 1; r1=$(rss_kb "$1")
  [ "$1" = "${SV_PID:-}" ] && curl -s -u bench:bench "http://127.0.0.1:$SV_HTTP/streamer/api/v3/streams" |
    grep -o '"alive":true' | wc -l > "$WORK/idle_alive"
  wait $p
  echo "$r0 $r1 $IDLE" | awk '{printf "%.1f", ($2-$1)/$3}'
}

start_sv ""
SV_IDLE=$(idle_mem $SV_PID $SV_PORT idle)   # on a fresh process, before any traffic
kill $SV_PID; wait $SV_PID || true
start_sv ""
read -r SV_HLS SV_HLS_MBS <<<"$(measure $SV_PID rtmp://127.0.0.1:$SV_PORT/live/b)"
kill $SV_PID; wait $SV_PID || true
start_sv "dvr { root $WORK/sv/dvr; segment_duration 2000; }"
read -r SV_DVR SV_DVR_MBS <<<"$(measure $SV_PID rtmp://127.0.0.1:$SV_PORT/live/b)"
kill $SV_PID; wait $SV_PID || true

start_ng ""
NG_IDLE=$(idle_mem $NG_PID $NG_PORT idle)
kill $NG_PID; wait $NG_PID || true
start_ng ""
read -r NG_HLS NG_HLS_MBS <<<"$(measure $NG_PID rtmp://127.0.0.1:$NG_PORT/live/b)"
kill $NG_PID; wait $NG_PID || true
start_ng "record all; record_path $WORK/ng/rec; record_unique on;"
read -r NG_DVR NG_DVR_MBS <<<"$(measure $NG_PID rtmp://127.0.0.1:$NG_PORT/live/b)"
kill $NG_PID; wait $NG_PID || true

GB=$(echo "$BYTES" | awk '{printf "%.2f", $1/1e9}')
echo "input: $GB GB of 6 Mbps 720p30 H.264 + AAC FLV pushed with ffmpeg -c copy (no -re)"
echo
echo "| measure | StreamVault | nginx-rtmp | ratio |"
echo "|---|---|---|---|"
echo "| CPU s/GB, RTMP -> live HLS | $SV_HLS | $NG_HLS | $(echo "$SV_HLS $NG_HLS" | awk '{printf "%.2f", $1/$2}') |"
echo "| CPU s/GB, live HLS + recording | $SV_DVR | $NG_DVR | $(echo "$SV_DVR $NG_DVR" | awk '{printf "%.2f", $1/$2}') |"
echo "| ingest rate, MB/s (live HLS) | $SV_HLS_MBS | $NG_HLS_MBS | |"
echo "idle publishers seen alive by StreamVault: $(cat "$WORK/idle_alive" 2>/dev/null)"
echo "| RSS per idle publisher, KiB ($IDLE publishers) | $SV_IDLE | $NG_IDLE | $(echo "$SV_IDLE $NG_IDLE" | awk '{if ($2>0) printf "%.2f", $1/$2; else print "-"}') |"
