"""Process behaviour: flags, config errors, credentials, auth, shutdown, HTTP errors."""
import base64
import http.client
import os
import re
import signal
import socket
import subprocess
import time

from conftest import BINARY, Server


def run(args, env=None, timeout=10):
    return subprocess.run([BINARY] + args, capture_output=True, timeout=timeout, env=env)


def test_help_and_version():
    r = run(["--help"])
    assert r.returncode == 0
    assert b"--data-dir" in r.stdout and b"--rtmp-port" in r.stdout
    r = run(["--version"])
    assert r.returncode == 0 and re.match(rb"streamvault \d+\.\d+\.\d+", r.stdout)
    r = run(["--bogus"])
    assert r.returncode != 0


def test_config_error_names_file_and_line(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("http_port 8080;\nrtmp_port 1935;\nfrobnicate yes;\n")
    r = run(["--config", str(conf), "--data-dir", str(tmp_path / "d")])
    assert r.returncode != 0
    assert ("%s:3" % conf).encode() in r.stderr, r.stderr
    conf.write_text("http_port 99999999;\n")
    r = run(["--config", str(conf), "--data-dir", str(tmp_path / "d")])
    assert r.returncode != 0 and ("%s:1" % conf).encode() in r.stderr
    conf.write_text("stream live/x {\n  dvr { root /tmp;\n")
    r = run(["--config", str(conf), "--data-dir", str(tmp_path / "d")])
    assert r.returncode != 0 and str(conf).encode() in r.stderr


def test_config_file_and_flags(server_factory, tmp_path):
    s = server_factory(config="# ports come from flags, which win\nhttp_port 1;\nrtmp_port 2;\n"
                              "admin boss:hunter2;\nlive_segment_duration 1000;\n",
                       admin=False)
    s.start()
    r = s.api("GET", "/streams", auth=("boss", "hunter2"))
    assert r.status == 200
    assert r.json()["streams"] == []


def test_generated_password_printed_once_and_kept(server_factory):
    s = server_factory(admin=False).start()
    out = s.output()
    m = re.search(r"password: (\S+)", out)
    assert m, out
    password = m.group(1)
    secret = open(os.path.join(s.data_dir, "admin.secret")).read().strip()
    assert secret == "admin:" + password
    assert oct(os.stat(os.path.join(s.data_dir, "admin.secret")).st_mode & 0o777) == "0o600"
    assert s.api("GET", "/streams", auth=("admin", password)).status == 200
    assert s.stop() == 0
    s.start()
    assert s.output().count("password:") == 1  # not printed again on the second start
    assert s.api("GET", "/streams", auth=("admin", password)).status == 200


def test_api_requires_credentials(server):
    r = server.api("GET", "/streams", auth=None)
    assert r.status == 401
    assert r.headers["WWW-Authenticate"].startswith("Basic")
    assert r.json()["error"]["code"]
    assert server.api("GET", "/streams", auth=("admin", "wrong")).status == 401
    assert server.api("GET", "/streams/live/x", auth=None).status == 401
    r = server.request("GET", "/streamer/api/v3/streams", auth=None,
                       headers={"Authorization": "Bearer s3cret-pass"})
    assert r.status == 200
    r = server.request("GET", "/streamer/api/v3/streams", auth=None,
                       headers={"Authorization": "Bearer nope"})
    assert r.status == 401


def test_http_errors_are_json(server):
    r = server.get("/no/such/thing")
    assert r.status == 404 and r.json()["error"]["code"] == "not_found"
    r = server.get("/live/none/index.m3u8")
    assert r.status == 404 and "error" in r.json()
    r = server.api("GET", "/nonexistent")
    assert r.status == 404 and "error" in r.json()
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=5) as c:
        c.sendall(b"THIS IS NOT HTTP\r\n\r\n")
        data = b""
        while True:
            chunk = c.recv(4096)
            if not chunk:
                break
            data += chunk
    assert data.startswith(b"HTTP/1.1 400")
    assert b'{"error":' in data


def test_keep_alive(server):
    c = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=5)
    auth = "Basic " + base64.b64encode(b"admin:s3cret-pass").decode()
    for _ in range(3):
        c.request("GET", "/streamer/api/v3/streams", headers={"Authorization": auth})
        r = c.getresponse()
        assert r.status == 200
        r.read()
    sock = c.sock
    c.request("GET", "/streamer/api/v3/streams", headers={"Authorization": auth})
    c.getresponse().read()
    assert c.sock is sock  # the same TCP connection served every request
    c.close()


def test_sigterm_and_sigint_stop_quickly(server_factory):
    for sig in (signal.SIGTERM, signal.SIGINT):
        s = server_factory().start()
        t0 = time.time()
        assert s.stop(sig=sig) == 0
        assert time.time() - t0 < 5
        assert "shutting down" in s.output()


def test_viewer_tokens(server_factory, tmp_path):
    """With viewer_secret set, media routes need a signed, expiring token for that stream;
    playlists carry it into their segment URIs."""
    import hashlib
    import hmac
    from conftest import publish, ffprobe_json
    s = server_factory(config="viewer_secret v1ewer-s3cret;\ndvr { root %s; }\n"
                       % (tmp_path / "dvr")).start()
    pub = publish(s, "live/tok", seconds=20, size="320x240")
    try:
        deadline = time.time() + 30
        r = s.api("POST", "/streams/live/tok/token?ttl=600").json()
        token = r["token"]
        # the documented formula gives the same token
        exp = r["expires"]
        sig = hmac.new(b"v1ewer-s3cret", ("live/tok:%d" % exp).encode(), hashlib.sha256)
        assert token == "%d.%s" % (exp, sig.hexdigest()[:32])
        while time.time() < deadline:
            p = s.get("/live/tok/index.m3u8?token=" + token, auth=None)
            if p.status == 200 and b"#EXTINF" in p.body:
                break
            time.sleep(0.3)
        assert p.status == 200
        uris = [l for l in p.body.decode().splitlines() if l and not l[0] == "#"]
        assert uris and all(u.endswith("?token=" + token) for u in uris)
        assert s.get("/live/tok/" + uris[0], auth=None).status == 200
        # ffprobe follows the tokenised URIs
        info = ffprobe_json(s.url("/live/tok/index.m3u8?token=" + token))
        assert info["streams"]
        # refused: no token, a bad one, another stream's, an expired one
        assert s.get("/live/tok/index.m3u8", auth=None).status == 403
        assert s.get("/live/tok/index.m3u8?token=123.abc", auth=None).status == 403
        other = s.api("POST", "/streams/live/other/token").json()["token"]
        assert s.get("/live/tok/index.m3u8?token=" + other, auth=None).status == 403
        old = int(time.time()) - 10
        sig = hmac.new(b"v1ewer-s3cret", ("live/tok:%d" % old).encode(), hashlib.sha256)
        r = s.get("/live/tok/index.m3u8?token=%d.%s" % (old, sig.hexdigest()[:32]), auth=None)
        assert r.status == 403 and r.json()["error"]["code"] == "forbidden"
        assert s.get("/live/tok/" + uris[0].split("?")[0], auth=None).status == 403
    finally:
        pub.kill()
        pub.wait()
