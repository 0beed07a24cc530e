#!/usr/bin/env bash
# CPU cost of web_request accounting: wrk fetches one live HLS segment (from RAM) over
# keep-alive connections, once with no event sink and once with a sink that takes every
# web_request event (a local receiver). Reports requests/s and server CPU microseconds per
# request for both, and nginx serving the same bytes from a file as the peer. Not in CI.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
WORK=${WORK:-/tmp/sv-bench-acct}
SECS=${SECS:-10}
PORT=19950; HTTP=18950; RECV=18951; NGX=18952
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
command -v nginx >/dev/null || apt-get install -y -qq nginx >/dev/null
make -s build >/dev/null
mkdir -p "$WORK"
cpu() { awk '{print ($14+$15)/100}' "/proc/$1/stat"; }

run_sv() {  # $1: extra config -> "req/s us/req"
  rm -rf "$WORK/data"; mkdir -p "$WORK/data"
  printf 'admin bench:bench;\nlog_level warn;\n%s\n' "$1" > "$WORK/sv.conf"
  "$ROOT/build/streamvault" --config "$WORK/sv.conf" --data-dir "$WORK/data" \
    --http-port $HTTP --rtmp-port $PORT 2>"$WORK/sv.log" &
  local sv=$!; sleep 0.5
  ffmpeg -nostdin -loglevel error -re -f lavfi -i testsrc2=size=640x360:rate=25 \
    -t $((SECS + 30)) -c:v libx264 -preset ultrafast -g 50 -f flv \
    "rtmp://127.0.0.1:$PORT/live/acct" & local pub=$!
  local seg=""
  while [ -z "$seg" ]; do
    sleep 0.5
    seg=$(curl -s "http://127.0.0.1:$HTTP/live/acct/index.m3u8" | grep -m1 '^live-' || true)
  done
  curl -s -o "$WORK/seg.ts" "http://127.0.0.1:$HTTP/live/acct/$seg"
  local c0; c0=$(cpu $sv)
  local out; out=$(wrk -t1 -c16 -d${SECS}s "http://127.0.0.1:$HTTP/live/acct/$seg")
  local c1; c1=$(cpu $sv)
  kill $pub $sv; wait $sv 2>/dev/null || true; wait $pub 2>/dev/null || true
  local reqs; reqs=$(echo "$out" | awk '/requests in/{print $1}')
  echo "$reqs $c0 $c1 $SECS" | awk '{printf "%.0f %.1f", $1/$4, ($3-$2)*1e6/$1}'
}

/usr/bin/python3 "$ROOT/bench/events/receiver.py" $RECV >/dev/null 2>&1 & RECV_PID=$!
sleep 0.5
read -r R0 U0 <<<"$(run_sv "")"
read -r R1 U1 <<<"$(run_sv "event_sink acct { url http://127.0.0.1:$RECV/events; only event=web_request; }")"
kill $RECV_PID 2>/dev/null || true

mkdir -p "$WORK/ngx/live/acct"; cp "$WORK/seg.ts" "$WORK/ngx/live/acct/seg.ts"
cat > "$WORK/ngx.conf" <<NGX
daemon off; master_process off; worker_processes 1; pid $WORK/ngx.pid;
error_log $WORK/ngx-error.log warn;
events { worker_connections 1024; }
http { access_log off; sendfile on; server { listen $NGX; root $WORK/ngx; } }
NGX
nginx -c "$WORK/ngx.conf" & NG=$!; sleep 0.5
c0=$(cpu $NG); out=$(wrk -t1 -c16 -d${SECS}s "http://127.0.0.1:$NGX/live/acct/seg.ts"); c1=$(cpu $NG)
kill $NG; wait $NG 2>/dev/null || true
read -r R2 U2 <<<"$(echo "$(echo "$out" | awk '/requests in/{print $1}') $c0 $c1 $SECS" |
  awk '{printf "%.0f %.1f", $1/$4, ($3-$2)*1e6/$1}')"

SIZE=$(stat -c %s "$WORK/seg.ts")
echo "one live segment of $SIZE bytes, wrk -t1 -c16 for ${SECS}s"
echo
echo "| server | requests/s | server CPU per request (us) |"
echo "|---|---|---|"
echo "| StreamVault, no sink | $R0 | $U0 |"
echo "| StreamVault, web_request sink | $R1 | $U1 |"
echo "| nginx (same bytes from a file, sendfile) | $R2 | $U2 |"
echo
echo "$U0 $U1" | awk '{printf "accounting with a sink costs %.1f us per request (%.0f%%)\n", $2-$1, 100*($2-$1)/$1}'
