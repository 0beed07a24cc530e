"""DVR archive: recording, ranges, templates, crash safety, rebuild, retention, locks."""
import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import BINARY, ffprobe_json, publish
from dvr_util import (catalog_paths, decode_errors, dvr_config, part_files, ranges,
                      segment_files, wait_for)


def finish(p, timeout=60):
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def test_publish_30s_gives_one_range_and_clean_segments(server_factory, tmp_path):
    root = str(tmp_path / "archive")
    s = server_factory(config=dvr_config(root)).start()
    t0 = time.time()
    finish(publish(s, "live/rec", seconds=30, size="320x240"))
    wait_for(lambda: len(ranges(s, "live/rec")) == 1 and
             ranges(s, "live/rec")[0]["duration"] >= 28, timeout=15, what="range")
    rg = ranges(s, "live/rec")
    assert len(rg) == 1, rg
    assert abs(rg[0]["duration"] - 30) <= 2, rg      # 30 s +- one segment
    assert abs(rg[0]["from"] - t0) < 5, (rg, t0)     # UTC seconds of the publish
    files = segment_files(root)
    assert 13 <= len(files) <= 17, files
    assert all(f.startswith("live/rec/") for f in files)
    for f in files:
        assert decode_errors(os.path.join(root, f)) == "", f
        info = ffprobe_json(os.path.join(root, f))
        assert {x["codec_name"] for x in info["streams"]} == {"h264", "aac"}
    # the catalog and the disk agree; the status API summarises the archive
    assert catalog_paths(s.data_dir, "live/rec") == files
    st = s.api("GET", "/streams/live/rec").json()
    assert st["dvr"]["segments"] == len(files)
    assert st["dvr"]["bytes"] == sum(os.path.getsize(os.path.join(root, f)) for f in files)
    assert abs(st["dvr"]["depth"] - 30) <= 3


def test_gap_between_publishes_gives_two_ranges(server_factory, tmp_path):
    root = str(tmp_path / "archive")
    s = server_factory(config=dvr_config(root)).start()
    finish(publish(s, "live/gap", seconds=8, size="320x240"))
    time.sleep(10)
    finish(publish(s, "live/gap", seconds=8, size="320x240"))
    rg = wait_for(lambda: (lambda r: r if len(r) == 2 else None)(ranges(s, "live/gap")),
                  timeout=10, what="two ranges")
    first, second = rg
    gap = second["from"] - (first["from"] + first["duration"])
    assert 8 <= gap <= 13, rg
    for r in rg:
        assert 6 <= r["duration"] <= 10, rg


def test_template_applies_and_stream_settings_win(server_factory, tmp_path):
    troot, sroot = str(tmp_path / "troot"), str(tmp_path / "sroot")
    s = server_factory().start()  # no global dvr: nothing is recorded by default
    r = s.api("PUT", "/templates/cams", {"prefixes": ["cams/"], "dvr": {"root": troot,
                                                                        "segment_duration": 1000}})
    assert r.status == 200, r.body
    r = s.api("PUT", "/streams/cams/own", {"dvr": {"root": sroot, "segment_duration": 4000}})
    assert r.status == 200, r.body
    assert r.json()["settings"]["dvr"]["root"] == sroot
    pubs = [publish(s, n, seconds=9, size="320x240", extra=["-g", "25"])
            for n in ("cams/tpl", "cams/own", "other/none")]
    for p in pubs:
        finish(p)
    time.sleep(1.5)
    tpl = segment_files(troot)
    own = segment_files(sroot)
    assert tpl and all(f.startswith("cams/tpl/") for f in tpl)
    assert own and all(f.startswith("cams/own/") for f in own)
    # segment_duration: 1 s from the template vs 4 s from the stream itself
    assert len(tpl) >= 7 and len(own) <= 4, (tpl, own)
    assert not os.path.exists(os.path.join(s.data_dir, "dvr", "other"))
    assert s.api("GET", "/streams/other/none/dvr/ranges").json() == []
    # API settings persist across a restart
    assert s.stop() == 0
    s.start()
    t = s.api("GET", "/templates/cams").json()
    assert t["prefixes"] == ["cams/"] and t["dvr"]["segment_duration"] == 1000
    assert s.api("GET", "/streams/cams/own").json()["settings"]["dvr"]["root"] == sroot


def test_kill9_mid_publish_then_restart(server_factory, tmp_path):
    root = str(tmp_path / "archive")
    s = server_factory(config=dvr_config(root)).start()
    pub = publish(s, "live/crash", seconds=60, size="320x240")
    wait_for(lambda: len(segment_files(root)) >= 4, timeout=30, what="segments")
    time.sleep(1.2)  # part of a segment is on disk
    assert part_files(root), "no segment in progress"
    s.kill9()
    pub.kill()
    pub.wait()
    before = set(segment_files(root))
    s.start()
    after = set(segment_files(root))
    assert before <= after and len(after) == len(before) + 1, (before, after)  # repaired
    assert not part_files(root)
    repaired = (after - before).pop()
    assert decode_errors(os.path.join(root, repaired)) == ""
    assert catalog_paths(s.data_dir) == sorted(after)
    finish(publish(s, "live/crash", seconds=6, size="320x240"))
    time.sleep(1)
    assert catalog_paths(s.data_dir) == segment_files(root)
    rg = ranges(s, "live/crash")
    assert len(rg) == 2, rg


def test_catalog_rebuilt_from_files(server_factory, tmp_path):
    root = str(tmp_path / "archive")
    s = server_factory(config=dvr_config(root)).start()
    finish(publish(s, "live/rb", seconds=6, size="320x240"))
    time.sleep(6)
    finish(publish(s, "live/rb", seconds=6, size="320x240"))
    time.sleep(1)
    want = ranges(s, "live/rb")
    assert len(want) == 2
    assert s.stop() == 0
    for suffix in ("", "-wal", "-shm"):
        p = os.path.join(s.data_dir, "catalog.db" + suffix)
        if os.path.exists(p):
            os.remove(p)
    s.start()
    assert ranges(s, "live/rb") == want
    assert s.stop() == 0
    # a corrupt catalog is moved aside and rebuilt too
    with open(os.path.join(s.data_dir, "catalog.db"), "wb") as f:
        f.write(b"this is not a database" * 100)
    s.start()
    assert ranges(s, "live/rb") == want
    assert any(n.startswith("catalog.db.corrupt") for n in os.listdir(s.data_dir))
    assert s.stop() == 0
    # and on demand
    r = subprocess.run([BINARY, "--data-dir", s.data_dir, "--config",
                        str(s.tmp / "streamvault.conf"), "--rebuild-index"],
                       capture_output=True, timeout=60, env=s.env)
    assert r.returncode == 0, r.stderr
    assert b"segments indexed" in r.stderr
    s.start()
    assert ranges(s, "live/rb") == want


def test_expiration_keeps_locked_part(server_factory, tmp_path):
    root = str(tmp_path / "archive")
    s = server_factory(config=dvr_config(root)).start()
    finish(publish(s, "live/exp", seconds=16, size="320x240"))
    time.sleep(1)
    rg = ranges(s, "live/exp")
    assert len(rg) == 1
    start = rg[0]["from"]
    lock = {"from": start + 6, "duration": 4}
    r = s.api("POST", "/streams/live/exp/dvr/locks", lock)
    assert r.status == 200, r.body
    assert r.json() == [lock]
    n_before = len(segment_files(root))
    # expire everything older than 2 s
    r = s.api("PUT", "/streams/live/exp", {"dvr": {"root": root, "expiration": 2}})
    assert r.status == 200
    def only_locked_left():
        rr = ranges(s, "live/exp")
        return rr if len(rr) == 1 and rr[0]["duration"] <= 8 else None
    left = wait_for(only_locked_left, timeout=20, what="retention")[0]
    # what is left covers the lock and little more (segments overlapping it are kept)
    assert left["from"] <= lock["from"] and left["from"] + left["duration"] >= lock["from"] + 4
    files = segment_files(root)
    assert 0 < len(files) < n_before
    assert catalog_paths(s.data_dir) == files
    assert "retention" in s.output()
    # unlock: the rest goes too
    r = s.api("DELETE", "/streams/live/exp/dvr/locks", lock)
    assert r.status == 200 and r.json() == []
    wait_for(lambda: ranges(s, "live/exp") == [], timeout=20, what="unlocked part expiring")
    wait_for(lambda: segment_files(root) == [], timeout=10, what="files removed")


def test_delete_range(server_factory, tmp_path):
    root = str(tmp_path / "archive")
    s = server_factory(config=dvr_config(root)).start()
    finish(publish(s, "live/del", seconds=14, size="320x240"))
    time.sleep(1)
    rg = ranges(s, "live/del")[0]
    n = len(segment_files(root))
    r = s.api("DELETE", "/streams/live/del/dvr/ranges", {"from": rg["from"], "duration": 6})
    assert r.status == 200, r.body
    body = r.json()
    assert body["segments"] >= 2 and body["bytes"] > 0
    assert body["removed"][0]["from"] >= rg["from"]
    wait_for(lambda: len(segment_files(root)) == n - body["segments"], timeout=10,
             what="files removed")
    after = ranges(s, "live/del")
    assert after[0]["from"] >= rg["from"] + 4
    assert catalog_paths(s.data_dir) == segment_files(root)


def test_api_validation(server):
    assert server.api("PUT", "/streams/live/v", b"{not json").status == 400
    r = server.api("PUT", "/streams/live/v", {"dvr": {"expiration": -5}})
    assert r.status == 400 and "dvr.expiration" in r.json()["error"]["message"]
    r = server.api("PUT", "/streams/live/v", {"dvr": {"segment_duration": "2s"}})
    assert r.status == 400 and "dvr.segment_duration" in r.json()["error"]["message"]
    r = server.api("PUT", "/streams/live/v", {"dvr": {"disk_limit": "150%"}})
    assert r.status == 400 and "dvr.disk_limit" in r.json()["error"]["message"]
    r = server.api("PUT", "/streams/live/v", {"dvr": {"bogus": 1}})
    assert r.status == 400 and "dvr.bogus" in r.json()["error"]["message"]
    r = server.api("PUT", "/templates/t", {"dvr": {}})
    assert r.status == 400 and "prefixes" in r.json()["error"]["message"]
    assert server.api("GET", "/streams/no/such").status == 404
    assert server.api("GET", "/streams/no/such/dvr/ranges").status == 404
    assert server.api("PUT", "/streams/live/v", {"dvr": {"expiration": 60}}).status == 200
    for body in ({"from": 10, "duration": -1}, {"from": "x", "duration": 5}, [1, 2], {}):
        r = server.api("POST", "/streams/live/v/dvr/locks", body)
        assert r.status == 400, body
        assert r.json()["error"]["message"]
    r = server.api("DELETE", "/streams/live/v/dvr/ranges", {"from": 10, "duration": 0})
    assert r.status == 400
    assert server.api("GET", "/streams/live/v/dvr/ranges").json() == []


def _window_around(now_utc, inside):
    """A one-hour UTC window that contains now (inside) or lies two hours away."""
    h = time.gmtime(now_utc).tm_hour
    start = h if inside else (h + 2) % 24
    return {"timezone": "UTC",
            "windows": [{"days": "*", "from": "%02d:00" % start,
                         "to": "%02d:00" % ((start + 1) % 24) if start != 23 else "24:00"}]}


def test_schedule_excludes_recording_but_live_goes_on(server_factory, tmp_path):
    root = str(tmp_path / "archive")
    s = server_factory().start()
    r = s.api("PUT", "/streams/live/sched", {"dvr": {"root": root},
                                            "schedule": _window_around(time.time(), False)})
    assert r.status == 200, r.body
    pub = publish(s, "live/sched", seconds=10, size="320x240")
    s.wait_stream("live/sched", segments=2)          # live works outside the window
    finish(pub)
    time.sleep(1)
    assert segment_files(root) == []
    assert s.api("GET", "/streams/live/sched/dvr/ranges").json() == []
    # a window containing now: recorded
    r = s.api("PUT", "/streams/live/sched", {"dvr": {"root": root},
                                            "schedule": _window_around(time.time(), True)})
    assert r.status == 200
    finish(publish(s, "live/sched", seconds=8, size="320x240"))
    time.sleep(1)
    assert len(segment_files(root)) >= 3
    r = s.api("PUT", "/streams/live/sched", {"schedule": {"windows": [{"days": "xyz"}]}})
    assert r.status == 400 and "schedule.windows[0].days" in r.json()["error"]["message"]


def test_delete_stream_keeps_archive_unless_asked(server_factory, tmp_path):
    root = str(tmp_path / "archive")
    s = server_factory().start()
    assert s.api("PUT", "/streams/live/gone", {"dvr": {"root": root}}).status == 200
    finish(publish(s, "live/gone", seconds=6, size="320x240"))
    time.sleep(1)
    n = len(segment_files(root))
    assert n >= 2
    assert s.api("DELETE", "/streams/live/gone").status == 204
    assert len(segment_files(root)) == n                       # the archive stays
    assert len(ranges(s, "live/gone")) == 1
    assert s.api("DELETE", "/streams/live/gone?archive=maybe").status == 400
    r = s.api("DELETE", "/streams/live/gone?archive=delete")
    assert r.status == 200 and r.json()["segments"] == n
    wait_for(lambda: segment_files(root) == [], timeout=10, what="files removed")
    assert catalog_paths(s.data_dir, "live/gone") == []
