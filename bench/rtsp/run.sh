#!/usr/bin/env bash
# RTSP ingest benchmark: N pulled cameras recorded to the DVR by StreamVault, side by side
# with GStreamer (rtspsrc ! rtph264depay ! h264parse ! mpegtsmux ! splitmuxsink) recording
# the same source. One GStreamer RTSP server (tests/e2e/rtsp_camera.py, shared media, so
# the camera encodes once) serves every session on loopback; each recorder opens N RTSP
# sessions (TCP interleaved) to it. Reports CPU (% of one core, averaged over SECONDS
# after a warm-up) and RSS of the recorder process.
#
#   bench/rtsp/run.sh [BINARY] [N] [SECONDS]      e.g. bench/rtsp/run.sh build/streamvault 50 30
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$root/build/streamvault}
n=${2:-50}
secs=${3:-30}
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
http=$((port + 1))
rtmp=$((port + 2))
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

kbps=${KBPS:-3000}
/usr/bin/python3 "$root/tests/e2e/rtsp_camera.py" --port "$port" --no-audio --size 640x360 \
  --bitrate "$kbps" --pattern snow \
  > "$work/cam.out" 2> "$work/cam.err" &
pids+=($!)
for _ in $(seq 50); do grep -q ready "$work/cam.out" 2>/dev/null && break; sleep 0.2; done
url="rtsp://127.0.0.1:$port/cam"
# one session first, so the shared media is prepared before hundreds of sessions arrive
timeout 20 ffprobe -v quiet -rtsp_transport tcp "$url" || true

# CPU% and RSS (MiB) of a pid over $secs seconds, from /proc.
measure() {
  local pid=$1 hz t0 t1
  hz=$(getconf CLK_TCK)
  t0=$(awk '{print $14+$15}' "/proc/$pid/stat")
  sleep "$secs"
  t1=$(awk '{print $14+$15}' "/proc/$pid/stat")
  awk -v a="$t0" -v b="$t1" -v hz="$hz" -v s="$secs" 'BEGIN{printf "%.1f", (b-a)/hz/s*100}'
  printf " %s\n" "$(awk '/VmRSS/{printf "%.1f", $2/1024}' "/proc/$pid/status")"
}

{
  echo "dvr { root $work/sv-archive; segment_duration 2000; }"
  for i in $(seq 0 $((n - 1))); do echo "stream cams/c$i { input $url; }"; done
} > "$work/sv.conf"
STREAMVAULT_ADMIN=bench:bench "$bin" -c "$work/sv.conf" -d "$work/sv-data" --http-port "$http" \
  --rtmp-port "$rtmp" > "$work/sv.log" 2>&1 &
svpid=$!
pids+=($svpid)
sleep 10
bytes_in() {
  curl -s -u bench:bench "http://127.0.0.1:$http/streamer/api/v3/streams" |
    /usr/bin/python3 -c 'import json,sys; print(sum(s.get("bytes_in", 0) for s in json.load(sys.stdin)["streams"]))'
}
b0=$(bytes_in)
read -r sv_cpu sv_rss < <(measure $svpid)
b1=$(bytes_in)
sv_gb=$(awk -v a="$b0" -v b="$b1" 'BEGIN{printf "%.3f", (b-a)/1e9}')
sv_cpu_gb=$(awk -v c="$sv_cpu" -v s="$secs" -v g="$sv_gb" 'BEGIN{ if (g > 0) printf "%.2f", c/100*s/g; else print "-"}')
online=$(grep -c "source connected" "$work/sv.log" || true)
sv_files=$(find "$work/sv-archive" -name '*.ts' | wc -l)
kill $svpid; wait $svpid 2>/dev/null || true

/usr/bin/python3 "$root/bench/rtsp/gst_record.py" "$url" "$n" "$work/gst" > "$work/gst.out" 2>&1 &
gpid=$!
pids+=($gpid)
sleep 10
read -r g_cpu g_rss < <(measure $gpid)
g_cpu_gb=$(awk -v c="$g_cpu" -v s="$secs" -v g="$sv_gb" 'BEGIN{ if (g > 0) printf "%.2f", c/100*s/g; else print "-"}')
g_files=$(find "$work/gst" -name '*.ts' | wc -l)
kill $gpid; wait $gpid 2>/dev/null || true

cam_cpu=$(ps -o %cpu= -p "${pids[0]}" | tr -d ' ')
printf "cameras=%d at %d kbit/s, seconds=%d, %s GB ingested (camera server avg cpu %s%%)\n" \
  "$n" "$kbps" "$secs" "$sv_gb" "$cam_cpu"
printf "%-12s %8s %10s %8s %10s\n" recorder "cpu%" "rss_MiB" "files" "cpu_s/GB"
printf "%-12s %8s %10s %8s %10s   (%s sessions online)\n" streamvault "$sv_cpu" "$sv_rss" "$sv_files" "$sv_cpu_gb" "$online"
printf "%-12s %8s %10s %8s %10s\n" gstreamer "$g_cpu" "$g_rss" "$g_files" "$g_cpu_gb"
