"""Schema names of collections: always a plain identifier of at most 63 bytes, never shared."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vectorops.datastore.naming import InvalidSchemaPrefix, advisory_key, schema_name

IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
HOSTILE = [
    ("ns", 'x"; DROP SCHEMA public; --'),
    ("ns", "Robert'); DROP TABLE students;--"),
    ("ns", "UPPER-Case.Name"),
    ("ns", "a-b"),
    ("ns", "a_b"),
    ("ns", "a.b"),
    ("ns-a", "b"),
    ("ns", "a-b-c"),
    ("n", "s-a-b"),
    ("ns", "x" * 253),
    ("ns", "x" * 252 + "y"),
    ("n" * 63, "x" * 253),
    ("n" * 63, "x" * 252 + "z"),
    ("ns", "é-ünïcode"),
    ("ns", "---"),
    ("ns", ""),
    ("ns", "$1; select pg_sleep(10)"),
]


def _check(name: str) -> None:
    assert IDENTIFIER.match(name), name
    assert len(name.encode()) <= 63, name


def test_hostile_names_map_to_distinct_plain_identifiers() -> None:
    names = [schema_name("vectorops_", ns, n) for ns, n in HOSTILE]
    for name in names:
        _check(name)
    assert len(set(names)) == len(HOSTILE)


def test_names_that_collide_after_folding_or_cutting_stay_apart() -> None:
    folded = {schema_name("vectorops_", "ns", n) for n in ("a-b", "a_b", "a.b", "A-B")}
    assert len(folded) == 4
    long_a, long_b = "p" * 200 + "-a", "p" * 200 + "-b"
    a, b = schema_name("vectorops_", "ns", long_a), schema_name("vectorops_", "ns", long_b)
    assert a != b and a[:40] == b[:40]  # same readable part, different hash
    # namespace/name split differently: "ns-a"/"b" vs "ns"/"a-b"
    assert schema_name("v_", "ns-a", "b") != schema_name("v_", "ns", "a-b")


def test_the_name_is_stable_and_readable() -> None:
    name = schema_name("vectorops_", "team-a", "articles")
    assert name == schema_name("vectorops_", "team-a", "articles")
    assert name.startswith("vectorops_team_a_articles_")
    assert advisory_key(name) == advisory_key(name) != advisory_key(name + "x")
    assert -(2**63) <= advisory_key(name) < 2**63


@pytest.mark.parametrize(
    "prefix", ["", "Vectorops_", "1abc", 'x"; DROP', "a-b", "a b", "x" * 33, "é", "a;", "abc\n"]
)
def test_prefixes_that_are_not_plain_identifiers_are_refused(prefix: str) -> None:
    with pytest.raises(InvalidSchemaPrefix):
        schema_name(prefix, "ns", "c")


@pytest.mark.parametrize("prefix", ["_", "v", "vectorops_", "x" * 32, "a1_"])
def test_every_valid_prefix_gives_a_valid_name(prefix: str) -> None:
    _check(schema_name(prefix, "n" * 63, "c" * 253))


@given(
    prefix=st.from_regex(r"^[a-z_][a-z0-9_]{0,31}$", fullmatch=True),
    namespace=st.text(min_size=1, max_size=63),
    name=st.text(max_size=253),
)
def test_any_input_gives_a_valid_name(prefix: str, namespace: str, name: str) -> None:
    _check(schema_name(prefix, namespace, name))
