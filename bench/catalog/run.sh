#!/usr/bin/env bash
# Catalog and playlist timings for a day of 2 s segments (43,200 rows). Not run in CI.
set -euo pipefail
cd "$(dirname "$0")/../.."
make -s build >/dev/null
cc -O2 -std=c17 -D_GNU_SOURCE -Isrc bench/catalog/catalog_ranges.c build/libsv.a \
  $(pkg-config --cflags --libs sqlite3 jansson libevent_core libevent_pthreads libcrypto) \
  -lpthread -lm -o /tmp/sv_catalog_bench
/tmp/sv_catalog_bench "${1:-1}" "${2:-0}"
