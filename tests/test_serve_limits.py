"""``xpg serve`` under hostile or heavy use: run dates, the access log, batches per id and
by cost, refused keys per client, the key before the body, Allow, id lengths, /metrics,
and the workers' shared tables."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import subprocess
import sys
import tracemalloc
import warnings

import httpx
import pytest
from investigation_data import dataset, findings, write_dataset
from processes import stop_group
from test_serve import KEY, RING_ID, Clock, H, _free_port, wait_for_health

import xpg.api as api
from xpg.serve import ACCESS_LOGGER, Limits, create_app
from xpg.serve.limits import batch_cost

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient



@pytest.fixture(scope="module")
def session():
    with api.open(dataset=dataset(), findings=findings()) as s:
        yield s


def client_for(session, **limits):
    clock = Clock()
    app = create_app(session, api_keys=[KEY], clock=clock,
                     limits=Limits(**{"rate_limit": 10_000, **limits}))
    return TestClient(app, raise_server_exceptions=False), clock


@pytest.fixture(scope="module")
def client(session):
    return client_for(session, max_ids=100)[0]


# ----------------------------------------------------------------------------- run dates


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "2026-11-19", "2000-02-29"])
@pytest.mark.parametrize("path", ["/v1/users/u1", "/v1/findings", f"/v1/rings/{RING_ID}",
                                  "/v1/lenders/L2", f"/v1/findings/{RING_ID}",
                                  "/v1/path?a=u1&b=u2"])
def test_dates_not_held_are_422_with_a_clear_body(client, caplog, path, day):
    with caplog.at_level(logging.DEBUG):
        r = client.get(f"{path}{'&' if '?' in path else '?'}as_of={day}", headers=H)
    assert r.status_code == 422
    msg = r.json()["error"]["message"]
    assert f"as_of: {day} is not a run date" in msg and "2026-11-20" in msg
    assert "Traceback" not in caplog.text and "ERROR" not in caplog.text


def test_the_date_held_is_answered_and_declared(client):
    assert client.get("/v1/users/u1", headers=H, params={"as_of": "2026-11-20"}
                      ).status_code == 200
    spec = client.get("/openapi.json").json()
    for path, ops in spec["paths"].items():
        for op in ops.values():
            for p in op.get("parameters", []):
                if p["name"] == "as_of":
                    assert p["schema"]["format"] == "date", path
                    assert p["schema"]["enum"] == ["2026-11-20"], path


def test_memory_flat_over_200_distinct_run_dates(session):
    c, _ = client_for(session)
    days = [(dt.date(2020, 1, 1) + dt.timedelta(days=i)).isoformat() for i in range(200)]
    for d in days[:20]:  # warm whatever a first request builds
        c.get("/v1/users/u1", headers=H, params={"as_of": d})
    cached = len(session._findings)
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for d in days:
            assert c.get("/v1/users/u1", headers=H, params={"as_of": d}).status_code == 422
            assert c.get("/v1/findings", headers=H, params={"as_of": d}).status_code == 422
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
    assert grown < 512 * 1024, grown  # no detection kept, nothing cached per date
    assert len(session._findings) == cached == 1


# ----------------------------------------------------------------------------- access log

SECRET = "2088000000104729"


@pytest.mark.parametrize("path", [
    f"/v1/users/{SECRET}", f"/V1/users/{SECRET}", f"//v1/users/{SECRET}",
    f"/v1//users/{SECRET}", f"/health/{SECRET}", f"/v1/{SECRET}", f"/{SECRET}",
    f"/v1/users/{SECRET}/extra", f"/v1/findings/{SECRET}", f"/v1/rings/{SECRET}",
    f"/v1/lenders/{SECRET}", f"/metrics/{SECRET}", f"/v1/users/x{SECRET}x",
    f"/v1/USERS/{SECRET}", f"/v1/users/{SECRET}%2Fmore", f"/v1/users/%32{SECRET[1:]}",
    f"/v1/users/{SECRET}?hops=1",
])
def test_every_path_spelling_is_hashed_in_the_access_log(client, caplog, path):
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        client.get(path, headers=H)
        client.post(path, headers=H, json={"ids": [SECRET]})
    lines = [r.getMessage() for r in caplog.records if r.name == ACCESS_LOGGER]
    assert len(lines) == 2
    assert all(SECRET not in line and SECRET[:8] not in line for line in lines), lines


# ----------------------------------------------------------------------------- batches


def test_a_batch_answers_per_id(client):
    r = client.post("/v1/users", headers=H, json={"ids": ["u1", "nobody", "u4"], "hops": 0})
    assert r.status_code == 200
    body = r.json()
    assert [u["user_id"] for u in body["users"]] == ["u1", "u4"]
    assert body["errors"] == [{"id": "nobody", "error": {
        "status": 404, "code": "not_found", "message": body["errors"][0]["error"]["message"]}}]
    assert "nobody" in body["errors"][0]["error"]["message"]
    only_unknown = client.post("/v1/users", headers=H, json={"ids": ["x", "y"]}).json()
    assert only_unknown["users"] == [] and [e["id"] for e in only_unknown["errors"]] == ["x",
                                                                                        "y"]


def test_a_batch_counts_by_its_size(session):
    limits = Limits(rate_limit=40, max_ids=100)
    assert batch_cost(100, 2, limits) == 30 and batch_cost(1, 0, limits) == 1
    c, clock = client_for(session, rate_limit=40, max_ids=100)
    ids = [f"u{i}" for i in range(100)]
    assert c.post("/v1/users", headers=H, json={"ids": ids, "hops": 2}).status_code == 200
    r = c.post("/v1/users", headers=H, json={"ids": ids, "hops": 2})
    assert r.status_code == 429 and int(r.headers["retry-after"]) == 60
    for _ in range(9):  # 1 + 30 used by the first batch, 1 by the refused one
        assert c.get("/v1/lenders/L2", headers=H).status_code == 200
    assert c.get("/v1/lenders/L2", headers=H).status_code == 429
    clock.now += 61
    assert c.get("/v1/lenders/L2", headers=H).status_code == 200


def test_a_request_costing_more_than_the_limit_says_so(session):
    c, _ = client_for(session, rate_limit=5, max_ids=100)
    r = c.post("/v1/users", headers=H, json={"ids": [f"u{i}" for i in range(100)]})
    assert r.status_code == 429 and "fewer ids" in r.json()["error"]["message"]


# ----------------------------------------------------------------------------- keys


def test_refused_keys_are_rate_limited_per_client(session):
    c, clock = client_for(session, wrong_key_limit=3)
    for _ in range(2):
        assert c.get("/v1/users/u1", headers={"X-API-Key": "wrong-key-0123456789"}
                     ).status_code == 403
    assert c.get("/v1/users/u1").status_code == 401  # no key counts too
    r = c.get("/v1/users/u1", headers={"X-API-Key": "wrong-key-0123456789"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) == 60
    # the client is refused before its key is looked at, right key included
    assert c.get("/v1/users/u1", headers=H).status_code == 429
    assert c.get("/health").status_code == 200  # never limited
    clock.now += 61
    assert c.get("/v1/users/u1", headers=H).status_code == 200


def test_the_key_is_checked_before_the_body_is_read(session):
    app = create_app(session, api_keys=[KEY])
    read = []

    async def receive():
        read.append(True)
        return {"type": "http.request", "body": b'{"ids": ["u1"]}', "more_body": False}

    sent = []

    async def send(message):
        sent.append(message)

    for headers in ([(b"x-api-key", b"wrong-key-0123456789")], []):
        read.clear()
        sent.clear()
        scope = {"type": "http", "method": "POST", "path": "/v1/users", "raw_path": b"/v1/users",
                 "query_string": b"", "headers": [(b"content-type", b"application/json"),
                                                  (b"content-length", b"15"), *headers],
                 "client": ("127.0.0.9", 5000), "server": ("127.0.0.1", 80), "scheme": "http",
                 "http_version": "1.1", "root_path": "", "app": app}
        asyncio.run(app(scope, receive, send))
        assert sent[0]["status"] in (401, 403) and not read


# ----------------------------------------------------------------------------- HTTP


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("delete", "/v1/findings", "GET"), ("post", "/health", "GET"), ("get", "/v1/users", "POST"),
    ("put", "/v1/users/u1", "GET"), ("post", "/metrics", "GET"), ("patch", "/v1/path", "GET"),
])
def test_405_carries_allow(client, method, path, allow):
    r = client.request(method.upper(), path, headers=H)
    assert r.status_code == 405 and r.headers["allow"] == allow
    assert r.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize("path", ["/v1/users/{}", "/v1/rings/{}", "/v1/findings/{}",
                                  "/v1/lenders/{}", "/v1/path?a={}&b=u1",
                                  "/v1/findings?user={}"])
def test_ids_are_length_limited_everywhere_and_not_echoed(client, path):
    long_id = "Z" * 50_000  # (httpx refuses URLs over 64 KiB)
    r = client.get(path.format(long_id), headers=H)
    assert r.status_code == 422 and "ZZZZ" not in r.text
    r = client.post("/v1/users", headers=H, json={"ids": ["Z" * 201]})
    assert r.status_code == 422 and "ZZZZ" not in r.text
    r = client.get(path.format("Y" * 200), headers=H)
    assert r.status_code in (200, 404) and len(r.text) < 2000


def test_metrics_count_requests_latencies_and_errors(session):
    c, _ = client_for(session)
    c.get("/v1/users/u1", headers=H)
    c.get("/v1/users/nobody", headers=H)
    c.get("/v1/users/u1")
    r = c.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert ('xpg_http_requests_total{method="GET",route="/v1/users/{user_id}",status="200"} 1.0'
            in text)
    assert 'xpg_http_errors_total{route="/v1/users/{user_id}",status="404"} 1.0' in text
    assert 'xpg_http_errors_total{route="unmatched",status="401"} 1.0' in text or \
        'xpg_http_errors_total{route="/v1/users/{user_id}",status="401"} 1.0' not in text
    assert "xpg_http_request_duration_seconds_bucket" in text
    assert "nobody" not in text  # route templates only, never an id


def test_health_is_answered_on_the_event_loop():
    from xpg.serve.routes import service

    route = next(r for r in service.router(None).routes if r.path == "/health")
    assert asyncio.iscoroutinefunction(route.endpoint)


def test_a_crash_answers_500_with_no_traceback_in_the_log(session, caplog):
    class Broken:
        def __getattr__(self, name):
            return getattr(session, name)

        def lender(self, *a, **k):
            raise RuntimeError("secret internals at /home/x/file.py")

    c = TestClient(create_app(Broken(), api_keys=[KEY]), raise_server_exceptions=False)
    with caplog.at_level(logging.DEBUG):
        r = c.get("/v1/lenders/L2", headers=H)
    assert r.status_code == 500 and "secret" not in r.text
    assert "secret" not in caplog.text and "Traceback" not in caplog.text
    assert "RuntimeError" in caplog.text


# ----------------------------------------------------------------------------- workers


def test_workers_answer_from_the_shared_tables_as_the_session(tmp_path):
    from xpg.serve.workers import open_shared, share

    data = write_dataset(tmp_path / "data")
    shared = tmp_path / "shared"
    shared.mkdir()
    with api.open(data=data, as_of=dt.date(2026, 11, 20)) as s:
        share(s, shared, limits=Limits(rate_limit=7), workers=2)
        w, limits, workers = open_shared(shared)
        assert (limits.rate_limit, workers) == (7, 2)
        rid = next(f.id for f in s.findings().findings if f.type == "ring")
        assert w.ring(rid).to_dict() == s.ring(rid).to_dict()
        for u in ("u1", "u2", "u5"):
            assert w.user(u, hops=2).to_dict() == s.user(u, hops=2).to_dict()
        lender = w.lender("L2").to_dict()
        assert lender == s.lender("L2").to_dict()
        assert w.path("u5", "u1", via_lenders=True).to_dict() == s.path(
            "u5", "u1", via_lenders=True).to_dict()


def test_cli_serves_with_workers_and_sums_their_metrics(tmp_path):
    data = write_dataset(tmp_path / "data")
    port = _free_port()
    env = {**os.environ, "XPG_API_KEY": KEY}
    with subprocess.Popen(
        [sys.executable, "-c", "from xpg.cli import main; main()", "serve", "--data", str(data),
         "--port", str(port), "--as-of", "2026-11-20", "--workers", "2"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    ) as proc:
        try:
            base = wait_for_health(proc, port, timeout=120)
            with httpx.Client(base_url=base, headers=H, timeout=20) as c:
                for _ in range(6):  # new connections: the kernel spreads them over the workers
                    r = httpx.get(f"{base}/v1/rings/{RING_ID}", headers=H, timeout=20)
                    assert r.status_code == 200 and r.json()["as_of"] == "2026-11-20"
                assert c.get("/v1/users/u1", params={"as_of": "0001-01-01"}).status_code == 422
                text = c.get("/metrics").text
            line = next(x for x in text.splitlines() if x.startswith(
                'xpg_http_requests_total{method="GET",route="/v1/rings/{ring_id}"'))
            assert float(line.split()[-1]) == 6.0
        finally:
            stop_group(proc)
        err = proc.stderr.read()
        assert "Traceback" not in err and "2 worker(s)" in err
        assert "/v1/rings/#" in err and RING_ID not in err


def test_a_body_that_is_not_json_is_422_as_declared(session):
    """Bytes that are not JSON (not even UTF-8) get the declared 422, never an
    undeclared 400 (Schemathesis found it)."""
    r = client_for(session)[0].post("/v1/users", headers={**H, "Content-Type": "application/json"},
                                 content=b"f\xff\xfe\x00D")
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid"
