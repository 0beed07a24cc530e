"""A webhook receiver for the event sink tests: a ThreadingHTTPServer in a thread that
records every POST (path, headers, raw body, parsed events). It can answer with a chosen
status (e.g. 500) or be stopped entirely (connection refused) and started again on the
same port, to play a receiver that is down."""
import hashlib
import hmac
import http.server
import json
import socket
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver:
    def __init__(self, port=None):
        self.port = port or free_port()
        self.posts = []          # (path, headers dict, raw body)
        self.status = 200
        self.lock = threading.Lock()
        self.httpd = None
        self.thread = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                status = rec.status
                if status == 200:
                    with rec.lock:
                        rec.posts.append((self.path, dict(self.headers), body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    # ---- what arrived ----
    def events(self, path=None):
        """Every event received (in arrival order), optionally only those POSTed to path."""
        with self.lock:
            posts = list(self.posts)
        out = []
        for p, _, body in posts:
            if path is None or p == path:
                out.extend(json.loads(body))
        return out

    def unique(self, path=None):
        """Events with duplicates (same id, at-least-once redelivery) removed."""
        seen, out = set(), []
        for e in self.events(path):
            if e["id"] not in seen:
                seen.add(e["id"])
                out.append(e)
        return out

    def wait(self, pred, timeout=30, path=None):
        deadline = time.time() + timeout
        while time.time() < deadline:
            evs = self.unique(path)
            if pred(evs):
                return evs
            time.sleep(0.05)
        raise AssertionError("receiver: condition not met; got %r" % self.unique(path)[-20:])

    def posts_to(self, path):
        with self.lock:
            return [(h, b) for p, h, b in self.posts if p == path]


def verify_signature(secret, headers, body):
    sig = {k.lower(): v for k, v in headers.items()}.get("x-streamvault-signature", "")
    want = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(sig, want)
