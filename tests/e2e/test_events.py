"""Event bus and sinks end to end: publish events reach a webhook in order; a receiver
that is down (refusing, or answering 500) gets every event later, in order, also across a
server restart; only/except filters; HMAC signatures; the outbox bound; sinks managed by
the API; the recent-events ring; /metrics passes promtool and moves with traffic."""
import subprocess
import time

from conftest import publish
from dvr_util import dvr_config
from webhook_receiver import Receiver, verify_signature


def sink_conf(name, url, *lines):
    body = "".join("    %s;\n" % l for l in lines)
    return "event_sink %s {\n    url %s;\n%s}\n" % (name, url, body)


def post_events(server, n, name="test_ping", media=None, start=0):
    ids = []
    for i in range(start, start + n):
        body = {"event": name, "fields": {"seq": i}}
        if media:
            body["media"] = media
        r = server.api("POST", "/events", body)
        assert r.status == 201, r.body
        ids.append(r.json()["id"])
    return ids


def sink_stats(server, name):
    r = server.api("GET", "/event_sinks/" + name)
    assert r.status == 200, r.body
    return r.json()["stats"]


def wait_stats(server, name, pred, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = sink_stats(server, name)
        if pred(st):
            return st
        time.sleep(0.1)
    raise AssertionError("sink %s stats: %r" % (name, sink_stats(server, name)))


def assert_in_order(events, seqs):
    assert [e["fields"]["seq"] if "fields" in e else e["seq"] for e in events] == seqs
    ids = [int(e["id"]) for e in events]
    assert ids == sorted(ids)


def test_publish_events_in_order(server_factory):
    rec = Receiver().start()
    try:
        server = server_factory(config=sink_conf(
            "pub", rec.url + "/hook", "only event=publish_started,publish_stopped")).start()
        p = publish(server, "live/ev", seconds=3, realtime=False)
        assert p.wait(60) == 0, p.stderr.read()
        evs = rec.wait(lambda e: any(x["event"] == "publish_stopped" for x in e))
        assert [e["event"] for e in evs] == ["publish_started", "publish_stopped"]
        assert all(e["media"] == "live/ev" for e in evs)
        assert evs[0]["protocol"] == "rtmp" and evs[1]["bytes_in"] > 0
        assert all(isinstance(e["utc_ms"], int) and e["utc_ms"] > 1.6e12 for e in evs)
        posts = rec.posts_to("/hook")
        assert posts[0][0].get("Content-Type") == "application/json"
        assert posts[0][0].get("X-StreamVault-Sink") == "pub"
    finally:
        rec.stop()


def test_receiver_down_then_up_gets_everything_in_order(server_factory):
    rec = Receiver()  # not started: connection refused
    server = server_factory(config=sink_conf("down", rec.url + "/d", "batch 7")).start()
    post_events(server, 40)
    wait_stats(server, "down", lambda st: st["failures"] >= 2 and st["state"] == "retrying")
    rec.start()
    try:
        evs = rec.wait(lambda e: len(e) >= 40)
        assert len(evs) == 40
        assert [e["seq"] for e in evs] == list(range(40))
        st = wait_stats(server, "down", lambda st: st["depth"] == 0)
        assert st["delivered"] >= 40 and st["dropped"] == 0
        # a receiver answering 500 is retried the same way
        rec.status = 500
        post_events(server, 5, start=40)
        wait_stats(server, "down", lambda st: st["last_status"] == 500)
        rec.status = 200
        evs = rec.wait(lambda e: len(e) >= 45)
        assert [e["seq"] for e in evs] == list(range(45))
    finally:
        rec.stop()


def test_undelivered_events_survive_restart(server_factory):
    rec = Receiver()
    conf = sink_conf("dur", rec.url + "/r", "batch 5", "timeout 2000")
    server = server_factory(config=conf).start()
    before = post_events(server, 20)
    wait_stats(server, "dur", lambda st: st["depth"] == 20)
    assert server.stop() == 0
    server.start()
    assert sink_stats(server, "dur")["depth"] == 20
    after = post_events(server, 20, start=20)
    assert int(after[0]) > int(before[-1]), "ids must keep increasing across restarts"
    rec.start()
    try:
        evs = rec.wait(lambda e: len(e) >= 40)
        assert [e["seq"] for e in evs] == list(range(40))
        assert [e["id"] for e in evs] == before + after
        wait_stats(server, "dur", lambda st: st["depth"] == 0)
    finally:
        rec.stop()


def test_filters_and_signature(server_factory):
    rec = Receiver().start()
    secret = "s3cr3t-key"
    conf = (sink_conf("only_a", rec.url + "/only", "only event=test_a") +
            sink_conf("except_a", rec.url + "/except", "except event=test_a") +
            sink_conf("media_x", rec.url + "/media", "only media=live/x") +
            sink_conf("both", rec.url + "/both", "only event=test_b media=live/*",
                      "except media=live/y") +
            sink_conf("signed", rec.url + "/signed", "secret " + secret))
    try:
        server = server_factory(config=conf).start()
        sent = [("test_a", "live/x"), ("test_b", "live/y"), ("test_a", "live/y"),
                ("test_b", "live/x"), ("test_c", None), ("test_b", "cams/z")]
        for i, (name, media) in enumerate(sent):
            post_events(server, 1, name=name, media=media, start=i)
        rec.wait(lambda e: len(e) == len(sent), path="/signed")

        def got(path, count):
            evs = rec.wait(lambda e: len(e) >= count, path=path)
            time.sleep(0.3)  # nothing more may arrive
            return [e["seq"] for e in rec.unique(path)]

        assert got("/only", 2) == [0, 2]
        assert got("/except", 4) == [1, 3, 4, 5]
        assert got("/media", 2) == [0, 3]
        assert got("/both", 1) == [3]
        posts = rec.posts_to("/signed")
        assert posts and all(verify_signature(secret, h, b) for h, b in posts)
        assert not verify_signature("wrong", posts[0][0], posts[0][1])
        # unsigned sinks carry no signature
        assert all("X-StreamVault-Signature" not in h for h, _ in rec.posts_to("/only"))
    finally:
        rec.stop()


def test_api_sinks_crud_and_persistence(server_factory):
    rec = Receiver().start()
    try:
        server = server_factory(config=sink_conf("conf", rec.url + "/c")).start()
        assert server.api("PUT", "/event_sinks/conf", {"url": rec.url}).status == 409
        assert server.api("DELETE", "/event_sinks/conf").status == 409
        r = server.api("PUT", "/event_sinks/hook1", {
            "url": rec.url + "/api", "only": {"event": ["test_x"]}, "secret": "k",
            "timeout": 3000, "max_outbox": 50, "batch": 10})
        assert r.status == 201, r.body
        j = r.json()
        assert j["source"] == "api" and j["signed"] is True and "secret" not in j
        assert j["only"] == {"event": ["test_x"]} and j["max_outbox"] == 50
        assert server.api("PUT", "/event_sinks/bad", {"url": "ftp://x"}).status == 400
        assert server.api("PUT", "/event_sinks/bad", {"url": rec.url, "only": {"x": [1]}}).status == 400
        assert server.api("PUT", "/event_sinks/bad", b"{not json").status == 400
        assert server.api("GET", "/event_sinks/nope").status == 404
        post_events(server, 3, name="test_x")
        evs = rec.wait(lambda e: len(e) >= 3, path="/api")
        assert all(verify_signature("k", h, b) for h, b in rec.posts_to("/api"))
        names = [s["name"] for s in server.api("GET", "/event_sinks").json()["event_sinks"]]
        assert names == ["conf", "hook1"]
        # API sinks come back after a restart
        assert server.stop() == 0
        server.start()
        j = server.api("GET", "/event_sinks/hook1").json()
        assert j["url"] == rec.url + "/api" and j["signed"] is True
        post_events(server, 1, name="test_x", start=3)
        evs = rec.wait(lambda e: len(e) >= 4, path="/api")
        assert [e["seq"] for e in evs] == [0, 1, 2, 3]
        assert server.api("DELETE", "/event_sinks/hook1").status == 204
        assert server.api("GET", "/event_sinks/hook1").status == 404
        assert server.stop() == 0
        server.start()
        assert server.api("GET", "/event_sinks/hook1").status == 404
        # a test event name must start with test_
        assert server.api("POST", "/events", {"event": "publish_started"}).status == 400
    finally:
        rec.stop()


def test_outbox_bound_drops_oldest(server_factory):
    rec = Receiver()
    server = server_factory(config=sink_conf("small", rec.url + "/s", "max_outbox 5")).start()
    post_events(server, 12)
    st = wait_stats(server, "small", lambda st: st["dropped"] >= 7 and st["depth"] <= 6)
    metrics = server.get("/metrics", auth=None).body.decode()
    assert 'sv_event_sink_dropped_events_total{sink="small"} ' in metrics
    assert "dropped" in server.output() and "max_outbox 5" in server.output()
    rec.start()
    try:
        evs = rec.wait(lambda e: e and e[-1]["seq"] == 11)
        seqs = [e["seq"] for e in evs]
        assert seqs == sorted(seqs) and seqs[-5:] == [7, 8, 9, 10, 11]
        assert len(seqs) <= 6  # the oldest were dropped (one batch may have been in flight)
        st = sink_stats(server, "small")
        assert st["dropped"] + len(seqs) >= 12
    finally:
        rec.stop()


def test_recent_events_ring(server):
    ids = post_events(server, 5, media="live/r")
    r = server.api("GET", "/events")
    assert r.status == 200
    evs = [e for e in r.json()["events"] if e["event"] == "test_ping"]
    assert [e["id"] for e in evs] == ids and all(e["media"] == "live/r" for e in evs)
    r = server.api("GET", "/events?since=%s" % ids[2]).json()["events"]
    assert [e["id"] for e in r] == ids[3:]
    utc = server.api("GET", "/events").json()["events"][-1]["utc_ms"]
    assert [e["id"] for e in server.api("GET", "/events?since=%d" % utc).json()["events"]][-1] == ids[-1]
    assert server.api("GET", "/events?limit=2").status == 200
    assert len(server.api("GET", "/events?limit=2").json()["events"]) == 2
    assert server.api("GET", "/events?since=abc").status == 400
    assert server.api("GET", "/events", auth=None).status == 401


def test_config_errors_name_file_and_line(server_factory):
    server = server_factory(config="event_sink a {\n    url ftp://nowhere;\n}\n")
    server.start(wait=False)
    assert server.proc.wait(10) != 0
    assert "streamvault.conf:2: url needs one http:// or https:// URL" in server.output()
    server.proc = None
    server.log.close()


def promtool(text):
    out = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                         capture_output=True, timeout=30)
    assert out.returncode == 0, out.stdout.decode() + out.stderr.decode()


def metric(text, line_prefix):
    for line in text.splitlines():
        if line.startswith(line_prefix + " "):
            return float(line.split()[-1])
    return None


def wait_metric(server, line_prefix, pred, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        text = server.get("/metrics", auth=None).body.decode()
        v = metric(text, line_prefix)
        if v is not None and pred(v):
            return text
        time.sleep(0.2)
    raise AssertionError("metric %s: %r" % (line_prefix, metric(text, line_prefix)))


def test_metrics_promtool_and_counters_move(server_factory, tmp_path):
    rec = Receiver().start()
    root = tmp_path / "dvr"
    try:
        server = server_factory(config=sink_conf("m", rec.url + "/m") +
                                dvr_config(str(root))).start()
        m0 = server.get("/metrics", auth=None)
        assert m0.status == 200 and m0.headers["Content-Type"].startswith("text/plain")
        promtool(m0.body.decode())
        p = publish(server, "live/m", seconds=30)
        try:
            server.wait_stream("live/m", segments=1)
            t1 = server.get("/metrics", auth=None).body.decode()
            promtool(t1)
            b1 = metric(t1, 'sv_stream_input_bytes_total{stream="live/m"}')
            assert b1 and b1 > 0
            assert metric(t1, 'sv_streams{state="alive"}') == 1
            assert metric(t1, "sv_publishers") == 1
            assert metric(t1, "sv_http_connections") >= 1
            assert metric(t1, 'sv_stream_alive{stream="live/m"}') == 1
            t2 = wait_metric(server, "sv_dvr_segments_written_total", lambda v: v >= 1)
            promtool(t2)
            t2 = wait_metric(server, 'sv_stream_input_bytes_total{stream="live/m"}',
                             lambda v: v > b1)  # the counter moves as traffic flows
            assert metric(t2, "sv_dvr_written_bytes_total") > 0
            t2 = wait_metric(server, 'sv_dvr_archive_bytes{stream="live/m"}', lambda v: v > 0)
            assert metric(t2, 'sv_disk_size_bytes{root="%s"}' % root) > 0
        finally:
            p.kill()
            p.wait()
        post_events(server, 3)
        rec.wait(lambda e: len([x for x in e if x["event"] == "test_ping"]) >= 3)
        deadline = time.time() + 10
        while time.time() < deadline:
            t3 = server.get("/metrics", auth=None).body.decode()
            if metric(t3, 'sv_event_sink_delivered_events_total{sink="m"}') >= 4:
                break
            time.sleep(0.1)
        promtool(t3)
        # publish_started + 3 test events at least
        assert metric(t3, 'sv_event_sink_delivered_events_total{sink="m"}') >= 4
        assert metric(t3, 'sv_events_emitted_total{event="test_ping"}') == 3
        assert metric(t3, 'sv_event_sink_outbox_events{sink="m"}') is not None
    finally:
        rec.stop()
