#!/bin/sh
# Export benchmark: our engine vs `ffmpeg -f concat ... -c copy -movflags +faststart`.
#
# Builds once (cached in $WORK) a 10-minute 3 Mbps 720p25 H.264 (B-frames) + AAC archive
# in 2 s segments, remuxed through our ts_demux + ts_mux so the files are exactly what
# the recorder writes. Then, page cache warm, times in the same run: our MP4 export of
# the whole 10 minutes, ffmpeg's concat copy of the same files, and our export of a
# 1-hour window (the 10-minute archive listed 6 times with shifted start times, so the
# engine also collapses 5 timestamp jumps). Wall time, CPU and peak RSS come from
# /usr/bin/time -v; the best of $RUNS runs is kept. Prints a markdown table.
#   usage: bench/export/run.sh [BUILD_DIR]   (default /tmp/build-mp4, must be configured)
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-/tmp/build-mp4}
WORK=${BENCH_DIR:-/tmp/sv-export-bench}
RUNS=${RUNS:-3}
BASE=1700000000000
mkdir -p "$WORK/raw" "$WORK/archive" "$WORK/out"

if ! ninja -C "$BUILD" libsv.a >/dev/null 2>&1; then
    echo "libsv.a does not build; compiling the export sources directly" >&2
    cd "$ROOT" && cc -O2 -D_GNU_SOURCE -Isrc bench/export/export_bench.c src/core/buf.c \
        src/core/error.c src/core/log.c src/media/*.c src/format/ts_mux.c \
        src/format/ts_demux.c src/format/mp4_mux.c src/archive/export.c \
        -o "$WORK/export_bench" -lm -lpthread
else
    cc -O2 -I"$ROOT/src" "$ROOT/bench/export/export_bench.c" "$BUILD/libsv.a" \
        -o "$WORK/export_bench" -lm -lpthread
fi

if [ ! -f "$WORK/archive/list.csv" ]; then
    echo "building the 10-minute archive (once)..." >&2
    ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=1280x720:rate=25 \
        -f lavfi -i sine=frequency=440:sample_rate=48000 -t 600 \
        -c:v libx264 -preset veryfast -b:v 3M -maxrate 3M -bufsize 6M -g 50 -bf 3 \
        -c:a aac -b:a 128k -f segment -segment_time 2 -segment_format mpegts \
        -segment_list "$WORK/raw/segs.csv" -segment_list_type csv "$WORK/raw/seg%04d.ts"
    : > "$WORK/archive/concat.txt"
    : > "$WORK/archive/list.tmp"
    while IFS=, read -r f s e; do
        "$WORK/export_bench" remux "$WORK/raw/$f" "$WORK/archive/$f"
        echo "file '$WORK/archive/$f'" >> "$WORK/archive/concat.txt"
        awk -v p="$WORK/archive/$f" -v s="$s" -v e="$e" -v b="$BASE" \
            'BEGIN { printf "%s,%.0f,%.0f\n", p, b + s * 1000, (e - s) * 1000 }' \
            >> "$WORK/archive/list.tmp"
    done < "$WORK/raw/segs.csv"
    mv "$WORK/archive/list.tmp" "$WORK/archive/list.csv"
fi
# 1 hour: the same files six times, each copy 10 minutes later
: > "$WORK/archive/list1h.csv"
for k in 0 1 2 3 4 5; do
    awk -F, -v k="$k" '{ printf "%s,%.0f,%s\n", $1, $2 + k * 600000, $3 }' \
        "$WORK/archive/list.csv" >> "$WORK/archive/list1h.csv"
done
cat "$WORK"/archive/*.ts > /dev/null # warm the page cache

# measure NAME CMD...: best wall time of $RUNS runs, with its CPU and peak RSS
measure() {
    name=$1; shift
    best=""
    for i in $(seq "$RUNS"); do
        rm -f "$WORK"/out/*
        /usr/bin/time -v -o "$WORK/time.txt" "$@" > /dev/null 2>&1
        w=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, a, ":"); s = 0;
              for (j = 1; j <= n; j++) s = s * 60 + a[j]; print s }' "$WORK/time.txt")
        u=$(awk -F': ' '/User time/ { print $2 }' "$WORK/time.txt")
        s=$(awk -F': ' '/System time/ { print $2 }' "$WORK/time.txt")
        r=$(awk -F': ' '/Maximum resident/ { printf "%.1f", $2 / 1024 }' "$WORK/time.txt")
        if [ -z "$best" ] || [ "$(echo "$w < $best" | bc -l)" = 1 ]; then
            best=$w; cpu=$(echo "$u + $s" | bc -l); rss=$r
        fi
    done
    size=$(stat -c %s "$WORK"/out/* 2>/dev/null | head -1)
    printf '| %s | %.3f | %.3f | %s | %s |\n' "$name" "$best" "$cpu" "$rss" "$size"
}

TO10=$((BASE + 600000)); TO60=$((BASE + 3600000))
echo "| export | wall s | CPU s | peak RSS MiB | output bytes |"
echo "|---|---|---|---|---|"
measure "ours, MP4 10 min, to file (fsync + rename)" "$WORK/export_bench" export \
    "$WORK/archive/list.csv" "$BASE" "$TO10" "$WORK/out/ours.mp4"
measure "ours, MP4 10 min, streamed (download path, no fsync)" "$WORK/export_bench" stream \
    "$WORK/archive/list.csv" "$BASE" "$TO10" "$WORK/out/ours.mp4"
measure "ffmpeg concat -c copy +faststart, 10 min (no fsync)" ffmpeg -nostdin -v error \
    -f concat -safe 0 -i "$WORK/archive/concat.txt" -c copy -movflags +faststart \
    "$WORK/out/ff.mp4"
measure "ffmpeg, same + sync of the file" sh -c "ffmpeg -nostdin -v error -f concat -safe 0 \
    -i '$WORK/archive/concat.txt' -c copy -movflags +faststart '$WORK/out/ff.mp4' && \
    sync '$WORK/out/ff.mp4'"
measure "ours, TS 10 min, to file" "$WORK/export_bench" export "$WORK/archive/list.csv" \
    "$BASE" "$TO10" "$WORK/out/ours.ts"
measure "ours, MP4 1 hour (6 x 10 min, 5 jumps), to file" "$WORK/export_bench" export \
    "$WORK/archive/list1h.csv" "$BASE" "$TO60" "$WORK/out/ours1h.mp4"
measure "ours, MP4 1 hour, streamed" "$WORK/export_bench" stream \
    "$WORK/archive/list1h.csv" "$BASE" "$TO60" "$WORK/out/ours1h.mp4"
