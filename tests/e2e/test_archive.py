"""Archive playback: HLS of any recorded window (Flussonic and Ti Top routes), recorded
segment files with Range, and the validation of windows. One recording is shared by the
module: 40 s, a gap of ~8 s, then 12 s more."""
import json
import re
import subprocess
import time
import urllib.request

import pytest

from conftest import Server, ffprobe_json, publish
from dvr_util import dvr_config, ranges

STREAM = "live/arch"


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("archive")
    s = Server(tmp, config=dvr_config(str(tmp / "dvr"))).start()
    p = publish(s, STREAM, seconds=40, size="320x240")
    p.wait(90)
    time.sleep(8)
    p = publish(s, STREAM, seconds=12, size="320x240")
    p.wait(60)
    time.sleep(1)
    rg = ranges(s, STREAM)
    assert len(rg) == 2, rg
    s.ranges = rg
    yield s
    assert s.stop() == 0


def probe_duration(url):
    info = ffprobe_json(url)
    return float(info["format"]["duration"]), info


def decode(url, extra=None):
    r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error"] + (extra or []) +
                       ["-i", url, "-f", "null", "-"], capture_output=True, timeout=120)
    return r.returncode, r.stderr.decode()


def pdt_list(playlist):
    return re.findall(r"#EXT-X-PROGRAM-DATE-TIME:(\S+)", playlist)


def iso_to_s(iso):
    return time.mktime(time.strptime(iso[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone + \
        float("0" + iso[19:-1])


def test_vod_window_plays_with_right_duration_and_dates(rec):
    first = rec.ranges[0]
    frm = first["from"] + 10
    url = rec.url("/%s/index-%d-20.m3u8" % (STREAM, frm))
    body = rec.get("/%s/index-%d-20.m3u8" % (STREAM, frm), auth=None)
    assert body.status == 200
    assert body.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    text = body.body.decode()
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in text and text.rstrip().endswith("#EXT-X-ENDLIST")
    dates = [iso_to_s(d) for d in pdt_list(text)]
    assert abs(dates[0] - frm) <= 2.1, (dates[0], frm)           # starts at the window
    assert dates[-1] < frm + 20
    dur, info = probe_duration(url)
    assert abs(dur - 20) <= 2.1, dur                              # 20 s +- one segment
    assert {s["codec_name"] for s in info["streams"]} == {"h264", "aac"}
    rc, err = decode(url)
    assert rc == 0 and err == "", err
    # the archive- spelling is the same playlist
    assert rec.get("/%s/archive-%d-20.m3u8" % (STREAM, frm), auth=None).body == body.body


def test_window_across_gap_has_discontinuity_and_plays(rec):
    a, b = rec.ranges
    frm = a["from"] + a["duration"] - 6
    to = b["from"] + 6
    path = "/%s/index-%d-%d.m3u8" % (STREAM, frm, to - frm)
    text = rec.get(path, auth=None).body.decode()
    assert text.count("#EXT-X-DISCONTINUITY") == 1
    rc, err = decode(rec.url(path))
    assert rc == 0, err
    dur, _ = probe_duration(rec.url(path))
    assert 9 <= dur <= 16, dur   # the gap itself is not played


def test_titop_routes_give_the_same_window(rec):
    frm = rec.ranges[0]["from"] + 5
    fl = rec.get("/%s/index-%d-20.m3u8" % (STREAM, frm), auth=None).body
    ms = frm * 1000
    t1 = rec.get("/%s/playlist.m3u8?start_time=%d&end_time=%d" % (STREAM, ms, ms + 20000),
                 auth=None)
    t2 = rec.get("/%s/playlist.m3u8?start_time=%d&duration=20000" % (STREAM, ms), auth=None)
    t3 = rec.get("/%s/playlist.m3u8&start_time=%d&duration=20000" % (STREAM, ms), auth=None)
    t4 = rec.get("/%s/playlist.m3u8?start_time=%d&end_time=%d&duration=5000" %
                 (STREAM, ms, ms + 20000), auth=None)  # end_time wins
    for t in (t1, t2, t3, t4):
        assert t.status == 200, t.body
        assert t.body == fl
    rc, err = decode(rec.url("/%s/playlist.m3u8&start_time=%d&duration=20000" % (STREAM, ms)))
    assert rc == 0 and err == "", err


def test_event_playlist_up_to_now(rec):
    frm = rec.ranges[1]["from"]
    text = rec.get("/%s/index-%d-now.m3u8" % (STREAM, frm), auth=None).body.decode()
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in text
    assert "#EXTINF" in text


def test_segment_range_requests(rec):
    frm = rec.ranges[0]["from"]
    text = rec.get("/%s/index-%d-10.m3u8" % (STREAM, frm), auth=None).body.decode()
    uri = [l for l in text.splitlines() if l and not l.startswith("#")][0]
    full = rec.get("/%s/%s" % (STREAM, uri), auth=None)
    assert full.status == 200 and full.headers["Content-Type"] == "video/mp2t"
    assert full.headers["Accept-Ranges"] == "bytes"
    assert len(full.body) % 188 == 0 and full.body[0] == 0x47
    part = rec.get("/%s/%s" % (STREAM, uri), auth=None, headers={"Range": "bytes=188-1127"})
    assert part.status == 206
    assert part.headers["Content-Range"] == "bytes 188-1127/%d" % len(full.body)
    assert part.body == full.body[188:1128]


def test_bad_windows(rec):
    frm = rec.ranges[0]["from"]
    def err(path):
        r = rec.get(path, auth=None)
        return r.status, r.json()["error"]["message"]
    assert err("/%s/index-%d-30.m3u8" % (STREAM, frm - 3600))[0] == 404     # nothing there
    assert err("/no/such/index-%d-30.m3u8" % frm)[0] == 404
    st, msg = err("/%s/index-%d-0.m3u8" % (STREAM, frm))
    assert st == 400 and "duration" in msg
    st, msg = err("/%s/index-%d--5.m3u8" % (STREAM, frm))
    assert st in (400, 404)
    st, msg = err("/%s/index-%d-99999999.m3u8" % (STREAM, frm))
    assert st == 400 and "maximum" in msg
    st, msg = err("/%s/index-%d-30.m3u8" % (STREAM, frm * 1000))            # ms on a s route
    assert st == 400 and "from" in msg and "seconds" in msg
    st, msg = err("/%s/playlist.m3u8?start_time=%d&duration=20000" % (STREAM, frm))  # s on ms
    assert st == 400 and "start_time" in msg
    st, msg = err("/%s/playlist.m3u8?start_time=%d&end_time=%d" % (STREAM, frm * 1000,
                                                                  frm * 1000 - 5000))
    assert st == 400 and "inverted" in msg
    st, msg = err("/%s/playlist.m3u8?start_time=abc&duration=5" % STREAM)
    assert st == 400 and "start_time" in msg


def test_paths_never_escape_the_root(rec):
    for path in ("/live/arch/../../../etc/passwd", "/live/arch/2026/01/01/00/00-00-000_2000.ts",
                 "/%2e%2e/%2e%2e/etc/passwd", "/live/arch/2026/01/01/00/../../../../x.ts"):
        r = rec.get(path, auth=None)
        assert r.status in (400, 404), path
        assert b"root:" not in r.body
