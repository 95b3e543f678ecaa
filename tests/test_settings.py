import dataclasses
import re
import typing

import pytest
from xpg.queries.rules.limit_divergence import LimitDivergenceConfig
from xpg.queries.rules.multi_lending import MultiLendingConfig
from xpg.queries.rules.ring import RingConfig
from xpg.queries.rules.scope import FreezeConfig

from xpg.errors import ConfigError
from xpg.settings import (
    LoadConfig,
    Neo4jConfig,
    load_settings,
    redact_url,
)


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
    s = load_settings(environ={"NEO4J_PASSWORD": "s3cret",
                               "NEO4J_URI": "neo4j://bob:pw@db.example:7687"})
    assert s.neo4j.password == "s3cret" and s.neo4j.uri == "neo4j://bob:pw@db.example:7687"
    assert "s3cret" not in repr(s) and "pw@" not in repr(s) and "***@db.example" in repr(s)


def test_redact_url():
    assert redact_url("neo4j://bob:pw@db.example:7687") == "neo4j://***@db.example:7687"
    assert redact_url("bolt://127.0.0.1:7687") == "bolt://127.0.0.1:7687"


@pytest.mark.parametrize(
    ("key", "bad", "good", "message"),
    [
        ("detection.multi_lending.short_window_days", 0, 1, "must be >= 1, got 0"),
        ("detection.multi_lending.long_window_days", 0, 1, "must be >= 1, got 0"),
        ("detection.limit_divergence.window_days", 0, 1, "must be >= 1, got 0"),
        ("detection.ring.min_users", 1, 2, "must be >= 2, got 1"),
        ("detection.ring.hub_max_users", 0, 1, "must be >= 1, got 0"),
        ("detection.multi_lending.min_open_lenders", 0, 1, "must be >= 1, got 0"),
        ("detection.multi_lending.short_window_lenders", 0, 1, "must be >= 1, got 0"),
        ("detection.multi_lending.long_window_lenders", 0, 1, "must be >= 1, got 0"),
        ("detection.ring.min_multi_lending_share", 1.01, 1, r"must be in \[0, 1\], got 1.01"),
        ("detection.ring.min_multi_lending_share", -0.1, 0, r"must be in \[0, 1\], got -0.1"),
        ("detection.limit_divergence.cut_fraction", 0, 1, r"must be in \(0, 1\], got 0.0"),
        ("detection.limit_divergence.cut_fraction", 1.5, 0.01, r"must be in \(0, 1\], got 1.5"),
        ("detection.limit_divergence.cut_to_at_most", -1, 0, "must be >= 0, got -1.0"),
        ("neo4j.batch_size", 0, 1, "must be >= 1, got 0"),
        ("load.max_errors", 0, 1, "must be >= 1, got 0"),
    ],
)
def test_out_of_range_values_are_refused_at_the_boundary(key, bad, good, message):
    with pytest.raises(ConfigError, match=rf"^{re.escape(key)}: {message}$"):
        load_settings(environ={}, overrides={key: bad})
    section, name = key.rsplit(".", 1)
    node = load_settings(environ={}, overrides={key: good})
    for part in section.split("."):
        node = getattr(node, part)
    assert getattr(node, name) == good  # the boundary itself is accepted


def test_out_of_range_from_a_file_and_the_environment(tmp_path):
    f = tmp_path / "x.toml"
    f.write_text("[detection.multi_lending]\nlong_window_days = 0\n")
    message = re.escape("detection.multi_lending.long_window_days: must be >= 1, got 0")
    with pytest.raises(ConfigError, match=message):
        load_settings(f, environ={})
    with pytest.raises(ConfigError, match=re.escape("neo4j.batch_size: must be >= 1, got 0")):
        load_settings(environ={"XPG_NEO4J_BATCH_SIZE": "0"})


def test_sections_made_in_code_are_checked_too():
    message = re.escape("detection.ring.min_users: must be >= 2, got 1")
    with pytest.raises(ConfigError, match=message):
        RingConfig(min_users=1)
    with pytest.raises(ConfigError, match=re.escape("detection.limit_divergence.cut_fraction")):
        dataclasses.replace(LimitDivergenceConfig(), cut_fraction=0.0)
    with pytest.raises(ConfigError, match=re.escape("detection.multi_lending.short_window_days")):
        MultiLendingConfig(short_window_days="7")  # type: ignore[arg-type]


def test_every_numeric_setting_has_a_range():
    from xpg.settings_types import _Range

    for cls in (MultiLendingConfig, RingConfig, LimitDivergenceConfig, LoadConfig, Neo4jConfig):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if hints[f.name] in (int, float):
                metadata = cls.__pydantic_fields__[f.name].metadata
                checks = [getattr(m, "func", None) for m in metadata]
                assert any(isinstance(c, _Range) for c in checks), f"{cls.__name__}.{f.name}"


def test_the_defaults_come_from_defaults_toml_only():
    """Every default of every section is the packaged file's value, and every key of the
    file is a setting: there is no second copy of a default in code."""
    import tomllib
    from importlib import resources

    from xpg.settings import Settings

    tree = tomllib.loads(resources.files("xpg.config").joinpath("defaults.toml").read_text())

    def plain(x):
        if dataclasses.is_dataclass(x):
            return {f.name: plain(getattr(x, f.name)) for f in dataclasses.fields(x)}
        if isinstance(x, typing.Mapping):
            return {k: plain(v) for k, v in x.items()}
        return list(x) if isinstance(x, tuple) else x

    made = plain(Settings())
    assert made["neo4j"].pop("password") is None  # the secrets: never in a file
    assert made["privacy"].pop("pseudonym_key") is None
    assert made == tree


def test_sections_are_frozen_hashable_values():
    from xpg.settings import DetectionConfig

    a, b = DetectionConfig(), load_settings(environ={}).detection
    assert a == b and hash(a) == hash(b)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.ring = RingConfig()  # type: ignore[misc]
    changed = dataclasses.replace(a, ring=RingConfig(hub_max_users=50))
    assert changed != a and changed.ring.hub_max_users == 50


def test_config_files_are_layered_in_order(tmp_path):
    mapping = tmp_path / "columns.toml"
    mapping.write_text('[load.columns.accounts]\nacct_no = "account_id"\n'
                       '[detection.ring]\nhub_max_users = 30\nmin_users = 4\n')
    thresholds = tmp_path / "thresholds.toml"
    thresholds.write_text('[load.columns.accounts]\ncust = "user_id"\n'
                          '[detection.ring]\nhub_max_users = 40\n')
    s = load_settings([mapping, thresholds], environ={})
    assert dict(s.load.columns["accounts"]) == {"acct_no": "account_id", "cust": "user_id"}
    assert (s.detection.ring.hub_max_users, s.detection.ring.min_users) == (40, 4)
    s = load_settings([thresholds, mapping], environ={"NEO4J_USER": "env"})
    assert s.detection.ring.hub_max_users == 30 and s.neo4j.user == "env"


LAYER_CASES = [
    ({}, {}),
    ({"neo4j.user": "env", "backend": "neo4j"}, {"neo4j.user": "flag"}),
    ({"detection.ring.hub_max_users": 7}, {"detection.ring": {"min_users": 4}}),
    ({"a.b": 1}, {"a": 5}),  # a flag's value where the environment has a table
    ({"a": 5}, {"a.b": 1}),  # a flag's table where the environment has a value
    ({"a.b": {}}, {"a.b.c": 2, "a.d": 3}),
    ({"state.dir": "/s", "neo4j.uri": "bolt://x"}, {"state.dir": "/t", "as_of": None}),
]


@pytest.mark.parametrize(("environment", "flags"), LAYER_CASES)
def test_layering_without_files_is_pydantic_settings_layering(environment, flags):
    """With no file, :func:`layered` sets the flags over the environment itself (a cold
    query does not import pydantic-settings): the tree is the one pydantic-settings gives."""
    from xpg.settings_files import _pydantic_layers, layered

    assert layered([], environment, flags) == _pydantic_layers([], environment, flags)


def test_a_cold_query_does_not_import_pydantic_settings():
    import subprocess
    import sys

    code = ("import sys, xpg.cli.query, xpg.settings as s; s.load_settings(environ={}); "
            "print('pydantic_settings' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_errors_name_the_file_or_the_variable(tmp_path):
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text("[detection.ring]\nhub_max_users = 30\n")
    bad.write_text("[detection.ring]\nmin_users = 1\n")
    message = f"^{re.escape(str(bad))}: detection.ring.min_users: must be >= 2, got 1$"
    with pytest.raises(ConfigError, match=message):
        load_settings([good, bad], environ={})
    bad.write_text("[detection.rings]\nmin_users = 3\n")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(bad))}: unknown setting "
                                          r"detection.rings; known here: \['freeze'"):
        load_settings([good, bad], environ={})
    with pytest.raises(ConfigError, match=r"^backend: 'sqlite' is not one of 'memory', "
                                          r"'neo4j' or 'spark' \(from XPG_BACKEND\)$"):
        load_settings(good, environ={"XPG_BACKEND": "sqlite"})
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings([good, tmp_path / "missing.toml"], environ={})


@pytest.mark.parametrize(
    ("kinds", "message"),
    [
        (["phone", "Phone"],
         r"identifier_kinds\[1\]: 'Phone' must be lower case.*did you mean 'phone'\?$"),
        (["BANK_CARD"], r"identifier_kinds\[0\]: 'BANK_CARD' .*did you mean 'bank_card'"),
        ([" email"], r"identifier_kinds\[0\]: ' email' .*did you mean 'email'"),
        (["phone", ""], r"identifier_kinds\[1\]: expected a non-empty kind, got ''"),
        ([3], r"identifier_kinds\[0\]: expected a string, got 3"),
    ],
)
def test_identifier_kinds_are_lower_case_names(kinds, message):
    with pytest.raises(ConfigError, match=rf"^detection.ring.{message}"):
        load_settings(environ={}, overrides={"detection.ring.identifier_kinds": kinds})


def test_no_identifier_kinds_is_allowed():
    s = load_settings(environ={}, overrides={"detection.ring.identifier_kinds": []})
    assert s.detection.ring.identifier_kinds == ()


def test_a_freeze_reason_has_one_scope(tmp_path):
    f = tmp_path / "x.toml"
    f.write_text('[detection.freeze]\nproduct_scope_reasons = ["overdue", "fraud"]\n')
    with pytest.raises(ConfigError, match=re.escape("detection.freeze: reason 'fraud' is in both")):
        load_settings(f, environ={})
    with pytest.raises(ConfigError, match="'system' is in both"):
        FreezeConfig(user_scope_reasons=("system",))


def test_numbers_from_strings():
    s = load_settings(environ={}, overrides={"detection.ring.min_multi_lending_share": "0.25",
                                             "detection.ring.hub_max_users": "7"})
    assert s.detection.ring.min_multi_lending_share == 0.25
    assert s.detection.ring.hub_max_users == 7
    for key, value, wanted in [("detection.ring.hub_max_users", "7.5", "an integer"),
                               ("detection.ring.hub_max_users", 7.0, "an integer"),
                               ("detection.ring.hub_max_users", True, "an integer"),
                               ("detection.ring.min_multi_lending_share", "half", "a number")]:
        with pytest.raises(ConfigError, match=f"{key}: expected {wanted}, got"):
            load_settings(environ={}, overrides={key: value})
    s = load_settings(environ={}, overrides={"detection.limit_divergence.cut_to_at_most": 40})
    assert s.detection.limit_divergence.cut_to_at_most == 40.0
    assert isinstance(s.detection.limit_divergence.cut_to_at_most, float)
