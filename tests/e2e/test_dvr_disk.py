"""Retention under disk pressure: a small tmpfs as the DVR root, with a disk_limit and
with a plain ENOSPC. The server keeps running, the oldest unlocked data goes first, live
delivery goes on and recording resumes."""
import os
import shutil
import subprocess
import time

import pytest

from conftest import publish
from dvr_util import catalog_paths, dvr_config, ranges, seg_span, segment_files, wait_for

NOISY = ["-vf", "noise=alls=80:allf=t", "-b:v", "3M", "-maxrate", "3M", "-bufsize", "1M"]


@pytest.fixture
def small_fs(tmp_path):
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root")
    path = tmp_path / "small"
    path.mkdir()
    mounted = []

    def mount(size_mb):
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm" % size_mb, "tmpfs", str(path)],
                       check=True)
        mounted.append(path)
        return str(path)

    yield mount
    for p in mounted:
        subprocess.run(["umount", "-l", str(p)], check=False)


def usage_percent(path):
    st = os.statvfs(path)
    return 100.0 * (st.f_blocks - st.f_bavail) / st.f_blocks


def test_disk_limit_percent_deletes_oldest(server_factory, small_fs):
    root = small_fs(24)
    s = server_factory(config=dvr_config(root, "  disk_limit 40;\n", segment_ms=1000)).start()
    pub = publish(s, "live/quota", seconds=45, size="320x240", extra=NOISY)
    s.wait_stream("live/quota")
    first = wait_for(lambda: segment_files(root)[:1], timeout=20, what="first segment")[0]
    peak = 0.0
    while pub.poll() is None:
        peak = max(peak, usage_percent(root))
        time.sleep(0.5)
    time.sleep(6)  # a retention pass after the last segment
    assert first not in segment_files(root), "the oldest segment was not deleted"
    assert usage_percent(root) <= 45, usage_percent(root)
    assert peak < 70, peak
    assert "write to" not in s.output()  # the quota kept us away from ENOSPC
    assert catalog_paths(s.data_dir) == segment_files(root)
    rg = ranges(s, "live/quota")
    assert rg and time.time() - (rg[-1]["from"] + rg[-1]["duration"]) < 10


def test_enospc_pauses_then_resumes_and_keeps_locks(server_factory, small_fs):
    root = small_fs(10)
    s = server_factory(config=dvr_config(root, segment_ms=1000)).start()
    pub = publish(s, "live/full", seconds=60, size="320x240", extra=NOISY)
    try:
        s.wait_stream("live/full")
        wait_for(lambda: len(ranges(s, "live/full")) == 1 and
                 ranges(s, "live/full")[0]["duration"] >= 3, timeout=20, what="recording")
        start = ranges(s, "live/full")[0]["from"]
        lock = {"from": start, "duration": 2}
        assert s.api("POST", "/streams/live/full/dvr/locks", lock).status == 200
        locked = [f for f in segment_files(root) if seg_span(f)[0] < lock["from"] + 2]
        assert locked
        wait_for(lambda: "write to" in s.output(), timeout=60, what="the disk to fill up")
        # live delivery goes on while the root is full
        assert s.get("/live/full/index.m3u8", auth=None).status == 200
        assert s.api("GET", "/streams/live/full").json()["alive"] is True
        t_full = time.time()
        # recording resumes: a segment newer than the failure shows up
        def resumed():
            rg = ranges(s, "live/full")
            return rg and rg[-1]["from"] + rg[-1]["duration"] > t_full + 3
        wait_for(resumed, timeout=40, what="recording to resume")
    finally:
        pub.kill()
        pub.wait()
    time.sleep(2)
    files = segment_files(root)
    for f in locked:
        assert f in files, "a locked segment was deleted"
    assert "No space left on device" in s.output() and "retention: deleted" in s.output()
    assert catalog_paths(s.data_dir) == files
    assert s.api("GET", "/streams").status == 200
