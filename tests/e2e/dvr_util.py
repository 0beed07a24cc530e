"""Helpers for archive tests: files on disk, catalog rows, ranges, decoding."""
import glob
import os
import sqlite3
import subprocess
import time


def segment_files(root):
    return sorted(os.path.relpath(p, root) for p in glob.glob(os.path.join(root, "**", "*.ts"),
                                                              recursive=True))


def part_files(root):
    return glob.glob(os.path.join(root, "**", "*.part"), recursive=True)


def catalog_paths(data_dir, stream=None):
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(data_dir, "catalog.db"), uri=True)
    try:
        q = "SELECT path FROM segments" + (" WHERE stream = ?" if stream else "")
        rows = db.execute(q, (stream,) if stream else ()).fetchall()
    finally:
        db.close()
    return sorted(r[0] for r in rows)


def ranges(server, name):
    r = server.api("GET", "/streams/%s/dvr/ranges" % name)
    assert r.status == 200, r.body
    return r.json()


def wait_for(cond, timeout=30, interval=0.25, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError("timed out waiting for " + what)


def decode_errors(path):
    """ffmpeg's complaints decoding a file (empty when it decodes cleanly)."""
    r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-"],
                       capture_output=True, timeout=120)
    return r.stderr.decode() + ("" if r.returncode == 0 else " exit %d" % r.returncode)


def dvr_config(root, extra="", segment_ms=2000):
    return "dvr {\n  root %s;\n  segment_duration %d;\n%s}\n" % (root, segment_ms, extra)


def seg_span(relpath):
    """(start, end) in UTC seconds of a segment from its path .../YYYY/MM/DD/HH/MM-SS-mmm_DUR.ts"""
    import calendar
    parts = relpath.split("/")
    y, mo, d, h = (int(x) for x in parts[-5:-1])
    stem = parts[-1][:-3]
    ms, dur = stem.split("_")
    mi, se, milli = (int(x) for x in ms.split("-"))
    start = calendar.timegm((y, mo, d, h, mi, se)) + milli / 1000.0
    return start, start + int(dur) / 1000.0
