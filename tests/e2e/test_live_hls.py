"""RTMP publish from ffmpeg -> live HLS read by ffprobe/ffmpeg; stream status API."""
import http.client
import json
import re
import subprocess
import time

from conftest import ffprobe_json, publish


def test_publish_and_watch_live_hls(server):
    pub = publish(server, "live/test", seconds=40)
    try:
        playlist = server.wait_stream("live/test", segments=3, timeout=30)
        assert playlist.startswith("#EXTM3U")
        assert "#EXT-X-PROGRAM-DATE-TIME:" in playlist
        durations = [float(x) for x in re.findall(r"#EXTINF:([\d.]+),", playlist)]
        assert all(1.5 <= d <= 2.6 for d in durations[:-1]), durations  # 2 s target, GOP 2 s

        r = server.get("/live/test/index.m3u8", auth=None)
        assert r.headers["Content-Type"] == "application/vnd.apple.mpegurl"
        assert r.headers["Access-Control-Allow-Origin"] == "*"
        assert "no-cache" in r.headers["Cache-Control"]
        assert server.get("/live/test/playlist.m3u8", auth=None).status == 200

        url = server.url("/live/test/index.m3u8")
        info = ffprobe_json(url)
        codecs = {s["codec_type"]: s for s in info["streams"]}
        assert codecs["video"]["codec_name"] == "h264"
        assert (codecs["video"]["width"], codecs["video"]["height"]) == (640, 360)
        assert codecs["audio"]["codec_name"] == "aac"
        assert int(codecs["audio"]["sample_rate"]) == 48000

        # 10 s of media decodes with no error
        dec = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", url, "-t", "10",
                              "-f", "null", "-"], capture_output=True, timeout=60)
        assert dec.returncode == 0 and dec.stderr == b"", dec.stderr.decode()

        # timestamps: monotonic dts per stream, B-frames present (pts != dts somewhere)
        out = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json",
                              "-show_packets", "-read_intervals", "%+8", url],
                             capture_output=True, timeout=60)
        pkts = json.loads(out.stdout)["packets"]
        video = [p for p in pkts if p["codec_type"] == "video"]
        audio = [p for p in pkts if p["codec_type"] == "audio"]
        assert len(video) > 100 and len(audio) > 100
        for track in (video, audio):
            dts = [int(p["dts"]) for p in track]
            assert all(b > a for a, b in zip(dts, dts[1:])), "dts not monotonic"
        assert any(p["pts"] != p["dts"] for p in video), "B-frames lost their PTS"

        # the stream status API
        st = server.api("GET", "/streams/live/test").json()
        assert st["name"] == "live/test" and st["alive"] is True
        assert st["input"]["protocol"] == "rtmp"
        assert st["input"]["remote"].startswith("127.0.0.1:")
        assert st["input"]["since"] > 1_600_000_000_000
        tracks = {t["content"]: t for t in st["tracks"]}
        assert tracks["video"]["codec"] == "h264"
        assert (tracks["video"]["width"], tracks["video"]["height"]) == (640, 360)
        assert abs(tracks["video"]["fps"] - 25) < 0.01
        assert tracks["audio"]["codec"] == "aac"
        assert tracks["audio"]["sample_rate"] == 48000 and tracks["audio"]["channels"] == 1
        assert st["bytes_in"] > 100_000
        assert st["bitrate"] > 50  # kbit/s
        assert st["viewers"] >= 1
        listing = server.api("GET", "/streams").json()
        assert [s["name"] for s in listing["streams"]] == ["live/test"]
    finally:
        pub.kill()
        pub.wait()


def test_segment_served_with_keepalive_and_cors(server):
    pub = publish(server, "live/ka", seconds=20)
    try:
        playlist = server.wait_stream("live/ka", segments=2)
        seg = [l for l in playlist.splitlines() if l and not l.startswith("#")][0]
        c = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=5)
        c.request("GET", "/live/ka/" + seg)
        r = c.getresponse()
        body = r.read()
        assert r.status == 200 and r.getheader("Content-Type") == "video/mp2t"
        assert r.getheader("Access-Control-Allow-Origin") == "*"
        assert len(body) % 188 == 0 and body[0] == 0x47
        c.request("GET", "/live/ka/live-999999.ts")
        r = c.getresponse()
        assert r.status == 404 and json.loads(r.read())["error"]
        c.close()
    finally:
        pub.kill()
        pub.wait()
