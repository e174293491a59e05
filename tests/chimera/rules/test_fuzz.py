"""Fuzzing: arbitrary text never crashes the compiler; well-typed rules never crash evaluation.

Generated well-typed rule sets are also checked against the composition contract: skip_entry is
sticky, the multipliers are the clamped products over the fired rules, max_adds_override comes
from the first fired rule (in evaluation order) that sets it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chimera.rules import (
    SIZE_MULT_CAP,
    TP_SL_MULT_CAP,
    TP_SL_MULT_FLOOR,
    RuleError,
    compile_rules,
)
from chimera.rules.lexer import KEYWORDS
from tests.chimera.rules.schema import SCHEMA

NUMBERS = ["natr", "atr", "close", "funding_rate", "spread_bp"]
STRINGS = ["regime", "health"]
BOOLS = ["dqc_stale", "dqc_ok"]
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VOCABULARY = [
    *sorted(KEYWORDS),
    *NUMBERS,
    *STRINGS,
    *BOOLS,
    "size_mult",
    "skip_entry",
    "reason",
    "max_adds_override",
    "tp_mult",
    "sl_mult",
    "nonsense",
    *[
        "==",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "+",
        "-",
        "*",
        "/",
        "(",
        ")",
        "[",
        "]",
        ":",
        "=",
        '"',
        "!",
        "#",
        ".",
        "@",
    ],
    "0",
    "0.5",
    "3",
    "11",
    "1.",
    '"EXTREME"',
    '"x',
    "\n",
]


def _compile_or_rule_error(text: str) -> None:
    try:
        compile_rules(text, SCHEMA, source="fuzz")
    except RuleError as error:
        assert error.line >= 1 and error.column >= 1
        assert error.message


@FUZZ
@given(st.text(max_size=300))
def test_random_text_only_raises_rule_error(text: str) -> None:
    _compile_or_rule_error(text)


@FUZZ
@given(st.lists(st.sampled_from(VOCABULARY), max_size=60), st.sampled_from([" ", "", "\n"]))
def test_random_tokens_only_raise_rule_error(tokens: list[str], separator: str) -> None:
    _compile_or_rule_error(separator.join(tokens))


@FUZZ
@given(st.lists(st.sampled_from(VOCABULARY), max_size=40))
def test_mutated_valid_rules_only_raise_rule_error(tokens: list[str]) -> None:
    base = 'rule "a" priority 3: when natr > 0.5 and regime in ["X"] then size_mult = 0.5 '
    _compile_or_rule_error(base + " ".join(tokens))


# --- well-typed generation ------------------------------------------------------------------
decimals = st.decimals(min_value=-1000, max_value=1000, places=3, allow_nan=False).map(
    lambda value: f"({value})" if value < 0 else str(value)
)


def numbers(depth: int) -> st.SearchStrategy[str]:
    """Return number-typed expression texts nested at most ``depth`` deep."""
    leaf = st.one_of(st.sampled_from(NUMBERS), decimals)
    if depth == 0:
        return leaf
    inner = numbers(depth - 1)
    return st.one_of(
        leaf,
        st.builds(lambda a, op, b: f"({a} {op} {b})", inner, st.sampled_from("+-*/"), inner),
        inner.map(lambda a: f"-{a}"),
    )


def strings() -> st.SearchStrategy[str]:
    """Return string-typed expression texts."""
    literal = st.sampled_from(['"EXTREME"', '"NORMAL"', '"GREEN"', '""'])
    return st.one_of(st.sampled_from(STRINGS), literal)


def with_name(depth: int) -> st.SearchStrategy[str]:
    """Return number-typed expression texts that read at least one environment value."""
    return st.builds(
        lambda name, op, rest: f"({name} {op} {rest})",
        st.sampled_from(NUMBERS),
        st.sampled_from("+-*/"),
        numbers(depth),
    ) | st.sampled_from(NUMBERS)


def bools(depth: int) -> st.SearchStrategy[str]:
    """Return bool-typed expression texts nested at most ``depth`` deep (never constant)."""
    leaf = st.one_of(
        st.sampled_from(BOOLS),
        st.builds(
            lambda a, op, b: f"{a} {op} {b}",
            with_name(1),
            st.sampled_from(["==", "!=", "<", "<=", ">", ">="]),
            numbers(1),
        ),
        st.builds(
            lambda a, op, b: f"{a} {op} {b}",
            st.sampled_from(STRINGS),
            st.sampled_from(["==", "!="]),
            strings(),
        ),
        st.builds(
            lambda a, neg, items: f"{a} {neg}in [{', '.join(items)}]",
            st.sampled_from(STRINGS),
            st.sampled_from(["", "not "]),
            st.lists(st.sampled_from(['"EXTREME"', '"NORMAL"', '"RED"']), min_size=1, max_size=3),
        ),
    )
    if depth == 0:
        return leaf
    inner = bools(depth - 1)
    return st.one_of(
        leaf,
        st.builds(lambda a, op, b: f"({a} {op} {b})", inner, st.sampled_from(["and", "or"]), inner),
        inner.map(lambda a: f"not ({a})"),
    )


multiplier = st.decimals(min_value="0.1", max_value="3", places=2)


@st.composite
def rule_sets(draw: st.DrawFn) -> tuple[str, list[dict[str, Any]]]:
    """Return a well-typed rule text and, per rule, its constant actions."""
    count = draw(st.integers(min_value=1, max_value=8))
    texts, specs = [], []
    for index in range(count):
        actions: dict[str, Any] = {}
        if draw(st.booleans()):
            actions["skip_entry"] = draw(st.booleans())
        for name in ("size_mult", "tp_mult", "sl_mult"):
            if draw(st.booleans()):
                actions[name] = draw(multiplier)
        if draw(st.booleans()):
            actions["max_adds_override"] = draw(st.integers(min_value=0, max_value=10))
        if not actions or draw(st.booleans()):
            actions["reason"] = f"R{index}"
        computed = ""
        if draw(st.booleans()):
            computed = f", size_mult = {draw(with_name(1))}" if "size_mult" not in actions else ""
        rendered = ", ".join(
            f'{k} = "{v}"' if k == "reason" else f"{k} = {str(v).lower()}"
            for k, v in actions.items()
        )
        priority = draw(st.integers(min_value=0, max_value=3))
        condition = draw(bools(2))
        texts.append(
            f'rule "r{index}" priority {priority}:\n  when {condition}\n  then {rendered}{computed}'
        )
        specs.append({"priority": priority, "computed": bool(computed), **actions})
    return "\n".join(texts), specs


good_numbers = st.one_of(
    st.just(0),
    st.integers(min_value=-5, max_value=5),
    st.floats(min_value=-10, max_value=10),
    st.decimals(min_value=-10, max_value=10, places=4),
)
bad_numbers = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
)
environments = st.fixed_dictionaries(
    {
        **{name: st.one_of(good_numbers, good_numbers, bad_numbers) for name in NUMBERS},
        **{name: st.sampled_from(["EXTREME", "NORMAL", "GREEN", "", None, 1]) for name in STRINGS},
        **{name: st.sampled_from([True, False, True, False, None, 0]) for name in BOOLS},
    },
)


def _clamp(value: Decimal, low: Decimal, high: Decimal) -> Decimal:
    return min(max(value, low), high)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule_sets(), st.lists(environments, min_size=1, max_size=4))
def test_well_typed_rules_evaluate_within_the_contract(
    generated: tuple[str, list[dict[str, Any]]], envs: list[dict[str, object]]
) -> None:
    text, specs = generated
    try:
        ruleset = compile_rules(text, SCHEMA)
    except RuleError as error:  # only constant folding may refuse well-typed text
        assert (
            "always false" in error.message
            or "division by zero" in error.message
            or ("constant expression" in error.message)
            or "size_mult must be" in error.message
        ), str(error)
        return
    by_name = {f"r{i}": spec for i, spec in enumerate(specs)}
    for env in envs:
        outcome = ruleset.evaluate(env)
        fired = [by_name[name] for name in outcome.fired]
        assert outcome.skip_entry == any(spec.get("skip_entry") is True for spec in fired)
        assert Decimal(0) <= outcome.size_mult <= SIZE_MULT_CAP
        for value in (outcome.tp_mult, outcome.sl_mult):
            assert TP_SL_MULT_FLOOR <= value <= TP_SL_MULT_CAP
        priorities = [spec["priority"] for spec in fired]
        assert priorities == sorted(priorities, reverse=True)
        for name, low, high in (
            ("tp_mult", TP_SL_MULT_FLOOR, TP_SL_MULT_CAP),
            ("sl_mult", TP_SL_MULT_FLOOR, TP_SL_MULT_CAP),
        ):
            product = Decimal(1)
            for spec in fired:
                product *= spec.get(name, Decimal(1))
            assert getattr(outcome, name) == _clamp(product, low, high)
        if not any(spec["computed"] for spec in fired):
            product = Decimal(1)
            for spec in fired:
                product *= spec.get("size_mult", Decimal(1))
            assert outcome.size_mult == _clamp(product, Decimal(0), SIZE_MULT_CAP)
        adds = [spec["max_adds_override"] for spec in fired if "max_adds_override" in spec]
        assert outcome.max_adds_override == (adds[0] if adds else None)
        explicit = [f"R{name[1:]}" for name in outcome.fired if "reason" in by_name[name]]
        assert [r for r in outcome.reasons if r.startswith("R")] == explicit
