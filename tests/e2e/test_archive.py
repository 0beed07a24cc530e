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
from webhook_receiver import Receiver

STREAM = "live/arch"


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("archive")
    hooks = Receiver().start()
    conf = dvr_config(str(tmp / "dvr")) + "export_root %s;\n" % (tmp / "exports") + \
        "event_sink hooks {\n  url %s/hooks;\n  only event=dvr_mp4_export_start,dvr_mp4_export_ready," \
        "dvr_mp4_export_failed,dvr_mp4_export_aborted,web_request;\n}\n" % hooks.url
    s = Server(tmp, config=conf).start()
    s.hooks = hooks
    s.export_root = str(tmp / "exports")
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
    hooks.stop()


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


def mp4_boxes(data):
    """Top-level box types in order."""
    out, off = [], 0
    while off + 8 <= len(data):
        size = int.from_bytes(data[off:off + 4], "big")
        kind = data[off + 4:off + 8].decode("latin-1")
        if size == 1:
            size = int.from_bytes(data[off + 8:off + 16], "big")
        out.append(kind)
        if size < 8:
            break
        off += size
    return out


def test_mp4_download_of_a_window(rec, tmp_path):
    frm = rec.ranges[0]["from"] + 7
    path = "/%s/archive-%d-20.mp4" % (STREAM, frm)
    r = rec.get(path, auth=None)
    assert r.status == 200, r.body[:200]
    assert r.headers["Content-Type"] == "video/mp4"
    assert r.headers["Content-Disposition"] == "attachment; filename=arch_%d_20.mp4" % frm
    assert int(r.headers["Content-Length"]) == len(r.body)
    assert r.headers["Accept-Ranges"] == "bytes"
    boxes = mp4_boxes(r.body)
    assert boxes.index("moov") < boxes.index("mdat"), boxes
    f = tmp_path / "w.mp4"
    f.write_bytes(r.body)
    info = ffprobe_json(str(f))
    streams = {s["codec_type"]: s for s in info["streams"]}
    assert streams["video"]["codec_name"] == "h264" and streams["audio"]["codec_name"] == "aac"
    assert abs(float(info["format"]["duration"]) - 20) <= 2.1   # within one GOP
    starts = [float(s["start_time"]) for s in info["streams"]]
    assert abs(starts[0] - starts[1]) <= 0.1, starts             # A/V aligned
    rc, err = decode(str(f))
    assert rc == 0 and err == "", err
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_frames",
                          "-read_intervals", "%+#1", "-print_format", "json", str(f)],
                         capture_output=True, timeout=60)
    first = json.loads(out.stdout)["frames"][0]
    assert first["key_frame"] == 1 and first["pict_type"] == "I"
    # ranges: exactly the bytes of the full response
    n = len(r.body)
    for a, b in ((0, 99), (n // 2, n // 2 + 70000), (n - 1000, n - 1)):
        part = rec.get(path, auth=None, headers={"Range": "bytes=%d-%d" % (a, b)})
        assert part.status == 206
        assert part.headers["Content-Range"] == "bytes %d-%d/%d" % (a, b, n)
        assert part.body == r.body[a:b + 1]
    bad = rec.get(path, auth=None, headers={"Range": "bytes=%d-" % (n + 10)})
    assert bad.status == 416


def test_ts_download_and_errors(rec, tmp_path):
    frm = rec.ranges[0]["from"] + 4
    r = rec.get("/%s/archive-%d-10.ts" % (STREAM, frm), auth=None)
    assert r.status == 200 and r.headers["Content-Type"] == "video/mp2t"
    assert len(r.body) % 188 == 0 and int(r.headers["Content-Length"]) == len(r.body)
    f = tmp_path / "w.ts"
    f.write_bytes(r.body)
    rc, err = decode(str(f))
    assert rc == 0 and err == "", err
    assert rec.get("/%s/archive-%d-10.mp4" % (STREAM, frm - 7200), auth=None).status == 404
    assert rec.get("/%s/archive-%d-0.mp4" % (STREAM, frm), auth=None).status == 400
    assert rec.get("/no/such/archive-%d-10.mp4" % frm, auth=None).status == 404


def test_client_leaving_mid_download_stops_the_work(rec):
    import socket
    frm = rec.ranges[0]["from"]
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", rec.http_port), timeout=5) as c:
            c.sendall(("GET /%s/archive-%d-40.mp4 HTTP/1.1\r\nHost: x\r\n\r\n" %
                       (STREAM, frm)).encode())
            c.recv(1000)
    # the server is still fine and serves the whole file to the next client
    r = rec.get("/%s/archive-%d-10.mp4" % (STREAM, frm), auth=None)
    assert r.status == 200 and int(r.headers["Content-Length"]) == len(r.body)


def wait_job(s, job_id, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        j = s.api("GET", "/exports/%s" % job_id).json()
        if j["state"] not in ("queued", "running"):
            return j
        time.sleep(0.2)
    raise AssertionError("export did not finish")


def job_events(s, job_id):
    return [e for e in s.hooks.unique() if e.get("id") != job_id and
            e["event"].startswith("dvr_mp4_export") and e.get("path") and job_id in
            [x.get("id") for x in [e]]]


def export_events(s, path):
    return [e["event"] for e in s.hooks.unique() if e["event"].startswith("dvr_mp4_export")
            and e.get("path") == path]


def test_convert2mp4_and_dvr_export_make_the_same_file(rec, tmp_path):
    import hashlib
    import os
    frm = rec.ranges[0]["from"] + 5
    # Flussonic: seconds, path under the export root
    path = os.path.join(rec.export_root, "sub", "f.mp4")
    r = rec.request("POST", "/streamer/api/v3/streams/%s/dvr/export?from=%d&duration=15&path=%s"
                    "&meta=true" % (STREAM, frm, path))
    assert r.status == 202, r.body
    fj = wait_job(rec, r.json()["id"])
    assert fj["state"] == "done" and fj["progress"] == 100, fj
    assert fj["size"] == os.path.getsize(path)
    assert not os.path.exists(path + ".part")
    # Ti Top: ms, into the recording root, with and without file_name
    body = {"app_name": "live", "stream_name": "arch", "start_time": frm * 1000,
            "end_time": (frm + 15) * 1000, "duration": 3000, "file_name": "t.mp4"}
    r = rec.request("POST", "/v1/nvr/convert2mp4", body)
    assert r.status == 202, r.body
    tj = wait_job(rec, r.json()["id"])
    assert tj["state"] == "done", tj
    assert tj["path"].endswith("/dvr/t.mp4")
    body.pop("file_name")
    body.pop("end_time")
    body["duration"] = 15000
    r = rec.request("POST", "/v1/nvr/convert2mp4", body)
    gj = wait_job(rec, r.json()["id"])
    assert gj["state"] == "done" and gj["path"].endswith(".mp4") and "arch" in gj["path"]
    # the same window gives the same media (metadata aside)
    for p in (path, tj["path"], gj["path"]):
        info = ffprobe_json(p)
        assert {x["codec_name"] for x in info["streams"]} == {"h264", "aac"}
        assert abs(float(info["format"]["duration"]) - 15) <= 2.1
        rc, err = decode(p)
        assert rc == 0 and err == "", err
    assert os.path.getsize(tj["path"]) == os.path.getsize(gj["path"])
    tags = ffprobe_json(path)["format"].get("tags", {})
    assert tags.get("title") == STREAM
    # events: start then ready, with the path and size
    evs = rec.hooks.wait(lambda e: export_events(rec, path) == ["dvr_mp4_export_start",
                                                               "dvr_mp4_export_ready"] and
                         export_events(rec, tj["path"])[-1:] == ["dvr_mp4_export_ready"])
    ready = [e for e in evs if e["event"] == "dvr_mp4_export_ready" and e["path"] == path][0]
    assert ready["media"] == STREAM and ready["size"] == fj["size"]
    assert ready["from"] == frm and ready["duration"] == 15
    # listed; an existing file is never overwritten
    ids = [j["id"] for j in rec.api("GET", "/exports").json()["exports"]]
    assert fj["id"] in ids and tj["id"] in ids
    r = rec.request("POST", "/streamer/api/v3/streams/%s/dvr/export?from=%d&duration=15&path=%s"
                    % (STREAM, frm, path))
    assert r.status == 409


def test_export_path_and_window_validation(rec):
    frm = rec.ranges[0]["from"]
    def post(q):
        return rec.request("POST", "/streamer/api/v3/streams/%s/dvr/export?%s" % (STREAM, q))
    for bad in ("/etc/x.mp4", rec.export_root + "/../x.mp4", rec.export_root + "/a/../../x.mp4",
                "relative.mp4", rec.export_root + "/x.txt"):
        r = post("from=%d&duration=10&path=%s" % (frm, bad))
        assert r.status == 400 and "path" in r.json()["error"]["message"], bad
    assert post("from=%d&duration=-3&path=%s/y.mp4" % (frm, rec.export_root)).status == 400
    assert post("from=abc&duration=3&path=%s/y.mp4" % rec.export_root).status == 400
    assert post("duration=3&path=%s/y.mp4" % rec.export_root).status == 400
    r = rec.request("POST", "/v1/nvr/convert2mp4", {"app_name": "live", "stream_name": "arch",
                                                    "start_time": frm, "duration": 5000})
    assert r.status == 400 and "start_time" in r.json()["error"]["message"]
    r = rec.request("POST", "/v1/nvr/convert2mp4", {"app_name": "live", "stream_name": "arch",
                                                    "start_time": frm * 1000, "duration": 5000,
                                                    "file_name": "../../evil.mp4"})
    assert r.status == 400 and "file_name" in r.json()["error"]["message"]
    assert rec.request("POST", "/v1/nvr/convert2mp4", {"app_name": "live"}, auth=None).status == 401
    # a window with nothing recorded: the job fails with a reason, and says so
    r = post("from=%d&duration=10&path=%s/empty.mp4" % (frm - 7200, rec.export_root))
    j = wait_job(rec, r.json()["id"])
    assert j["state"] == "failed" and "nothing recorded" in j["error"]
    rec.hooks.wait(lambda e: "dvr_mp4_export_failed" in export_events(rec, j["path"]))


def test_aborted_export_leaves_no_file(rec):
    import glob
    import os
    frm = rec.ranges[0]["from"]
    path = os.path.join(rec.export_root, "abort.mp4")
    r = rec.request("POST", "/streamer/api/v3/streams/%s/dvr/export?from=%d&duration=40&path=%s"
                    % (STREAM, frm, path))
    job = r.json()
    assert rec.api("DELETE", "/exports/%s" % job["id"]).status == 204
    j = wait_job(rec, job["id"])
    if j["state"] == "aborted":
        rec.hooks.wait(lambda e: "dvr_mp4_export_aborted" in export_events(rec, path))
        assert not os.path.exists(path)
    else:  # the export was faster than the DELETE: it finished, the file is whole
        assert j["state"] == "done"
    assert not glob.glob(path + ".part")
    assert rec.api("DELETE", "/exports/nope").status == 404


def test_web_request_usage_events(rec):
    import urllib.request
    frm = rec.ranges[0]["from"]
    text = rec.get("/%s/index-%d-6.m3u8" % (STREAM, frm), auth=None).body.decode()
    uri = [l for l in text.splitlines() if l and not l.startswith("#")][0]
    seg = rec.get("/%s/%s" % (STREAM, uri), auth=None)
    dl = rec.get("/%s/archive-%d-6.mp4" % (STREAM, frm), auth=None)
    def have(evs):
        w = [e for e in evs if e["event"] == "web_request"]
        return [e for e in w if e["path"].endswith(uri)] and \
            [e for e in w if e["path"].endswith(".mp4") and e["bytes"] == len(dl.body)]
    evs = rec.hooks.wait(have)
    w = [e for e in evs if e["event"] == "web_request"]
    s_ev = [e for e in w if e["path"].endswith(uri)][-1]
    d_ev = [e for e in w if e["path"].endswith(".mp4")][-1]
    for e, n in ((s_ev, len(seg.body)), (d_ev, len(dl.body))):
        total = e["bytes_from_ram"] + e["bytes_from_dvr_cache"] + e["bytes_from_dvr_disk"] + \
            e["bytes_from_dvr_remote"]
        assert total == n and e["bytes_from_dvr_disk"] == n
        assert e["media"] == STREAM and e["status"] == 200 and e["dvr_utc_ms"] > 0
    pl = [e for e in w if e["path"].endswith(".m3u8")][-1]
    assert pl["bytes_from_ram"] == len(text.encode()) and pl["bytes_from_dvr_disk"] == 0
