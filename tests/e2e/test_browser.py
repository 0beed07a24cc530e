"""hls.js in headless Chromium plays what we serve: live HLS, and an archive window with a
seek inside it (tests/browser/play.mjs drives the browser through playwright-core)."""
import json
import os
import subprocess
import time

from conftest import ROOT, publish
from dvr_util import dvr_config, ranges

PLAY = os.path.join(ROOT, "tests", "browser", "play.mjs")


def play(url, seek=None):
    cmd = ["node", PLAY, url] + ([str(seek)] if seek is not None else [])
    r = subprocess.run(cmd, capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()[-3000:]
    return json.loads(r.stdout.decode().strip().splitlines()[-1])


def test_hlsjs_plays_live_and_seeks_in_archive(server_factory, tmp_path):
    s = server_factory(config=dvr_config(str(tmp_path / "dvr"))).start()
    pub = publish(s, "live/web", seconds=45, size="640x360")
    try:
        s.wait_stream("live/web", segments=3, timeout=30)
        live = play(s.url("/live/web/index.m3u8"))
        assert live["errors"] == [], live
        assert live["played"] >= 3, live
        assert (live["width"], live["height"]) == (640, 360), live
        time.sleep(16)
        frm = ranges(s, "live/web")[0]["from"] + 2
        vod = play(s.url("/live/web/index-%d-20.m3u8" % frm), seek=12)
        assert vod["errors"] == [], vod
        assert abs(vod["duration"] - 20) <= 2.1, vod
        assert vod["seeked"] >= 12, vod            # seeking inside the window works
        ms = frm * 1000
        titop = play(s.url("/live/web/playlist.m3u8?start_time=%d&duration=10000" % ms))
        assert titop["errors"] == [] and titop["played"] >= 3, titop
    finally:
        pub.kill()
        pub.wait()
