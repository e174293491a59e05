"""Every kind of compile error, at its exact line and column, with its hint."""

from __future__ import annotations

import pytest

from chimera.rules import RuleError, ValueType, compile_rules
from tests.chimera.rules.schema import SCHEMA

OK = 'rule "ok": when natr > 1 then size_mult = 0.5\n'

CASES = [
    # --- lexical ---
    ('rule "a": when natr @ 1 then size_mult = 1', 1, 21, "unexpected character '@'", None),
    ('rule "a": when natr ! 1 then size_mult = 1', 1, 21, "unexpected character '!'", "'!='"),
    ("rule 'a': when natr > 1 then size_mult = 1", 1, 6, "unexpected character", "double quotes"),
    ('rule "a": when dqc_ok && dqc_stale then x = 1', 1, 23, "unexpected character '&'", "'and'"),
    ('rule "a: when natr > 1', 1, 6, "unterminated string", None),
    ('rule "a\\n": when natr > 1 then size_mult = 1', 1, 8, "unknown escape \\n", None),
    ('rule "a": when natr > 1. then size_mult = 1', 1, 25, "digits after the decimal point", None),
    ('rule "a": when natr > 1e5 then size_mult = 1', 1, 24, "unexpected 'e' right after", None),
    ('rule "a": when natr > 5x then size_mult = 1', 1, 24, "unexpected 'x'", None),
    (
        'rule "a": when natr > ' + "1" * 41 + " then size_mult = 1",
        1,
        23,
        "more than 40 digits",
        None,
    ),
    # --- syntax ---
    ("when natr > 1 then size_mult = 1", 1, 1, "expected 'rule', found 'when'", 'rule "name"'),
    ("rule a: when natr > 1", 1, 6, "expected the rule's name in double quotes", None),
    ('rule "a" when natr > 1', 1, 10, "expected ':' after the rule header", None),
    ('rule "a" priority high: when natr > 1', 1, 19, "whole-number priority", None),
    ('rule "a" priority 1.5: when natr > 1', 1, 19, "whole-number priority", None),
    ('rule "a" priority 1000001: when natr > 1', 1, 19, "above the limit", None),
    ('rule "a": natr > 1 then size_mult = 1', 1, 11, "expected 'when'", None),
    ('rule "a": when natr > 1 size_mult = 1', 1, 25, "expected 'then'", "operator"),
    ('rule "a": when natr > 1 then', 1, 29, "expected an action", None),
    ('rule "a": when natr > 1 then size_mult 1', 1, 40, "expected '=' after size_mult", None),
    (
        'rule "a": when natr > 1 then size_mult = 0.5 sl_mult = 1',
        1,
        46,
        "expected ',' before another action",
        None,
    ),
    ('rule "a": when natr > then size_mult = 1', 1, 23, "expected a value", "reserved word"),
    ('rule "a": when (natr > 1 then size_mult = 1', 1, 26, "expected ')' to close", None),
    ('rule "a": when 1 < natr < 2 then size_mult = 1', 1, 25, "cannot be chained", "and"),
    ('rule "a": when regime in "X" then size_mult = 1', 1, 26, "expected '['", None),
    ('rule "a": when regime in ["X" "Y"] then size_mult = 1', 1, 31, "',' or ']'", None),
    (
        'rule "a": when regime in [health] then size_mult = 1',
        1,
        27,
        "string or number literal",
        None,
    ),
    ('rule "a": when ' + "(" * 41 + "natr", 1, 56, "nested more than 40 levels", None),
    ('rule "a": when ' + "not " * 41 + "dqc_ok", 1, 176, "nested more than 40 levels", None),
    # --- names and types ---
    ('rule "a": when natrr > 1 then size_mult = 1', 1, 16, "unknown identifier 'natrr'", "'natr'"),
    ('rule "a": when zzz > 1 then size_mult = 1', 1, 16, "unknown identifier 'zzz'", "known"),
    (
        'rule "a": when natr > "x" then size_mult = 1',
        1,
        23,
        "'>' needs a number, got a string",
        None,
    ),
    ('rule "a": when regime < "x" then size_mult = 1', 1, 16, "'<' needs a number", "in"),
    ('rule "a": when regime == 1 then size_mult = 1', 1, 23, "cannot compare a string with", None),
    ('rule "a": when dqc_ok == 1 then size_mult = 1', 1, 23, "cannot compare a bool with", None),
    ('rule "a": when natr then size_mult = 1', 1, 16, "the condition is a number", "natr > 0.8"),
    ('rule "a": when regime then size_mult = 1', 1, 16, "the condition is a string", None),
    ('rule "a": when natr > 1 and 2 then size_mult = 1', 1, 29, "'and' needs a bool", None),
    ('rule "a": when not natr then size_mult = 1', 1, 20, "'not' needs a bool", None),
    ('rule "a": when -regime == 1 then size_mult = 1', 1, 17, "'-' needs a number", None),
    ('rule "a": when regime + 1 > 0 then size_mult = 1', 1, 16, "'+' needs a number", None),
    (
        'rule "a": when dqc_ok in [true] then size_mult = 1',
        1,
        27,
        "expected a string or number",
        None,
    ),
    ('rule "a": when dqc_ok in ["x"] then size_mult = 1', 1, 23, "needs a string or number", None),
    ('rule "a": when regime in [] then size_mult = 1', 1, 23, "list after 'in' is empty", None),
    ('rule "a": when regime in ["X", 2] then size_mult = 1', 1, 32, "list item is a number", None),
    # --- constants ---
    ('rule "a": when natr > 1 / 0 then size_mult = 1', 1, 25, "division by zero", "always 0"),
    ('rule "a": when natr / (2 - 2) > 1 then size_mult = 1', 1, 21, "division by zero", None),
    ('rule "a": when natr > 1 then size_mult = 0 / 0', 1, 44, "division by zero", None),
    ('rule "a": when 1 > 2 then size_mult = 1', 1, 16, "always false", None),
    ('rule "a": when false then size_mult = 1', 1, 16, "always false", None),
    # --- actions ---
    ('rule "a": when natr > 1 then size = 1', 1, 30, "unknown action 'size'", "'size_mult'"),
    ('rule "a": when natr > 1 then buy = 1', 1, 30, "unknown action 'buy'", "known actions"),
    ('rule "a": when natr > 1 then tp_mult = 1, tp_mult = 2', 1, 43, "tp_mult is set twice", None),
    ('rule "a": when natr > 1 then size_mult = -0.1', 1, 42, "size_mult must be between 0", None),
    ('rule "a": when natr > 1 then size_mult = 3.01', 1, 42, "between 0 and 3, got 3.01", None),
    ('rule "a": when natr > 1 then tp_mult = 0', 1, 40, "tp_mult must be between 0.1", None),
    (
        'rule "a": when natr > 1 then sl_mult = 11',
        1,
        40,
        "sl_mult must be between 0.1 and 10",
        None,
    ),
    ('rule "a": when natr > 1 then max_adds_override = 1.5', 1, 50, "whole number", None),
    ('rule "a": when natr > 1 then max_adds_override = 11', 1, 50, "between 0 and 10", None),
    ('rule "a": when natr > 1 then skip_entry = 1', 1, 43, "skip_entry needs a bool", None),
    ('rule "a": when natr > 1 then size_mult = true', 1, 42, "size_mult needs a number", None),
    (
        'rule "a": when natr > 1 then size_mult = regime',
        1,
        42,
        "needs a number, got a string",
        None,
    ),
    (
        'rule "a": when natr > 1 then reason = regime',
        1,
        39,
        "reason must be a string literal",
        None,
    ),
    ('rule "a": when natr > 1 then reason = " "', 1, 39, "reason is empty", None),
    # --- rules ---
    (
        OK + 'rule "ok": when natr > 2 then size_mult = 0.5',
        2,
        6,
        'duplicate rule name "ok"',
        "line 1",
    ),
    ('rule "": when natr > 1 then size_mult = 1', 1, 6, "rule name is empty", None),
    (OK + "\n\n  rule 'x'", 4, 8, "unexpected character", None),
]


@pytest.mark.parametrize(("text", "line", "column", "message", "hint"), CASES)
def test_located_error(text: str, line: int, column: int, message: str, hint: str | None) -> None:
    with pytest.raises(RuleError) as caught:
        compile_rules(text, SCHEMA, source="bundle.yaml:strategy.rules")
    error = caught.value
    assert (error.line, error.column) == (line, column), str(error)
    assert message in error.message
    if hint is not None:
        assert error.hint is not None and hint in error.hint
    assert str(error).startswith(f"bundle.yaml:strategy.rules:{line}:{column}: ")


def test_error_excerpt_points_at_the_column() -> None:
    with pytest.raises(RuleError) as caught:
        compile_rules(OK + 'rule "b": when natr > 1 then sizemult = 1', SCHEMA)
    assert caught.value.excerpt == (
        'rule "b": when natr > 1 then sizemult = 1\n                             ^'
    )
    assert str(caught.value) == (
        "<rules>:2:30: unknown action 'sizemult' (hint: did you mean 'size_mult' or 'sl_mult'?)"
    )


def test_a_depth_bomb_of_additions_is_refused() -> None:
    text = 'rule "a": when natr' + " + 1" * 100 + " > 1 then size_mult = 1"
    with pytest.raises(RuleError, match="more than 64 levels deep"):
        compile_rules(text, SCHEMA)


def test_oversized_text_is_refused() -> None:
    with pytest.raises(RuleError, match="limit"):
        compile_rules("#" * 200_001, SCHEMA)


def test_too_many_rules() -> None:
    text = "".join(f'rule "r{i}": when natr > {i} then size_mult = 1\n' for i in range(1001))
    with pytest.raises(RuleError, match="more than 1000 rules") as caught:
        compile_rules(text, SCHEMA)
    assert caught.value.line == 1001


@pytest.mark.parametrize("name", ["", "1x", "when", "a-b", "é"])
def test_schema_names_must_be_identifiers(name: str) -> None:
    with pytest.raises(ValueError, match="not a usable identifier"):
        compile_rules("", {name: ValueType.NUMBER})


def test_schema_types_must_be_value_types() -> None:
    with pytest.raises(ValueError, match="not a ValueType"):
        compile_rules("", {"natr": "number"})  # type: ignore[dict-item]
