import pytest

from xpg.errors import ConfigError
from xpg.settings import load_settings, redact_url


def test_defaults_match_the_contract():
    s = load_settings(environ={})
    ml = s.detection.multi_lending
    assert (ml.min_open_lenders, ml.short_window_days, ml.short_window_lenders) == (4, 7, 3)
    assert (ml.long_window_days, ml.long_window_lenders) == (30, 6)
    ring = s.detection.ring
    assert ring.hub_max_users == 20 and ring.min_users == 3
    assert ring.identifier_kinds == ("phone", "bank_card", "id_number")
    assert s.detection.freeze.scope("fraud") == "user"
    assert s.detection.freeze.scope("overdue") == "product"
    assert s.detection.freeze.scope("never-heard-of-it") == "user"
    assert s.backend == "memory"


def test_precedence_flag_over_env_over_file(tmp_path):
    f = tmp_path / "x.toml"
    f.write_text('backend = "neo4j"\n[detection.ring]\nhub_max_users = 7\n[neo4j]\nuser = "file"\n')
    s = load_settings(f, environ={})
    assert s.backend == "neo4j" and s.detection.ring.hub_max_users == 7
    s = load_settings(f, environ={"NEO4J_USER": "env", "XPG_BACKEND": "memory"})
    assert s.neo4j.user == "env" and s.backend == "memory"
    s = load_settings(f, environ={"NEO4J_USER": "env"}, overrides={"neo4j.user": "flag"})
    assert s.neo4j.user == "flag"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[detection.ring]\nhub_max_user = 3\n", "unknown setting detection.ring.hub_max_user"),
        ("[detection.ring]\nhub_max_users = 'many'\n", "expected an integer"),
        ("backend = 'sqlite'\n", "is not one of"),
        ("[neo4j]\npassword = 'x'\n", "must not be stored in a file"),
        ("[detection.ring\n", "not valid TOML"),
    ],
)
def test_bad_config_is_refused(tmp_path, text, message):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings(f, environ={})


def test_password_only_from_environment_and_not_in_repr():
    s = load_settings(environ={"NEO4J_PASSWORD": "s3cret"})
    assert s.neo4j.password == "s3cret"
    assert "s3cret" not in repr(s)


def test_redact_url():
    assert redact_url("neo4j://bob:pw@db.example:7687") == "neo4j://***@db.example:7687"
    assert redact_url("bolt://127.0.0.1:7687") == "bolt://127.0.0.1:7687"
