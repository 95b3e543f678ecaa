"""Screening an applicant (contract v3): the verdict and its reasons on memory and Neo4j,
``xpg screen`` and ``POST /v1/screen`` on both backends, bad input refused, nothing
stored, and the generator's screening probes."""

from __future__ import annotations

import json

import pytest
from decorator import INVESTIGATED, on_backends
from detect_fixtures import AS_OF, Builder, at, day, multi_lender
from xpg.queries.investigate import FindingsIndex
from xpg.queries.screen import MAX_VALUES, applicant, screen

import xpg
from xpg.errors import InputError
from xpg.settings import DetectionConfig, load_settings

CONFIG = DetectionConfig()
KEY = "k" * 24


def data():
    """B frozen for fraud on device dB; U linked to B (linked_risk); R1-R3 a ring on device
    dR; M a multi-lender with phone 13800138000; H: a hub device of 21 users with a fraud
    user on it; E: an email shared with B (not a ring kind)."""
    b = Builder()
    b.account("aB", "B", "huabei", status="frozen", reason="fraud", changed_at=at(-3))
    b.account("aU", "U", "jiebei", outstanding=1_000)
    b.device("B", "dB").device("U", "dB")
    for r in ("R1", "R2", "R3"):
        b.account(f"a{r}", r, "huabei")
        b.device(r, "dR")
        multi_lender(b, r, prefix=f"{r}L")
    b.account("aM", "M", "huabei")
    multi_lender(b, "M")
    b.identifier("M", "phone", "13800138000")
    b.account("aF", "F", "huabei", status="frozen", reason="fraud")
    b.device("F", "hub")
    for i in range(20):
        b.account(f"h{i}", f"H{i:02d}", "huabei")
        b.device(f"H{i:02d}", "hub")
    b.identifier("B", "email", "bad@example.com").identifier("Q", "email", "bad@example.com")
    return b.build()


@pytest.fixture
def screened(backend):
    ds = data()
    backend.load(ds)
    index = FindingsIndex(backend.detect(CONFIG, as_of=AS_OF))
    source = backend.investigations(ds)
    return lambda **given: screen(source, index, CONFIG, applicant(given), as_of=AS_OF)


@on_backends(*INVESTIGATED)
def test_verdicts_and_their_reasons(screened):
    r = screened(device_id="dB")
    assert r.verdict == "high" and r.linked_users == 2
    assert [(x.verdict, x.user_id, x.why) for x in r.reasons] == [
        ("high", "B", "known-bad: huabei account aB frozen for fraud"),
        ("elevated", "U", "linked_risk"),
    ]
    assert r.reasons[0].text == ("device dB links to B, known-bad: huabei account aB frozen "
                                 "for fraud")
    ring = screened(device_id="dR")
    assert ring.verdict == "high"
    assert {x.why for x in ring.reasons} >= {"ring", "multi_lending"}
    assert next(x for x in ring.reasons if x.why == "ring").text.startswith(
        "device dR links to R1, a member of ring ring-")
    # one phone written three ways is one node
    for written in ("+86 138-0013-8000", "0086 138 0013 8000", "13800138000"):
        m = screened(phone=written)
        assert m.verdict == "elevated", written
        assert m.reasons[0].why == "multi_lending" and m.reasons[0].node == "phone ****8000"
    clear = screened(device_id="never-seen", phone="13900139000")
    assert clear.verdict == "clear" and clear.reasons == () and clear.matches == ()
    assert clear.unmatched == ("device_id never-seen", "phone ****9000")


@on_backends(*INVESTIGATED)
def test_hubs_and_kinds_not_enabled_are_reported_never_decisive(screened):
    hub = screened(device_id="hub")
    assert hub.verdict == "clear" and hub.linked_users == 0
    (m,) = hub.matches
    assert (m.users, m.hub, m.counts) == (21, True, False)
    assert "hub" in m.note
    email = screened(email="BAD@example.com ")
    assert email.verdict == "clear"
    assert email.matches[0].users == 2 and not email.matches[0].counts
    # a given user id counts as a linked user; an unknown one is reported
    assert screened(user_id="B").verdict == "high"
    assert screened(user_id="M").verdict == "elevated"
    assert screened(user_id="nobody").unmatched == ("user_id nobody",)


@on_backends(*INVESTIGATED)
def test_the_known_bad_seam_raises_the_verdict(backend):
    ds = data()
    backend.load(ds)
    config = CONFIG.replace(linked_risk={"known_bad_users": ["M"]})
    index = FindingsIndex(backend.detect(config, as_of=AS_OF))
    r = screen(backend.investigations(ds), index, config, applicant({"user_id": "M"}),
               as_of=AS_OF)
    assert r.verdict == "high"
    assert r.reasons[0].why == "known-bad: confirmed as fraud by an analyst"


@pytest.mark.parametrize(("given", "message"), [
    ({}, "no identifier given"),
    ({"phone": "abc"}, "normalizes to nothing"),
    ({"phone": "12"}, "not a possible phone number"),
    ({"bank_card": "6222********1234"}, "cannot be looked up"),
    ({"phone": [str(13800000000 + i) for i in range(10_000)]}, "10000 identifier values"),
    ({"device_id": ["d"] * (MAX_VALUES + 1)}, f"at most {MAX_VALUES}"),
    ({"passport": "X1"}, "unknown applicant field 'passport'"),
])
def test_bad_input_is_refused(given, message):
    with pytest.raises(InputError, match=message):
        applicant(given)


# -- the CLI and the API, on both backends ---------------------------------------------------


def write_folder(ds, folder):
    """The tables of ``ds`` that are present, as Parquet files in ``folder``."""
    from xpg.synthetic import Synthetic

    folder.mkdir()
    for name, frame in ds.tables().items():
        if name in ds.present:
            Synthetic.write_table(frame, folder / f"{name}.parquet", "parquet")
    return folder


def _write(tmp_path):
    return write_folder(data(), tmp_path / "data")


def test_xpg_screen_on_memory(tmp_path, capsys):
    from xpg.cli import main

    folder = _write(tmp_path)
    assert main(["screen", "--data", str(folder), "--device", "dB", "--format", "json",
                 "--as-of", AS_OF.isoformat()]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["verdict"] == "high" and out["reasons"][0]["user_id"] == "B"
    assert main(["screen", "--data", str(folder), "--phone", "+86 138 0013 8000"]) == 0
    assert "Verdict: elevated" in capsys.readouterr().out
    assert main(["screen", "--data", str(folder), "--phone", "abc"]) == 2
    assert "--phone 'abc' cannot be looked up" in capsys.readouterr().err
    assert main(["screen", "--data", str(folder)]) == 2
    assert "no identifier given" in capsys.readouterr().err


@pytest.fixture
def client(tmp_path):
    from fastapi.testclient import TestClient

    from xpg.serve import create_app

    session = xpg.open(dataset=data(), as_of=AS_OF, read_only=True)
    yield TestClient(create_app(session, api_keys=[KEY]), raise_server_exceptions=False)
    session.close()


def test_post_v1_screen(client):
    headers = {"X-API-Key": KEY}
    r = client.post("/v1/screen", json={"device_id": "dB", "phone": ["13800138000"]},
                    headers=headers)
    assert r.status_code == 200
    body = r.json()
    assert body["verdict"] == "high" and body["linked_users"] == 3
    assert client.post("/v1/screen", json={"device_id": "dB"}).status_code == 401
    for payload, fragment in (
        ({}, "no identifier given"),
        ({"phone": "abc"}, "cannot be looked up"),
        ({"phone": ["1"] * 10_000}, "phone"),
        ({"passport": "x"}, "passport"),
    ):
        r = client.post("/v1/screen", json=payload, headers=headers)
        assert r.status_code == 422, payload
        assert fragment in r.json()["error"]["message"], (payload, r.json())
    r = client.post("/v1/screen", headers=headers,
                    content=json.dumps({"phone": [str(10**10 + i) for i in range(10_000)]}))
    assert r.status_code == 413
    assert "/v1/screen" in client.get("/openapi.json").json()["paths"]


def _raw(body: object) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()


_JSON = "application/json"
_CASES = [  # (body, content type): answered by the gate, or handed on to the route
    *((b, _JSON) for b in (
        {"device_id": "dB", "phone": ["13800138000"]}, {"device_id": "dR"}, {"user_id": "B"},
        {"user_id": " B\u3000"}, {"email": " Bad@Example.com "}, {"device_id": "hub"},
        {"phone": "+86 138-0013-8000", "as_of": AS_OF.isoformat(), "address": None},
        {"device_id": ["dB", "dB", "never"], "ip": "10.0.0.1", "id_number": "11010519491231002x"},
        {"device_id": "d\u00e9\u4e2d", "bank_card": "6222 0000 0000 1234"},
        b'{"device_id": "nowhere", "device_id": "dB"}', b' {"device_id" : "\\u0064B"} ',
        b'{"device_id": "\\ud800"}', {"phone": ["13800138000"] * MAX_VALUES},
        # refused by the model, the screening or the service: answered by the route
        {}, {"phone": "abc"}, {"passport": "x"}, {"phone": []}, {"device_id": ""},
        {"phone": ["13800138000"] * (MAX_VALUES + 1)}, {"device_id": "x" * 257},
        {"device_id": ["x"] * 20, "phone": ["13800138000"] * 20}, {"user_id": ["B"]},
        {"as_of": "2020-01-01", "device_id": "dB"}, {"as_of": "soon", "device_id": "dB"},
        {"device_id": 5}, {"bank_card": "6222********1234"}, {"phone": "6.22E+15"},
        {"phone": "12"}, {"device_id": None}, None, [], "dB", b"", b"{", b"\xff\xfe",
        b'{"device_id": NaN}', '{"device_id": "dB"}'.encode("utf-16"),
        {"phone": [str(10**10 + i) for i in range(10_000)]})),
    *(({"device_id": "dB"}, t) for t in (
        None, "application/json; charset=utf-8", "APPLICATION/JSON", "text/plain",
        "application/vnd.xpg+json", "application/x-www-form-urlencoded")),
]


def test_the_gate_answers_a_screening_as_its_route(client):
    """``POST /v1/screen`` answered by the gate (``Context.fast``) gives, to the byte and
    header, what its route gives (the same service with no fast path), whatever the body:
    valid ones are answered by the gate, every other by the route (its 422s, 413)."""
    from fastapi.testclient import TestClient

    app = client.app
    ctx = app.state.xpg
    answered = ctx.fast["/v1/screen"]
    calls: list[bytes | None] = []
    ctx.fast["/v1/screen"] = lambda raw: calls.append(answered(raw)) or calls[-1]
    session = xpg.open(dataset=data(), as_of=AS_OF, read_only=True)
    from xpg.serve import create_app

    plain_app = create_app(session, api_keys=[KEY])
    plain_app.state.xpg.fast.clear()
    plain = TestClient(plain_app, raise_server_exceptions=False)
    statuses = set()
    for body, content_type in _CASES:
        headers = {"X-API-Key": KEY}
        if content_type is not None:
            headers["Content-Type"] = content_type
        del calls[:]
        got = client.post("/v1/screen", content=_raw(body), headers=headers)
        want = plain.post("/v1/screen", content=_raw(body), headers=headers)
        assert (got.status_code, got.headers.raw, got.content) == (
            want.status_code, want.headers.raw, want.content), (body, content_type)
        statuses.add(got.status_code)
        fast = content_type == _JSON and len(_raw(body)) <= 64 * 1024
        assert len(calls) == fast, (body, content_type)  # the gate read every small one
        if fast:  # the gate answers every valid one, and only those
            assert (got.status_code == 200) == (calls[0] is not None), body
    assert statuses == {200, 413, 422}
    # a body sent in chunks, without a length; over the limit; the metrics' route
    chunks = [b'{"device_id":', b' "dB"}']
    for parts in (chunks, [b'{"phone": ["'] + [b"1" * 1000] * 70 + [b'"]}']):
        got, want = (c.post("/v1/screen", content=iter(parts), headers={
            "X-API-Key": KEY, "Content-Type": _JSON}) for c in (client, plain))
        assert (got.status_code, got.content) == (want.status_code, want.content)
    assert got.status_code == 413
    metrics = client.get("/metrics").text
    assert 'route="/v1/screen",status="200"' in metrics
    assert 'route="/v1/screen",status="422"' in metrics
    session.close()


@pytest.mark.neo4j
def test_screen_cli_and_api_on_neo4j_read_only(neo4j_server, neo4j_backend, monkeypatch,
                                               capsys):
    from fastapi.testclient import TestClient
    from neo4j_server import dump
    from xpg.graph.neo4j import Neo4jBackend

    from xpg.cli import main
    from xpg.serve import create_app

    neo4j_backend.load(data())
    neo4j_backend.detect(CONFIG, as_of=AS_OF)
    for name in ("uri", "user", "database"):
        monkeypatch.setenv(f"NEO4J_{name.upper()}", getattr(neo4j_server, name))
    monkeypatch.setenv("NEO4J_PASSWORD", neo4j_server.password or "")
    before = dump(neo4j_backend)
    assert main(["screen", "--backend", "neo4j", "--device", "dR", "--format", "json",
                 "--as-of", AS_OF.isoformat()]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["verdict"] == "high" and {r["why"] for r in out["reasons"]} >= {"ring"}
    reader = Neo4jBackend(neo4j_server, read_only=True)
    with xpg.open(backend=reader, as_of=AS_OF, detect=False) as s:
        c = TestClient(create_app(s, api_keys=[KEY]), raise_server_exceptions=False)
        r = c.post("/v1/screen", json={"phone": "0086 138 0013 8000"},
                   headers={"X-API-Key": KEY})
        assert r.status_code == 200 and r.json()["verdict"] == "elevated"
        assert c.post("/v1/screen", json={}, headers={"X-API-Key": KEY}).status_code == 422
    reader.close()
    assert dump(neo4j_backend) == before  # nothing about the applicant is stored


@pytest.mark.parametrize(("users", "seed"), [(2_000, 5), (5_000, 9)])
def test_the_generators_screening_probes(users, seed):
    from xpg.synthetic import generate

    s = generate(users, seed)
    probes = s.truth["screening"]
    assert {p["expect"] for p in probes} == {"high", "elevated", "clear"}
    with xpg.open(dataset=s.dataset(), settings=load_settings(environ={})) as session:
        for p in probes:
            assert session.screen(p["given"]).verdict == p["expect"], p["id"]


def test_xpg_screen_from_the_stored_state(tmp_path, capsys):
    from xpg.cli import main

    folder = _write(tmp_path)
    assert main(["state", "build", "--data", str(folder), "--out", str(tmp_path / "state")]
                ) == 0
    capsys.readouterr()
    assert main(["screen", "--state", str(tmp_path / "state"), "--device", "dR", "--phone",
                 "13800138000", "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert "answering from the stored state" in captured.err
    out = json.loads(captured.out)
    assert out["verdict"] == "high" and out["linked_users"] == 4


class _Frames:
    """A source without ``key_rows``: screening reads it through the protocol's frames
    (as it reads a database)."""

    def __init__(self, source):
        self._source = source

    def __getattr__(self, name):
        if name in ("key_frames", "key_rows"):
            raise AttributeError(name)
        return getattr(self._source, name)


def _edges():
    """A hub of 300 users (past the sorted tables' small-slice path), some seen after the
    date; a device seen only after it; known-bad users by account (open before and after
    the date), by a written-off loan (opened before and after) and by the analysts."""
    b = Builder()
    for i in range(300):
        u = f"P{i:03d}"
        b.account(f"p{i}", u, "huabei", status="frozen" if i == 7 else "active",
                  reason="fraud" if i == 7 else None)
        b.device(u, "big", first_seen=at(3) if i % 50 == 0 else at(-10))
    b.device("L", "late", first_seen=at(2))
    b.account("s1", "S1", "huabei", status="frozen", reason="fraud", opened_at=day(5))
    b.account("s2", "S2", "jiebei", status="closed", reason="fraud")
    b.account("s2b", "S2", "huabei", status="frozen", reason="user_request")
    b.loan("S3", "CF001", status="written_off").loan("S3", "BK001", status="written_off")
    b.loan("S4", "CF001", status="written_off", opened_at=day(4))
    for u in ("S1", "S2", "S3", "S4", "S5"):
        b.device(u, "small")
        b.identifier(u, "email", "shared@example.com")
    b.device("S6", "small", first_seen=at(1))
    return b.build()


@pytest.mark.parametrize("stored", [False, True], ids=["memory", "state"])
def test_the_sorted_tables_path_answers_as_the_protocols_frames(tmp_path, stored):
    """Screening over sorted tables (slices read in Python) gives, to the byte, what it gives
    through the protocol's frames, on the edges of the as-of filters and a large hub."""
    from xpg.graph.memory import MemoryBackend

    ds = _edges()
    backend = MemoryBackend()
    backend.load(ds)
    config = CONFIG.replace(linked_risk={"known_bad_users": ["S5"], "written_off": True})
    index = FindingsIndex(backend.detect(config, as_of=AS_OF))
    source = backend.investigations(ds)
    if stored:
        from xpg.queries.investigate.state_source import StateSource

        folder = write_folder(ds, tmp_path / "data")
        with xpg.open(data=folder, settings=load_settings(environ={})) as session:
            state = session.write_state(tmp_path / "state")
        source = StateSource(state)
    applicants = [{"device_id": "big"}, {"device_id": "late"}, {"device_id": "small"},
                  {"device_id": ["small", "big", "late", "nowhere"]},
                  {"email": "Shared@Example.com", "user_id": "P007"},
                  {"user_id": "S4"}, {"user_id": "nobody"}, {"device_id": "small",
                                                             "user_id": "S6"}]
    for given in applicants:
        for day_ in (AS_OF, day(-30), day(10)):
            who = applicant(given)
            fast = screen(source, index, config, who, as_of=day_)
            slow = screen(_Frames(source), index, config, who, as_of=day_)
            assert fast.to_dict() == slow.to_dict(), (given, day_)
    r = screen(source, index, config, applicant({"device_id": "small"}), as_of=AS_OF)
    assert {x.user_id for x in r.reasons} == {"S2", "S3", "S5"}
    assert r.matches[0].users == 5
    big = screen(source, index, config, applicant({"device_id": "big"}), as_of=AS_OF)
    assert big.matches[0].users == 294 and big.matches[0].hub and big.verdict == "clear"


def test_key_frames_names_the_state_tables():
    """``MemorySource.key_frames`` reads the sorted copy ``_<table>`` of each state table."""
    from xpg.queries.investigate.state import TABLES

    assert all(attr == f"_{name}" for name, attr in TABLES.items())


def test_a_bare_mobiles_possibility_is_that_of_its_prefix():
    """``_possible_phone`` keeps libphonenumber's answer per region and first three digits
    of a bare mobile: for every prefix of five digits the loader's fast pattern allows,
    numbers of different tails get the answer of their first three digits, and the
    national number is the value itself (no national prefix stripped, which could depend
    on the whole number)."""
    import random

    import phonenumbers
    from xpg.loaders.normalize_one import bare_mobile
    from xpg.queries import screen as screening

    rng = random.Random(3)
    prefixes = [f"1{x:04d}" for x in range(10_000) if bare_mobile(f"1{x:04d}000000", "CN")]
    assert len(prefixes) == 6_900
    first: dict[str, bool] = {}
    for p in prefixes:
        tails = ("000000", "999999", f"{rng.randrange(10**6):06d}")
        answers = {screening._libphonenumber_possible(p + t, "CN") for t in tails}
        assert answers == {first.setdefault(p[:3], min(answers))}, p
        n = phonenumbers.parse(p + tails[2], "CN")
        assert (n.country_code, n.national_number) == (86, int(p + tails[2])), p
    screening._BARE_POSSIBLE.clear()
    for value in ("13800138000", "13800138001", "17912345678", "+8613800138000",
                  "12", "1380013800", "138001380000", "02012345678"):
        want = screening._libphonenumber_possible(value, "CN")
        assert screening._possible_phone(value, "CN") == want, value
        assert screening._possible_phone(value, "CN") == want, value  # kept
        assert screening._possible_phone(value, "US") == screening._libphonenumber_possible(
            value, "US"), value
    assert len(first) == 69 and set(first.values()) == {True}
    assert set(screening._BARE_POSSIBLE) == {("CN", "138")}
