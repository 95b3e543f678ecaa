"""`xpg serve`'s case routes: the write key, the analyst on every write, the audit trail,
conflicts and bad input."""

from __future__ import annotations

import warnings

import pytest
from investigation_data import AS_OF, RING, dataset
from xpg.queries.findings import stable_id

import xpg.api as api
from xpg.serve import Limits, create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

READ = {"X-API-Key": "read-key-0123456789abcdef"}
WRITE = {"X-API-Key": "write-key-0123456789abcdef"}
RING_ID = stable_id("ring", list(RING))


@pytest.fixture
def client(tmp_path, monkeypatch):
    monkeypatch.setenv("XPG_API_WRITE_KEY", WRITE["X-API-Key"])
    with api.open(dataset=dataset(), as_of=AS_OF) as s:
        s.use_reports(tmp_path / "reports")
        app = create_app(s, api_keys=[READ["X-API-Key"]], limits=Limits(rate_limit=1000))
        yield TestClient(app, raise_server_exceptions=False)


def test_write_then_read_the_audit_trail(client):
    r = client.post(f"/v1/cases/{RING_ID}/assignment", headers=WRITE,
                    json={"by": "alice", "assignee": "bob"})
    assert r.status_code == 200, r.text
    assert r.json()["assignee"] == "bob" and r.json()["version"] == 2
    r = client.post(f"/v1/cases/{RING_ID}/decision", headers=WRITE,
                    json={"by": "bob", "outcome": "false_positive", "note": "family tablet",
                          "expected_version": 2})
    assert r.status_code == 200 and r.json()["status"] == "closed"
    shown = client.get(f"/v1/cases/{RING_ID}", headers=READ).json()
    assert [(e["what"], e["by"]) for e in shown["events"]] == [
        ("opened", "alice"), ("assigned", "alice"), ("decided", "bob")]
    assert shown["events"][-1]["note"] == "family tablet"
    listed = client.get("/v1/cases", headers=READ, params={"status": "closed"}).json()
    assert [c["finding_id"] for c in listed["cases"]] == [RING_ID]
    stats = client.get("/v1/cases/stats", headers=WRITE).json()  # a write key reads too
    assert stats["rules"]["ring"]["false_positive"] == 1


def test_the_read_key_cannot_write(client):
    r = client.post(f"/v1/cases/{RING_ID}/notes", headers=READ, json={"by": "a", "text": "x"})
    assert r.status_code == 403 and "only read" in r.json()["error"]["message"]
    r = client.post(f"/v1/cases/{RING_ID}/notes", json={"by": "a", "text": "x"})
    assert r.status_code == 401
    r = client.post(f"/v1/cases/{RING_ID}/notes", headers={"X-API-Key": "x" * 20},
                    json={"by": "a", "text": "x"})
    assert r.status_code == 403
    assert client.get("/v1/cases", headers=READ).json() == {"cases": []}


def test_writes_refused_without_a_write_key_set(tmp_path, monkeypatch):
    monkeypatch.delenv("XPG_API_WRITE_KEY", raising=False)
    with api.open(dataset=dataset(), as_of=AS_OF) as s:
        s.use_reports(tmp_path)
        client = TestClient(create_app(s, api_keys=[READ["X-API-Key"]]),
                            raise_server_exceptions=False)
        r = client.post("/v1/cases", headers=READ, json={"by": "a", "user": "u1"})
        assert r.status_code == 403 and "XPG_API_WRITE_KEY" in r.json()["error"]["message"]


def test_bad_input_and_conflicts_write_nothing(client):
    for body, status in [
        ({"by": "a", "outcome": "fraud"}, 422),
        ({"outcome": "benign"}, 422),                      # no analyst
        ({"by": "a", "outcome": "benign", "note": "x" * 20_000}, 422),
        ({"by": "a", "outcome": "benign", "snooze_until": "2020-01-01"}, 422),
    ]:
        r = client.post(f"/v1/cases/{RING_ID}/decision", headers=WRITE, json=body)
        assert r.status_code == status, (body, r.text)
    r = client.post("/v1/cases/ring-unknown/decision", headers=WRITE,
                    json={"by": "a", "outcome": "benign"})
    assert r.status_code == 404
    r = client.post(f"/v1/cases/{RING_ID}/notes", headers=WRITE,
                    content=b'{"by": "a", "text": "' + b"x" * 1_000_000 + b'"}')
    assert r.status_code == 413
    assert client.get("/v1/cases", headers=READ).json() == {"cases": []}
    client.post(f"/v1/cases/{RING_ID}/notes", headers=WRITE, json={"by": "a", "text": "one"})
    r = client.post(f"/v1/cases/{RING_ID}/notes", headers=WRITE,
                    json={"by": "b", "text": "two", "expected_version": 1})
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
    assert len(client.get(f"/v1/cases/{RING_ID}", headers=READ).json()["events"]) == 2


def test_open_by_hand_and_reopen(client):
    r = client.post("/v1/cases", headers=WRITE, json={"by": "alice", "user": "u5",
                                                     "note": "appeal against a freeze"})
    assert r.status_code == 200 and r.json()["subject"] == "user:u5"
    case_id = r.json()["case_id"]
    client.post(f"/v1/cases/{case_id}/decision", headers=WRITE,
                json={"by": "alice", "outcome": "benign"})
    r = client.post(f"/v1/cases/{case_id}/status", headers=WRITE,
                    json={"by": "carol", "status": "open", "note": "new evidence"})
    assert r.status_code == 200 and r.json()["status"] == "open"


def test_a_case_ref_is_length_limited_and_never_echoed_beyond_it(client):
    # a 60 KB ref was answered 404 with the whole ref in the body, where every other id in
    # a path is refused (422) at 200 characters and never echoed
    long = "c" * 60_000  # httpx refuses URLs over 64 KiB itself
    for method, path, body in [("GET", f"/v1/cases/{long}", None),
                               ("POST", f"/v1/cases/{long}/notes", {"by": "a", "text": "x"}),
                               ("POST", f"/v1/cases/{long}/decision",
                                {"by": "a", "outcome": "benign"})]:
        r = client.request(method, path, headers=WRITE, json=body)
        assert r.status_code == 422, (path[:40], r.status_code)
        assert len(r.content) < 1000 and "ccccc" not in r.text
    assert client.get("/v1/cases/" + "c" * 200, headers=READ).status_code == 404
    assert "paths" in client.get("/openapi.json").json()
    assert client.get("/v1/cases", headers=READ).json() == {"cases": []}


def test_a_full_disk_under_the_case_store_is_503_without_the_path(client, monkeypatch):
    from xpg.cases.sqlite import SqliteCaseStore
    from xpg.errors import StorageError

    def full(self, *a, **k):
        raise StorageError("/srv/secret/reports/cases.sqlite: no space left on the device",
                           path="/srv/secret/reports/cases.sqlite", errno=28,
                           reason="no space left on the device")

    monkeypatch.setattr(SqliteCaseStore, "_transact", full)
    r = client.post(f"/v1/cases/{RING_ID}/notes", headers=WRITE, json={"by": "a", "text": "x"})
    assert r.status_code == 503, r.text
    assert r.json()["error"] == {"status": 503, "code": "storage_unavailable",
                                 "message": "the file system refused: no space left on "
                                            "the device"}
