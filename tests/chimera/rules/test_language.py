"""Every construct of the rule language, parsed and evaluated exactly."""

from __future__ import annotations

from decimal import Decimal

import pytest

from chimera.rules import NEUTRAL, RuleOutcome
from chimera.rules.lexer import TokenKind, tokenize
from chimera.rules.parser import parse
from chimera.rules.tree import Binary, Logic, Membership, Name, Number, String, Unary
from tests.chimera.rules.schema import fires, rules

ENV: dict[str, object] = {
    "natr": 0.8,
    "atr": 40.0,
    "close": 50000,
    "funding_rate": Decimal("0.0001"),
    "spread_bp": 3.0,
    "regime": "NORMAL",
    "health": "GREEN",
    "dqc_stale": False,
    "dqc_ok": True,
}


def test_tokens_carry_line_and_column() -> None:
    tokens = tokenize('rule "a b" priority 7:\n  when natr >= 0.80 # comment\n')
    assert [(t.kind, t.text, t.line, t.column) for t in tokens] == [
        (TokenKind.KEYWORD, "rule", 1, 1),
        (TokenKind.STRING, "a b", 1, 6),
        (TokenKind.KEYWORD, "priority", 1, 12),
        (TokenKind.NUMBER, "7", 1, 21),
        (TokenKind.SYMBOL, ":", 1, 22),
        (TokenKind.KEYWORD, "when", 2, 3),
        (TokenKind.NAME, "natr", 2, 8),
        (TokenKind.SYMBOL, ">=", 2, 13),
        (TokenKind.NUMBER, "0.80", 2, 16),
        (TokenKind.END, "", 3, 1),
    ]


def test_string_escapes() -> None:
    [token, _] = tokenize(r'"a \"q\" \\ b"')
    assert token.text == 'a "q" \\ b'


def test_rule_structure() -> None:
    [first, second] = parse(
        'rule "one" priority 5:\n  when natr > 1\n  then size_mult = 0.5, reason = "X"\n'
        'rule "two": when dqc_stale then skip_entry = true'
    )
    assert (first.name, first.priority, first.index, first.line, first.column) == (
        "one",
        5,
        0,
        1,
        1,
    )
    assert [a.target for a in first.actions] == ["size_mult", "reason"]
    assert first.actions[1].value == String("X", 3, 34)
    assert (second.name, second.priority, second.index) == ("two", 0, 1)
    assert second.condition == Name("dqc_stale", 4, 18)


def test_precedence_and_associativity() -> None:
    [rule] = parse('rule "p": when not a or b and c == 1 + 2 * 3 - 4 / 5 then x = 1')
    cond = rule.condition
    assert isinstance(cond, Logic) and cond.op == "or"
    assert isinstance(cond.operands[0], Unary) and cond.operands[0].op == "not"
    conj = cond.operands[1]
    assert isinstance(conj, Logic) and conj.op == "and"
    cmp = conj.operands[1]
    assert isinstance(cmp, Binary) and cmp.op == "=="
    minus = cmp.right  # (1 + (2 * 3)) - (4 / 5)
    assert isinstance(minus, Binary) and minus.op == "-"
    assert isinstance(minus.left, Binary) and minus.left.op == "+"
    assert isinstance(minus.left.right, Binary) and minus.left.right.op == "*"
    assert isinstance(minus.right, Binary) and minus.right.op == "/"


def test_and_or_chains_are_flat() -> None:
    [rule] = parse('rule "f": when a or b or c or d then x = 1')
    assert isinstance(rule.condition, Logic) and len(rule.condition.operands) == 4


def test_membership_lists() -> None:
    [rule] = parse('rule "m": when regime not in ["A", "B",] and natr in [1, -2.5] then x = 1')
    assert isinstance(rule.condition, Logic)
    negated, plain = rule.condition.operands
    assert isinstance(negated, Membership) and negated.negated
    assert [item.value for item in negated.items] == ["A", "B"]
    assert isinstance(plain, Membership) and not plain.negated
    assert plain.items[1] == Number(Decimal("-2.5"), 1, 58)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("natr > 0.8", False),  # 0.8 float is exactly 0.8, not 0.8000000000000000444
        ("natr >= 0.8", True),
        ("natr == 0.80", True),
        ("natr != 0.8", False),
        ("natr < 0.81 and natr <= 0.8", True),
        ("atr / close * 10000 == 8", True),
        ("atr - 50 == -10", True),
        ("-atr + 40 == 0", True),
        ("(natr + 0.2) * 2 == 2", True),
        ("1 - 0.9 == 0.1", True),  # exact decimals: 1 - 0.9 is 0.1
        ("funding_rate * 10000 == 1", True),
        ('regime == "NORMAL"', True),
        ('regime != "NORMAL"', False),
        ('regime in ["EXTREME", "FROZEN"]', False),
        ('regime not in ["EXTREME", "FROZEN"]', True),
        ("natr in [0.5, 0.8]", True),
        ("dqc_stale", False),
        ("not dqc_stale", True),
        ("dqc_ok == true", True),
        ("dqc_stale != false", False),
        ("dqc_stale or dqc_ok", True),
        ("dqc_stale and dqc_ok", False),
        ("not (dqc_stale or natr < 0.5)", True),
        ("true", True),
    ],
)
def test_conditions_evaluate_exactly(condition: str, expected: bool) -> None:
    assert fires(condition, ENV) is expected


def test_whitespace_and_comments_are_free() -> None:
    text = """
    # leading comment
    rule "spread"   # trailing comment
        priority 3 :
      when spread_bp
           > 2
      then
        size_mult = 0.5 ,
        reason = "WIDE"
    """
    outcome = rules(text).evaluate(ENV)
    assert outcome.fired == ("spread",)
    assert outcome.reasons == ("WIDE",)


def test_empty_text_is_an_empty_rule_set() -> None:
    ruleset = rules("  # nothing here\n")
    assert len(ruleset) == 0
    assert ruleset.evaluate(ENV) is NEUTRAL


def test_every_action() -> None:
    outcome = rules(
        'rule "all": when natr > 0.5 then skip_entry = true, size_mult = 0.5, tp_mult = 2,'
        ' sl_mult = 1.5, max_adds_override = 3, reason = "ALL"'
    ).evaluate(ENV)
    assert outcome == RuleOutcome(
        skip_entry=True,
        size_mult=Decimal("0.5"),
        tp_mult=Decimal(2),
        sl_mult=Decimal("1.5"),
        max_adds_override=3,
        fired=("all",),
        reasons=("ALL",),
    )


def test_computed_action_values() -> None:
    ruleset = rules('rule "c": when natr > 0 then size_mult = 0.4 / natr, skip_entry = dqc_stale')
    outcome = ruleset.evaluate(ENV)
    assert outcome.size_mult == Decimal("0.5")
    assert outcome.skip_entry is False


def test_introspection() -> None:
    ruleset = rules(
        'rule "low" priority 1: when natr > 1 then size_mult = 0.5\n'
        'rule "high" priority 9: when regime == "X" and dqc_ok then tp_mult = 2'
    )
    assert ruleset.names == ("high", "low")
    assert ruleset.identifiers == {"natr", "regime", "dqc_ok"}
    assert len(ruleset) == 2


def test_values_from_the_environment() -> None:
    assert fires("close == 50000", {"close": 50000})
    assert fires("close == 50000.5", {"close": 50000.5})
    assert fires("close == 50000.5", {"close": Decimal("50000.50")})
    assert fires("natr > 0.1", {"natr": 0.2})
    assert not fires("natr > 0.1", {"natr": None})
    assert not fires("natr > 0.1", {"natr": True})  # a bool is not a number
    assert not fires("natr > 0.1", {"natr": "0.2"})
    assert not fires("natr > 0.1", {"natr": float("nan")})
    assert not fires("natr > 0.1", {"natr": float("inf")})
    assert not fires("natr > 0.1", {"natr": Decimal("NaN")})
    assert not fires('regime == "X"', {"regime": 1})
    assert not fires("dqc_stale", {"dqc_stale": 1})


def test_enum_and_numpy_values() -> None:
    import enum

    import numpy as np

    class Regime(enum.StrEnum):
        EXTREME = "EXTREME"

    assert fires('regime in ["EXTREME"]', {"regime": Regime.EXTREME})
    assert fires("natr == 0.8", {"natr": np.float64(0.8)})
    assert fires("close == 3", {"close": np.int64(3)})
    assert fires("natr == 0.5", {"natr": np.float32(0.5)})
    assert not fires("natr > 0", {"natr": np.float64("nan")})
    assert not fires("dqc_ok", {"dqc_ok": np.bool_(True)})  # only Python bools are bools


def test_the_global_decimal_context_does_not_matter() -> None:
    import decimal

    with decimal.localcontext() as context:
        context.prec = 2
        context.traps[decimal.Inexact] = True
        assert fires("natr * 3 == 2.4690", {"natr": 0.823})
