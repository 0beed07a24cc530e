#!/usr/bin/python3
"""Opens N RTMP publishers that complete handshake, connect, createStream and publish,
then send nothing: the per-idle-publisher memory benchmark. Usage:
  idle_publishers.py HOST PORT N SECONDS [READY_FILE]
READY_FILE is created once all N are publishing; SECONDS counts from then."""
import socket
import struct
import sys
import time


def amf_str(s):
    b = s.encode()
    return b"\x02" + struct.pack(">H", len(b)) + b


def amf_num(n):
    return b"\x00" + struct.pack(">d", n)


def amf_obj(d):
    out = b"\x03"
    for k, v in d.items():
        kb = k.encode()
        out += struct.pack(">H", len(kb)) + kb + amf_str(v)
    return out + b"\x00\x00\x09"


def chunk(csid, msg_type, payload, stream_id=0):
    # fmt 0 header, then fmt 3 continuations every 128 bytes
    out = bytes([csid]) + b"\x00\x00\x00" + struct.pack(">I", len(payload))[1:] + \
        bytes([msg_type]) + struct.pack("<I", stream_id)
    for i in range(0, len(payload), 128):
        if i:
            out += bytes([0xC0 | csid])
        out += payload[i:i + 128]
    return out


def publisher(host, port, i):
    s = socket.create_connection((host, port))
    s.sendall(b"\x03" + b"\x00" * 1536)
    need = 1 + 1536 + 1536
    got = b""
    while len(got) < need:
        got += s.recv(need - len(got))
    s.sendall(got[1:1537])  # C2 = S1
    s.sendall(chunk(3, 20, amf_str("connect") + amf_num(1) +
                    amf_obj({"app": "idle", "tcUrl": "rtmp://%s:%d/idle" % (host, port)})))
    s.sendall(chunk(3, 20, amf_str("createStream") + amf_num(2) + b"\x05"))
    time.sleep(0.05)
    s.sendall(chunk(8, 20, amf_str("publish") + amf_num(3) + b"\x05" + amf_str("p%d" % i) +
                    amf_str("live"), stream_id=1))
    s.setblocking(False)
    return s


def main():
    host, port, n, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    socks = [publisher(host, port, i) for i in range(n)]
    time.sleep(0.5)
    if len(sys.argv) > 5:
        open(sys.argv[5], "w").close()
    deadline = time.time() + secs
    while time.time() < deadline:
        for s in socks:
            try:
                s.recv(65536)
            except BlockingIOError:
                pass
        time.sleep(0.2)
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
