"""The plain-Python normalizer of one value (:mod:`xpg.loaders.normalize_one`) gives what
the loader gives for the same value in a column (:func:`normalize_values`,
:func:`unusable_reasons`, Polars' ``strip_chars``): on hand-picked spellings, on every code
point in several positions, and on generated text."""

from __future__ import annotations

import sys
import unicodedata

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from xpg.loaders.normalize import normalize_values, unusable_reasons
from xpg.loaders.normalize_one import WHITE_SPACE, normalize_value, trim

KINDS = ("phone", "bank_card", "id_number", "email", "ip", "address", "device")


def _loader(rows: list[tuple[str, str]], region: str) -> list[tuple[str | None, str | None]]:
    """What the loader makes of each (kind, value as written): trimmed, normalized, why."""
    kinds = pl.Series([k for k, _ in rows], dtype=pl.String)
    written = pl.Series([v for _, v in rows], dtype=pl.String).str.strip_chars()
    norm = normalize_values(kinds, written, region)
    why = unusable_reasons(written, norm)
    return list(zip(norm.to_list(), why.to_list(), strict=True))


def _ours(rows: list[tuple[str, str]], region: str) -> list[tuple[str | None, str | None]]:
    return [normalize_value(k, trim(v), region) for k, v in rows]


def _same(rows: list[tuple[str, str]], region: str = "CN") -> None:
    want, got = _loader(rows, region), _ours(rows, region)
    bad = [(r, w, g) for r, w, g in zip(rows, want, got, strict=True) if w != g]
    assert not bad, f"{len(bad)} differ, first: {bad[:5]}"


SPELLINGS = {
    "phone": [
        # one phone written three ways, and its neighbours
        "+86 138-0013-8000", "0086 138 0013 8000", "13800138000", "(+86) 138.0013.8000",
        "+8613800138000", "86 13800138000", "138 0013 8000", "13800138000.0", "13800138000.00",
        "+86 13800138000.0", "1.38001E+10", "1.38001e10", "138****8000", "138xxxx8000",
        "138XX008000", "138•••08000", "n/a", "+", "-", "0", "12", "123", "1" * 17, "1" * 18,
        "1" * 40, "179-0100-2422", "+86 17901002422", "0086-179-0100-2422", "17901002422",
        "+44 20 7946 0958", "0044 20 7946 0958", "+1 (650) 253-0000", "+1 650 253 0000 x12",
        "010-6552-9988", "(010) 65529988", "+86 10 6552 9988", "13800138000 ext. 5",
        "１３８００１３８０００", "+８６ 138 0013 8000", "١٣٨٠٠١٣٨٠٠٠", "138\u00a00013\u00a08000",
        "138\u30000013 8000", "tel:+86-138-0013-8000", "+86 (0) 138 0013 8000", "e", "E5",
        "13800138000e0", "x", "X", "13800x138000", "1380013800O", "+0086 138 0013 8000",
        "00 86 138 0013 8000", "+86-138-0013-800", "+86-138-0013-80000", " ", "",
    ],
    "bank_card": [
        "6222 0200 1234 5678", "6222-0200-1234-5678", "6222020012345678", "6222020012340.0",
        "6222.0200.1234", "6222********1234", "6222 •••• 1234", "6.22202E+15", "6222xx1234",
        "6222x1234", "n/a", "abc", "", "*", "６２２２０２００", "6222\u3000020", "62e22",
        "-6222", "+6222", "6222 0200 1234 5678.0", "0.0", ".0",
    ],
    "id_number": [
        "11010519720227010x", "11010519720227010X", " 1101 0519\u3000720227010x",
        "110105197202270101.0", "1.10105E+17", "xx", "x", "X", "110105 19720227 010x",
        "110105\t197202270101", "ｘ", "ß", "110105197202270101\x1c", "a\x1fb", "abc def",
        "1101051972022701xX", "1101\u00a00519", "11\u20280", "e", "1e5", "1.0",
    ],
    "email": [
        "Li.Na@QQ.com", " Li@Example.COM ", "li@example.com", "ÀNDRÉ@X.COM", "İSTANBUL@X.COM",
        "ΣΟΦΙΑ@X.GR", "ΟΔΟΣ", "STRASSE@X.DE", "ǅ@x.com", "a****@qq.com", "xx@qq.com",
        "\u212a@x.com", "\u0130", "Ωmega@x.com", "",
    ],
    "ip": ["10.0.0.1", " 10.0.0.1 ", "FE80::1", ""],
    "address": ["上海市浦东新区东风路100号", "  Rue X  ", "a\x1cb", ""],
    "device": ["A1B2C3", " a1b2c3 ", "dev\u3000", ""],
}


@pytest.mark.parametrize("kind", sorted(SPELLINGS))
@pytest.mark.parametrize("region", ["CN", "US", "GB"])
def test_hand_picked_spellings(kind, region):
    _same([(kind, v) for v in SPELLINGS[kind]], region)


def test_the_three_ways_phone_case():
    got = {normalize_value("phone", trim(v))[0] for v in
           ("+86 138-0013-8000", "0086 138 0013 8000", " 13800138000 ")}
    assert got == {"13800138000"}
    assert normalize_value("phone", "138****8000") == (None, "is masked")
    assert normalize_value("bank_card", "6.22202E+15") == (
        None, "is in scientific notation (a spreadsheet dropped its digits)")
    assert normalize_value("phone", "n/a") == (None, None)


def _code_points() -> list[str]:
    """Every code point this Python's Unicode database assigns (but the private-use planes
    15-16 and the surrogates), and every 1009th of the others (those take the loader's own
    function: :func:`normalize_value` knows it cannot read them)."""
    out = []
    for c in range(sys.maxunicode + 1):
        if 0xD800 <= c < 0xE000:
            continue
        ch = chr(c)
        if (c < 0xF0000 and unicodedata.category(ch) != "Cn") or c % 1009 == 0:
            out.append(ch)
    return out


CHARS = _code_points()
ASCII = [chr(c) for c in range(128)]


def test_trim_is_the_loaders_on_every_code_point():
    chars = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c < 0xE000]
    values = [f"{c}a{c}" for c in chars] + [f"{c}{c}" for c in chars]
    want = pl.Series(values, dtype=pl.String).str.strip_chars().to_list()
    assert [trim(v) for v in values] == want
    assert {c for c in chars if trim(c) == ""} == set(WHITE_SPACE)


def test_every_code_point_in_a_card():
    _same([("bank_card", t.format(c)) for c in CHARS for t in ("62{0}2X", "{0}")])


@pytest.mark.parametrize("kind", ["id_number", "email"])
def test_every_pair_of_ascii_characters_and_other_code_points(kind):
    # a non-ASCII value of these kinds is the loader's own answer: a sample of them
    rows = [(kind, f"1{a}{b}x") for a in ASCII for b in ASCII]
    _same(rows + [(kind, t.format(c)) for c in CHARS[128::300] for t in ("62{0}2X", "{0}")])


def test_every_code_point_in_a_phone():
    # a phone parse per value: every character of the first planes, a sample of the rest
    chars = [chr(c) for c in range(0x3100)] + CHARS[::37]
    _same([("phone", t.format(c)) for c in chars for t in ("138{0}0013 8000", "+86{0}1")])


_TEXT = st.text(alphabet=st.sampled_from(
    [*"0123456789+-() .*•xXeE,/#abcAB@", "\u3000", "\u00a0", "\t", "\x1c", "１", "８",
     "٣", "ß", "İ", "Σ"]), max_size=24)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(KINDS), _TEXT), min_size=1, max_size=40),
       st.sampled_from(["CN", "US"]))
def test_generated_values(rows, region):
    _same(rows, region)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["phone", "bank_card", "id_number"]),
                          st.from_regex(r"\A(\+|00)?[0-9 \-]{0,16}(\.0+|[eE][0-9]|\*{0,3})?\Z",
                                        fullmatch=True)), min_size=1, max_size=40))
def test_generated_numbers(rows):
    _same(rows)
