"""RTMP ingest: concurrent publishers, busy names, reconnects, hostile input."""
import os
import socket
import subprocess
import time

from conftest import ffprobe_json, publish


def stop(p):
    if p.poll() is None:
        p.kill()
    p.wait()


def test_two_concurrent_publishers(server):
    a = publish(server, "live/a", seconds=30, size="320x240")
    b = publish(server, "cams/b", seconds=30, size="426x240")
    try:
        server.wait_stream("live/a", segments=2)
        server.wait_stream("cams/b", segments=2)
        wa = ffprobe_json(server.url("/live/a/index.m3u8"))
        wb = ffprobe_json(server.url("/cams/b/index.m3u8"))
        va = [s for s in wa["streams"] if s["codec_type"] == "video"][0]
        vb = [s for s in wb["streams"] if s["codec_type"] == "video"][0]
        assert (va["width"], va["height"]) == (320, 240)
        assert (vb["width"], vb["height"]) == (426, 240)
        names = [s["name"] for s in server.api("GET", "/streams").json()["streams"]]
        assert names == ["cams/b", "live/a"]
    finally:
        stop(a)
        stop(b)


def test_second_publisher_gets_badname(server):
    first = publish(server, "live/busy", seconds=30)
    try:
        server.wait_stream("live/busy")
        second = publish(server, "live/busy", seconds=5)
        _, err = second.communicate(timeout=30)
        assert second.returncode != 0, "second publisher was accepted"
        assert first.poll() is None, "first publisher was disturbed"
        assert "live/busy" in server.output() and "BadName" in server.output()
        st = server.api("GET", "/streams/live/busy").json()
        assert st["alive"] and st["publishes"] == 1
    finally:
        stop(first)


def test_publisher_drops_and_reconnects(server):
    first = publish(server, "live/re", seconds=60)
    server.wait_stream("live/re", segments=2)
    first.kill()  # the encoder dies without unpublishing
    first.wait()
    second = publish(server, "live/re?key=abc", seconds=30)
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            st = server.api("GET", "/streams/live/re").json()
            if st["alive"] and st["publishes"] == 2:
                break
            time.sleep(0.2)
        assert st["alive"] and st["publishes"] == 2, server.output()[-3000:]
        assert second.poll() is None
        # the query string is not part of the name
        names = [s["name"] for s in server.api("GET", "/streams").json()["streams"]]
        assert names == ["live/re"]
        time.sleep(6)
        playlist = server.get("/live/re/index.m3u8", auth=None).body.decode()
        assert "#EXT-X-DISCONTINUITY" in playlist
        dec = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i",
                              server.url("/live/re/index.m3u8"), "-t", "4", "-f", "null", "-"],
                             capture_output=True, timeout=60)
        assert dec.returncode == 0, dec.stderr.decode()
    finally:
        stop(second)


def send_raw(port, data, linger=0.3):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            c.sendall(data)
            time.sleep(linger)
    except OSError:
        pass  # the server may close on us mid-send: that is the point


def test_garbage_then_good_publish(server):
    port = server.rtmp_port
    send_raw(port, os.urandom(200_000))
    send_raw(port, b"\x03" + os.urandom(1536))        # valid C0, random C1, no C2
    send_raw(port, b"\x03" + b"\x00" * 700)            # truncated handshake
    hs = b"\x03" + b"\x00" * 1536
    # handshake then a chunk header claiming a 16 MiB message
    send_raw(port, hs + b"\x00" * 1536 + b"\x02\x00\x00\x00\xff\xff\xff\x14\x00\x00\x00\x00")
    # handshake then a connect command with broken AMF
    send_raw(port, hs + b"\x00" * 1536 + b"\x03\x00\x00\x00\x00\x00\x10\x14\x00\x00\x00\x00"
             + b"\x02\x00\xff" + os.urandom(13))
    # a flood of idle connections
    socks = []
    for _ in range(200):
        try:
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=2))
        except OSError:
            break
    for s in socks:
        s.close()
    pub = publish(server, "live/after", seconds=20)
    try:
        server.wait_stream("live/after", segments=2)
        info = ffprobe_json(server.url("/live/after/index.m3u8"))
        assert {s["codec_type"] for s in info["streams"]} == {"video", "audio"}
    finally:
        stop(pub)
    out = server.output()
    assert "closing" in out.lower() or "close" in out.lower()
