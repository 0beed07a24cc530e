#!/usr/bin/python3
"""GStreamer side of bench/rtsp: N pipelines in one process, each
rtspsrc ! rtph264depay ! h264parse ! mpegtsmux ! splitmuxsink (2 s files), recording the
same camera URL into OUT/camN/. Runs until killed."""
import os
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

url, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
Gst.init(None)
pipes = []
for i in range(n):
    d = os.path.join(out, "cam%d" % i)
    os.makedirs(d, exist_ok=True)
    p = Gst.parse_launch(
        "rtspsrc location=%s protocols=tcp latency=200 ! rtph264depay ! h264parse ! "
        "splitmuxsink muxer=mpegtsmux max-size-time=2000000000 location=%s/seg%%05d.ts"
        % (url, d))
    p.set_state(Gst.State.PLAYING)
    pipes.append(p)
print("ready", flush=True)
GLib.MainLoop().run()
