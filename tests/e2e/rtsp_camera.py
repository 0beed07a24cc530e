#!/usr/bin/python3
"""An IP camera for tests: a GStreamer RTSP server (python3-gi, gst-rtsp-server) serving a
live test pattern as H.264 (or H.265) + AAC on rtsp://127.0.0.1:PORT/cam, optionally
behind Basic or Digest authentication. Run as a subprocess; it prints "ready" on stdout
once it listens and runs until killed.

    rtsp_camera.py --port 8554 [--path /cam] [--codec h264|h265] [--no-audio]
                   [--auth none|basic|digest --user U --password P] [--size 320x240]
                   [--tcp-only]
"""
import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402


def pipeline(codec, audio, size, fps, bitrate=0, pattern="ball"):
    w, h = size.split("x")
    video = ("videotestsrc is-live=true pattern=%s ! video/x-raw,width=%s,height=%s,"
             "framerate=%d/1 ! " % (pattern, w, h, fps))
    rate = " bitrate=%d pass=cbr" % bitrate if bitrate else ""
    if codec == "h265":
        video += ("x265enc tune=zerolatency speed-preset=ultrafast key-int-max=%d ! "
                  "video/x-h265,profile=main ! rtph265pay name=pay0 pt=96 config-interval=-1"
                  % (fps * 2))
    else:
        video += ("x264enc tune=zerolatency speed-preset=ultrafast key-int-max=%d%s ! "
                  "video/x-h264,profile=baseline ! rtph264pay name=pay0 pt=96 "
                  "config-interval=-1" % (fps * 2, rate))
    if audio:
        video += (" audiotestsrc is-live=true wave=sine freq=440 ! audioconvert ! "
                  "audioresample ! audio/x-raw,rate=48000,channels=2 ! voaacenc "
                  "bitrate=96000 ! rtpmp4gpay name=pay1 pt=97")
    return "( " + video + " )"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/cam")
    ap.add_argument("--codec", default="h264", choices=["h264", "h265"])
    ap.add_argument("--no-audio", action="store_true")
    ap.add_argument("--auth", default="none", choices=["none", "basic", "digest"])
    ap.add_argument("--user", default="admin")
    ap.add_argument("--password", default="secret")
    ap.add_argument("--size", default="320x240")
    ap.add_argument("--fps", type=int, default=25)
    ap.add_argument("--tcp-only", action="store_true", help="refuse RTP over UDP")
    ap.add_argument("--bitrate", type=int, default=0, help="H.264 CBR kbit/s (0: encoder default)")
    ap.add_argument("--pattern", default="ball", help="videotestsrc pattern (snow: incompressible)")
    args = ap.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(pipeline(args.codec, not args.no_audio, args.size, args.fps, args.bitrate,
                                args.pattern))
    factory.set_shared(True)
    if args.tcp_only:
        factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP)
    if args.auth != "none":
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "user")
        if args.auth == "basic":
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
        else:
            auth.add_digest(args.user, args.password, token)
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        server.set_auth(auth)
        role = Gst.Structure.new_from_string(
            "user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true")
        factory.add_role_from_structure(role)
    server.get_mount_points().add_factory(args.path, factory)
    if server.attach(None) == 0:
        print("cannot listen on %d" % args.port, file=sys.stderr)
        return 1
    print("ready", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
