"""Personal data: keyed pseudonyms over everything written, masks on display, no secret in
any output."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from investigation_data import AS_OF, write_dataset
from xpg.loaders.pseudonymize import pseudonymize

import xpg
from xpg.cli import main
from xpg.privacy import mask, pseudonym
from xpg.settings import load_settings
from xpg.synthetic import generate

KEY = "a-pseudonym-key-of-32-characters"
OTHER = "another-key-of-at-least-16-chars"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synthetic")
    ds = generate(600, seed=5).dataset()
    for name, frame in ds.tables().items():
        frame.write_parquet(folder / f"{name}.parquet")
    return folder


def _findings(data, key=None):
    settings = load_settings(environ={} if key is None else {"XPG_PSEUDONYM_KEY": key})
    with xpg.open(data=data, settings=settings, pseudonymize=key is not None) as s:
        return s.dataset, s.findings()


def _shape(report, user_of=lambda u: u):
    """The findings without ids and text: type, severity, score, users, money."""
    return Counter((f.type, f.severity, round(f.score, 4), tuple(sorted(map(user_of, f.users))),
                    json.dumps(f.exposure.to_dict(), sort_keys=True)) for f in report.findings)


def test_same_findings_modulo_the_mapping(data):
    _, plain = _findings(data)
    _, hidden = _findings(data, KEY)
    assert plain.findings and len(hidden.findings) == len(plain.findings)
    assert _shape(hidden) == _shape(plain, lambda u: "u" + pseudonym(KEY.encode(), "user", u))
    # ids derived consistently: the same key gives the same ids, another key others
    _, again = _findings(data, KEY)
    _, other = _findings(data, OTHER)
    ids = {f.id for f in hidden.findings}
    assert ids == {f.id for f in again.findings}
    assert not ids & {f.id for f in other.findings} and not ids & {f.id for f in plain.findings}


def test_nothing_personal_in_any_file(data, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XPG_PSEUDONYM_KEY", KEY)
    out = tmp_path / "reports"
    assert main(["report", "--data", str(data), "--out", str(out), "--pseudonymize",
                 "--quiet"]) == 0
    assert main(["detect", "--data", str(data), "--pseudonymize", "--format", "table",
                 "--out", str(tmp_path / "table.txt")]) == 0
    capsys.readouterr()
    ds = xpg.open(data=data).dataset
    personal = set(ds.users.get_column("user_id")) | set(ds.accounts.get_column("account_id")) \
        | set(ds.devices.get_column("device_id")) | set(ds.identifiers.get_column("value"))
    files = [p for p in out.rglob("*") if p.is_file()] + [tmp_path / "table.txt"]
    assert len(files) > 10
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="replace")
        leaked = [v for v in personal if v in text]
        assert not leaked, f"{path.name}: {leaked[:3]}"


def test_pseudonymize_refuses_without_a_key(data, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("XPG_PSEUDONYM_KEY", raising=False)
    target = tmp_path / "f.json"
    assert main(["detect", "--data", str(data), "--pseudonymize", "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert "set the XPG_PSEUDONYM_KEY environment variable" in err and not target.exists()
    monkeypatch.setenv("XPG_PSEUDONYM_KEY", "short")
    assert main(["detect", "--data", str(data), "--pseudonymize", "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert "privacy.pseudonym_key: must be at least 16 characters" in err
    assert "short" not in err.replace("must be at least", "") and not target.exists()


def test_pseudonymized_tables_keep_their_links():
    ds = generate(300, seed=3).dataset()
    out = pseudonymize(ds, KEY)
    for name in ("users", "accounts", "devices", "identifiers"):
        assert out.table(name).height == ds.table(name).height
        assert out.table(name).columns == ds.table(name).columns
    users = set(out.users.get_column("user_id"))
    assert set(out.accounts.get_column("user_id")) <= users
    assert set(ds.identifiers.get_column("value")).isdisjoint(out.identifiers.get_column("value"))
    assert out.identifiers.get_column("value").n_unique() == \
        ds.identifiers.select("kind", "value").unique().height


# ----------------------------------------------------------------------------- masks


def test_masks_and_their_configuration(tmp_path):
    assert mask("bank_card", "6222020200112233") == "****2233"
    assert mask("id_number", "110105197202270100") == "****0100"
    assert mask("ip", "2001:db8::1") == "2001:db8:*"
    config = tmp_path / "privacy.toml"
    config.write_text('[privacy.masks]\nphone = "none"\n')
    s = load_settings(config, environ={})
    assert s.privacy.masks["phone"] == "none" and s.privacy.masks["ip"] == "prefix"
    config.write_text('[privacy.masks]\nphone = "blur"\n')
    with pytest.raises(xpg.errors.ConfigError, match=r"privacy\.masks\.phone: 'blur' is not one"):
        load_settings(config, environ={})
    config.write_text(f'[privacy]\npseudonym_key = "{KEY}"\n')
    with pytest.raises(xpg.errors.ConfigError, match="set the XPG_PSEUDONYM_KEY") as e:
        load_settings(config, environ={})
    assert KEY not in str(e.value)


def test_cli_and_api_mask_by_default_and_follow_the_config(tmp_path, capsys):
    data = write_dataset(tmp_path / "fx")
    assert main(["query", "user", "u1", "--data", str(data), "--as-of", AS_OF.isoformat(),
                 "--hops", "2"]) == 0
    out = capsys.readouterr().out
    assert "13800000001" not in out and "****0001" in out and "10.0.0.1" not in out
    config = tmp_path / "open.toml"
    config.write_text('[privacy.masks]\nphone = "none"\nip = "none"\n')
    with xpg.open(data=data, config=config) as s:
        labels = {i.label for i in s.user("u1", hops=2, as_of=AS_OF).identifiers}
    assert "ip 10.0.0.1" in labels


def test_report_page_masks_identifiers(data, tmp_path):
    with xpg.open(data=data) as s:
        r = s.report(tmp_path)
        phones = s.dataset.identifiers.get_column("value").to_list()
    html = (r.folder / "index.html").read_text()
    assert "ring" in html and not [p for p in phones if p in html]


# ----------------------------------------------------------------------------- secrets

SECRETS = {"NEO4J_PASSWORD": "neo4j-secret-Pw-0xC0FFEE-4242",
           "XPG_API_KEY": "api-secret-key-0123456789abcdef",
           "XPG_PSEUDONYM_KEY": "pseudonym-secret-key-fedcba9876"}


def test_no_secret_in_any_output(data, tmp_path, monkeypatch, capsys, caplog):
    import logging

    from fastapi.testclient import TestClient

    from xpg.serve import api_keys_from_env, create_app

    for var, value in SECRETS.items():
        monkeypatch.setenv(var, value)
    out = tmp_path / "reports"
    codes = []
    # a successful pseudonymized report, then the same again (the folder exists: refused)
    for _ in range(2):
        codes.append(main(["report", "--data", str(data), "--out", str(out), "--pseudonymize"]))
    codes.append(main(["detect", "--data", str(tmp_path / "missing")]))
    # the database unreachable: the password must not be in the message
    monkeypatch.setenv("NEO4J_URI", "bolt://neo4j:pw-in-url@127.0.0.1:1")
    codes.append(main(["detect", "--data", str(data), "--backend", "neo4j"]))
    monkeypatch.delenv("NEO4J_URI")
    config = tmp_path / "secret.toml"
    config.write_text(f'[neo4j]\npassword = "{SECRETS["NEO4J_PASSWORD"]}"\n')
    codes.append(main(["detect", "--data", str(data), "--config", str(config)]))
    config.write_text(f'[privacy]\npseudonym_key = "{SECRETS["XPG_PSEUDONYM_KEY"]}"\n')
    codes.append(main(["detect", "--data", str(data), "--config", str(config)]))
    assert codes[0] == 0 and all(c != 0 for c in codes[1:]), codes
    # the service: good key, wrong key, unknown ids, in the access log
    texts = []
    with caplog.at_level(logging.INFO, logger="xpg.serve.access"), \
            xpg.open(data=data) as s:
        texts += [repr(s.settings), str(s.settings.neo4j), repr(s.settings.privacy)]
        c = TestClient(create_app(s, api_keys=api_keys_from_env()),
                       raise_server_exceptions=False)
        user = s.dataset.users.get_column("user_id")[0]
        good = {"X-API-Key": SECRETS["XPG_API_KEY"]}
        responses = [c.get(f"/v1/users/{user}", headers=good),
                     c.get("/v1/users/nobody", headers=good),
                     c.get("/v1/findings", headers={"X-API-Key": "wrong-key-0123456789"}),
                     c.get("/v1/rings/x", headers={"Authorization": "Bearer "
                                                   + SECRETS["XPG_API_KEY"]})]
        texts += [r.text for r in responses]
    access = [r.getMessage() for r in caplog.records if r.name == "xpg.serve.access"]
    assert len(access) == 4 and access[0].startswith("GET /v1/users/#")
    assert user not in "\n".join(access) and "nobody" not in "\n".join(access)
    captured = capsys.readouterr()
    texts += [captured.out, captured.err, caplog.text]
    texts += [p.read_bytes().decode("utf-8", "replace") for p in out.rglob("*") if p.is_file()]
    assert len(texts) > 15
    for name, secret in {**SECRETS, "url password": "pw-in-url"}.items():
        assert not [t for t in texts if secret in t], name
