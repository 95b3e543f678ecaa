"""`xpg serve`: every endpoint, and every way a request is refused."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import warnings

import httpx
import pytest
from investigation_data import RING, dataset, findings, write_dataset
from processes import stop_group
from xpg.queries.findings import stable_id

import xpg.api as api
from xpg.errors import ConfigError
from xpg.serve import Limits, api_keys_from_env, create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

KEY = "test-key-0123456789abcdef"
OTHER = "rotated-key-0123456789abc"
H = {"X-API-Key": KEY}
RING_ID = stable_id("ring", list(RING))
DAY = {"as_of": "2026-11-20"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def session():
    with api.open(dataset=dataset(), findings=findings()) as s:
        yield s


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def client(session, clock):
    app = create_app(session, api_keys=[KEY, OTHER], clock=clock,
                     limits=Limits(rate_limit=1000, max_body=2048, max_ids=3))
    return TestClient(app, raise_server_exceptions=False)


def error(r, status, code):
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"]["status"] == status and body["error"]["code"] == code
    return body["error"]["message"]


# ----------------------------------------------------------------------------- endpoints


def test_health_and_openapi_need_no_key(client):
    assert client.get("/health").json() == {"status": "ok"}
    spec = client.get("/openapi.json").json()
    assert {"/v1/findings", "/v1/findings/{finding_id}", "/v1/users/{user_id}", "/v1/users",
            "/v1/rings/{ring_id}", "/v1/path", "/v1/lenders/{lender_id}"} <= set(spec["paths"])
    user = spec["paths"]["/v1/users/{user_id}"]["get"]
    assert {"200", "401", "403", "404", "422", "429"} <= set(user["responses"])
    assert "UserView" in spec["components"]["schemas"]
    assert client.get("/docs").status_code == 404  # no page that loads assets from a CDN


def test_findings_document_filters_and_pages(client):
    doc = client.get("/v1/findings", headers=H).json()
    assert doc["as_of"] == "2026-11-20" and doc["page"] == {"offset": 0, "limit": 100,
                                                           "total": 4}
    assert doc["findings"] == findings().to_dict()["findings"]
    rings = client.get("/v1/findings", headers=H, params={"type": "ring"}).json()
    assert [f["id"] for f in rings["findings"]] == [RING_ID]
    high = client.get("/v1/findings", headers=H, params={"severity": "high"}).json()
    assert high["page"]["total"] == 2  # the ring and the freeze inconsistency
    u2 = client.get("/v1/findings", headers=H, params={"user": "u2"}).json()
    assert u2["page"]["total"] == 2
    page = client.get("/v1/findings", headers=H, params={"limit": 1, "offset": 3}).json()
    assert len(page["findings"]) == 1 and page["page"]["total"] == 4
    one = client.get(f"/v1/findings/{RING_ID}", headers=H).json()
    assert one["users"] == list(RING)


def test_user_ring_path_lender(client, session):
    u = client.get("/v1/users/u1", headers=H, params={"hops": 2, **DAY}).json()
    assert u == session.user("u1", hops=2, as_of="2026-11-20").to_dict()
    assert u["exposure"]["total"] == 13100.0 and [n["user_id"] for n in u["neighbours"]] == [
        "u2", "u3"]
    r = client.get(f"/v1/rings/{RING_ID}", headers=H).json()
    assert [m["user_id"] for m in r["members"]] == list(RING) and r["exposure"]["total"] == 21950
    p = client.get("/v1/path", headers=H, params={"a": "u5", "b": "u1", "via_lenders": True,
                                                  **DAY}).json()
    assert p["users"] == ["u5", "u6", "u2", "u1"]
    p = client.get("/v1/path", headers=H, params={"a": "u1", "b": "u7", **DAY}).json()
    assert p["found"] is False
    lender = client.get("/v1/lenders/L2", headers=H).json()
    assert (lender["borrowers"], lender["outstanding"]) == (3, 2250.0)


def test_users_batch(client):
    r = client.post("/v1/users", headers=H, json={"ids": ["u1", "u4"], "hops": 0})
    assert r.status_code == 200
    assert [u["user_id"] for u in r.json()["users"]] == ["u1", "u4"]


def test_bearer_and_second_key(client):
    assert client.get("/v1/users/u1", headers={"Authorization": f"Bearer {KEY}"}
                      ).status_code == 200
    assert client.get("/v1/users/u1", headers={"X-API-Key": OTHER}).status_code == 200


# ----------------------------------------------------------------------------- refused


def test_no_key_401(client):
    msg = error(client.get("/v1/findings"), 401, "unauthorized")
    assert "API key" in msg
    assert client.get("/v1/users/u1").headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("key", ["wrong", KEY + "x", KEY[:-1], ""])
def test_bad_key_403(client, key):
    r = client.get("/v1/users/u1", headers={"X-API-Key": key})
    if key == "":
        error(r, 401, "unauthorized")
    else:
        error(r, 403, "forbidden")


@pytest.mark.parametrize(
    "path",
    ["/v1/users/nobody", "/v1/rings/ring-000000000000", f"/v1/rings/{stable_id('x', 'u1')}",
     "/v1/lenders/LX", "/v1/findings/ring-nope", "/v1/path?a=u1&b=nobody", "/v1/nothing"],
)
def test_unknown_id_404(client, path):
    error(client.get(path, headers=H), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "fragment"),
    [
        ("get", "/v1/users/u1", {"params": {"hops": 3}}, "hops"),  # over max_hops = 2
        ("get", "/v1/users/u1", {"params": {"hops": "two"}}, "hops"),
        ("get", "/v1/users/u1", {"params": {"as_of": "20-11-2026"}}, "as_of"),
        ("get", "/v1/users/u1", {"params": {"as_of": "2026-02-30"}}, "valid date"),
        ("get", "/v1/findings", {"params": {"type": "fraud"}}, "type"),
        ("get", "/v1/findings", {"params": {"severity": "severe"}}, "severity"),
        ("get", "/v1/findings", {"params": {"limit": 0}}, "limit"),
        ("get", "/v1/findings", {"params": {"limit": 5000}}, "limit"),
        ("get", "/v1/path", {"params": {"a": "u1"}}, "b"),
        ("get", "/v1/path", {"params": {"a": "u1", "b": "u2", "max_hops": 99}}, "max_hops"),
        ("post", "/v1/users", {"json": {"ids": []}}, "ids"),
        ("post", "/v1/users", {"json": {"ids": ["u1", "u2", "u3", "u4"]}}, "ids"),
        ("post", "/v1/users", {"json": {"ids": "u1"}}, "ids"),
        ("post", "/v1/users", {"json": {"ids": ["u1"], "hops": True}}, "hops"),
        ("post", "/v1/users", {"json": {"ids": ["u1"], "hops": "1"}}, "hops"),
        ("post", "/v1/users", {"content": b"{not json", "headers": {"content-type":
                                                                  "application/json"}}, ""),
    ],
)
def test_malformed_parameters_422(client, method, path, kwargs, fragment):
    headers = {**H, **kwargs.pop("headers", {})}
    r = getattr(client, method)(path, headers=headers, **kwargs)
    assert fragment in error(r, 422, "invalid")


def test_body_too_large_413(client):
    big = {"ids": ["u" * 100] * 30}
    error(client.post("/v1/users", headers=H, json=big), 413, "body_too_large")

    def chunks():  # no Content-Length: counted while read
        yield b'{"ids": ["'
        for _ in range(50):
            yield b"x" * 100
        yield b'"]}'

    r = client.post("/v1/users", headers={**H, "content-type": "application/json"},
                    content=chunks())
    error(r, 413, "body_too_large")


def test_rate_limit_429_per_key_with_retry_after(session, clock):
    app = create_app(session, api_keys=[KEY, OTHER], clock=clock,
                     limits=Limits(rate_limit=3, rate_window=60))
    c = TestClient(app, raise_server_exceptions=False)
    for _ in range(3):
        assert c.get("/v1/lenders/L9", headers=H).status_code == 200
    r = c.get("/v1/lenders/L9", headers=H)
    error(r, 429, "rate_limited")
    assert r.headers["retry-after"] == "60"
    assert c.get("/v1/lenders/L9", headers={"X-API-Key": OTHER}).status_code == 200
    clock.now += 30
    assert c.get("/v1/lenders/L9", headers=H).status_code == 429
    assert c.get("/v1/lenders/L9", headers=H).headers["retry-after"] == "30"
    clock.now += 30.5
    assert c.get("/v1/lenders/L9", headers=H).status_code == 200
    # refused keys are not counted against anyone, and health is never limited
    for _ in range(5):
        assert c.get("/health").status_code == 200


def test_internal_errors_say_nothing_inside(session):
    class Broken:
        def __getattr__(self, name):
            return getattr(session, name)

        def lender(self, *a, **k):
            raise RuntimeError("secret internals")

    c = TestClient(create_app(Broken(), api_keys=[KEY]), raise_server_exceptions=False)
    msg = error(c.get("/v1/lenders/L2", headers=H), 500, "internal")
    assert "secret" not in msg


def test_keys_from_the_environment_only():
    assert api_keys_from_env({"XPG_API_KEY": f"{KEY}, {OTHER}"}) == (KEY, OTHER)
    with pytest.raises(ConfigError, match="XPG_API_KEY"):
        api_keys_from_env({})
    with pytest.raises(ConfigError, match="at least 16"):
        api_keys_from_env({"XPG_API_KEY": "short"})


# ----------------------------------------------------------------------------- the CLI


def test_cli_without_a_key_exits_2(tmp_path, monkeypatch, capsys):
    from xpg.cli import main

    monkeypatch.delenv("XPG_API_KEY", raising=False)
    assert main(["serve", "--data", str(tmp_path)]) == 2
    assert "XPG_API_KEY" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_health(proc: subprocess.Popen, port: int, timeout: float = 60) -> str:
    """The base URL of the server ``proc`` started on ``port``, once /health answers."""
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(f"{base}/health", timeout=1)
            return base
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop_group(proc)  # before reading: a live server's stderr never ends
                pytest.fail(f"xpg serve did not start: {proc.stderr.read()[-2000:]}")
            time.sleep(0.2)


def test_cli_serves_on_loopback(tmp_path):
    data = write_dataset(tmp_path / "data")
    port = _free_port()
    env = {**os.environ, "XPG_API_KEY": KEY}
    # its own process group: stop_group ends it (and anything it started), SIGKILL if it hangs
    with subprocess.Popen(
        [sys.executable, "-c", "from xpg.cli import main; main()", "serve", "--data", str(data),
         "--port", str(port), "--as-of", "2026-11-20"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    ) as proc:
        try:
            base = wait_for_health(proc, port)
            r = httpx.get(f"{base}/v1/rings/{RING_ID}", headers=H, timeout=10)
            assert r.status_code == 200 and r.json()["as_of"] == "2026-11-20"
            assert httpx.get(f"{base}/v1/rings/{RING_ID}", timeout=10).status_code == 401
        finally:
            stop_group(proc)
