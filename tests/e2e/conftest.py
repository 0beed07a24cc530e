"""End-to-end harness: starts the real build/streamvault on free ports with a temporary
data dir and drives it with real clients (ffmpeg, ffprobe, HTTP).

SV_BINARY selects the binary (the Makefile points it at the normal or the sanitizer
build). When SV_SANITIZED is set, every server's stderr is checked for sanitizer reports
at teardown and the test fails on any."""
import base64
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("SV_BINARY", os.path.join(ROOT, "build", "streamvault"))
SANITIZED = bool(os.environ.get("SV_SANITIZED"))
ADMIN = ("admin", "s3cret-pass")
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)


class Server:
    def __init__(self, tmp_path, config=None, env=None, admin=True):
        self.tmp = tmp_path
        self.data_dir = str(tmp_path / "data")
        self.http_port = free_port()
        self.rtmp_port = free_port()
        self.config = config
        self.env = dict(os.environ)
        if admin:
            self.env["STREAMVAULT_ADMIN"] = "%s:%s" % ADMIN
        else:
            self.env.pop("STREAMVAULT_ADMIN", None)
        self.env.update(env or {})
        self.proc = None
        self.log_path = str(tmp_path / ("server-%d.log" % self.http_port))

    def args(self):
        a = [BINARY, "--data-dir", self.data_dir, "--http-port", str(self.http_port),
             "--rtmp-port", str(self.rtmp_port)]
        if self.config is not None:
            path = self.tmp / "streamvault.conf"
            path.write_text(self.config)
            a += ["--config", str(path)]
        return a

    def start(self, wait=True):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args(), stdout=self.log, stderr=subprocess.STDOUT,
                                     env=self.env)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            assert self.proc.poll() is None, "server exited early:\n" + self.output()
            try:
                with socket.create_connection(("127.0.0.1", self.http_port), timeout=0.5):
                    pass
                with socket.create_connection(("127.0.0.1", self.rtmp_port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("server did not start:\n" + self.output())

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, sig=signal.SIGTERM, timeout=8):
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("server did not stop within %ss" % timeout)
        self.proc = None
        self.log.close()
        return rc

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.proc = None
        self.log.close()

    def check_clean(self):
        out = self.output()
        for marker in SANITIZER_MARKERS:
            assert marker not in out, "sanitizer report in server log:\n" + out[-20000:]

    # ---- HTTP ----
    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.http_port, path)

    def request(self, method, path, body=None, auth=ADMIN, headers=None, timeout=30):
        data = None
        hdrs = dict(headers or {})
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            data = data.encode() if isinstance(data, str) else data
            hdrs.setdefault("Content-Type", "application/json")
        if auth:
            token = base64.b64encode(("%s:%s" % auth).encode()).decode()
            hdrs["Authorization"] = "Basic " + token
        req = urllib.request.Request(self.url(path), data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return Response(r.status, r.headers, r.read())
        except urllib.error.HTTPError as e:
            return Response(e.code, e.headers, e.read())

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def api(self, method, path, body=None, **kw):
        return self.request(method, "/streamer/api/v3" + path, body=body, **kw)

    def rtmp_url(self, name):
        return "rtmp://127.0.0.1:%d/%s" % (self.rtmp_port, name)

    def wait_stream(self, name, timeout=20, segments=1):
        """Waits until the live playlist of name lists at least `segments` segments."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            r = self.get("/%s/index.m3u8" % name, auth=None)
            if r.status == 200 and r.body.count(b"#EXTINF") >= segments:
                return r.body.decode()
            time.sleep(0.2)
        raise AssertionError("no live playlist for %s:\n%s" % (name, self.output()[-5000:]))


def publish(server, name, seconds=30, size="640x360", rate=25, realtime=True, extra=None,
            audio=True, video_codec="libx264"):
    """Starts ffmpeg publishing a lavfi test source (x264 defaults: B-frames on) + AAC."""
    cmd = ["ffmpeg", "-nostdin", "-loglevel", "error"]
    if realtime:
        cmd.append("-re")
    cmd += ["-f", "lavfi", "-i", "testsrc2=size=%s:rate=%d" % (size, rate)]
    if audio:
        cmd += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
    cmd += ["-t", str(seconds), "-c:v", video_codec, "-preset", "veryfast", "-g", str(rate * 2),
            "-pix_fmt", "yuv420p"]
    if audio:
        cmd += ["-c:a", "aac", "-b:a", "96k"]
    cmd += extra or []
    cmd += ["-f", "flv", server.rtmp_url(name)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def ffprobe_json(url_or_path, extra=None, timeout=60):
    cmd = ["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format"]
    cmd += extra or []
    cmd.append(url_or_path)
    out = subprocess.run(cmd, capture_output=True, timeout=timeout)
    assert out.returncode == 0, out.stderr.decode()
    return json.loads(out.stdout)


@pytest.fixture
def server_factory(tmp_path):
    servers = []

    def make(**kw):
        sub = tmp_path / ("s%d" % len(servers))
        sub.mkdir()
        s = Server(sub, **kw)
        servers.append(s)
        return s

    yield make
    for s in servers:
        if s.proc:
            rc = s.stop()
            assert rc == 0, "server exited with %s:\n%s" % (rc, s.output()[-5000:])
        if SANITIZED:
            s.check_clean()


@pytest.fixture
def server(server_factory):
    return server_factory().start()
