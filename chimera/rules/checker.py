"""Static checks on parsed rules: names against the schema, types, actions, duplicates."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from chimera.rules.actions import ACTIONS
from chimera.rules.errors import RuleError
from chimera.rules.schema import Schema, ValueType
from chimera.rules.tree import (
    Binary,
    Boolean,
    Expr,
    Logic,
    Membership,
    Name,
    Number,
    Rule,
    String,
    Unary,
    start_of,
)

_ARITHMETIC = frozenset("+-*/")
_ORDERING = frozenset({"<", "<=", ">", ">="})
_NAMES = {ValueType.NUMBER: "a number", ValueType.STRING: "a string", ValueType.BOOL: "a bool"}


def check_rules(rules: Iterable[Rule], schema: Schema) -> None:
    """Raise a located RuleError at the first rule that reads or sets something wrongly."""
    first_seen: dict[str, Rule] = {}
    for rule in rules:
        if not rule.name.strip():
            raise RuleError(rule.name_line, rule.name_column, "rule name is empty")
        if rule.name in first_seen:
            raise RuleError(
                rule.name_line,
                rule.name_column,
                f'duplicate rule name "{rule.name}"',
                f"the first is at line {first_seen[rule.name].name_line}; names must be unique",
            )
        first_seen[rule.name] = rule
        _check_rule(rule, schema)


def _check_rule(rule: Rule, schema: Schema) -> None:
    kind = type_of(rule.condition, schema)
    if kind is not ValueType.BOOL:
        line, column = start_of(rule.condition)
        raise RuleError(
            line,
            column,
            f"the condition is {_NAMES[kind]}, not a bool",
            "compare it, e.g. natr > 0.8",
        )
    set_at: dict[str, int] = {}
    for action in rule.actions:
        spec = ACTIONS.get(action.target)
        if spec is None:
            raise RuleError(
                action.line,
                action.column,
                f"unknown action '{action.target}'",
                _suggest(action.target, ACTIONS, "actions"),
            )
        if action.target in set_at:
            raise RuleError(
                action.line,
                action.column,
                f"{action.target} is set twice in this rule",
                f"the first is at line {set_at[action.target]}",
            )
        set_at[action.target] = action.line
        if spec.literal_only and not isinstance(action.value, String):
            line, column = start_of(action.value)
            raise RuleError(line, column, f"{spec.name} must be a string literal", 'reason = "X"')
        if isinstance(action.value, String) and not action.value.value.strip():
            raise RuleError(action.value.line, action.value.column, f"{spec.name} is empty")
        value_kind = type_of(action.value, schema)
        if value_kind is not spec.kind:
            line, column = start_of(action.value)
            raise RuleError(
                line,
                column,
                f"{spec.name} needs {_NAMES[spec.kind]}, got {_NAMES[value_kind]}",
            )


def type_of(expr: Expr, schema: Schema) -> ValueType:
    """Return the type of ``expr``; raise a located RuleError on an unknown name or type error."""
    if isinstance(expr, Number):
        return ValueType.NUMBER
    if isinstance(expr, String):
        return ValueType.STRING
    if isinstance(expr, Boolean):
        return ValueType.BOOL
    if isinstance(expr, Name):
        found = schema.get(expr.name)
        if found is None:
            raise RuleError(
                expr.line,
                expr.column,
                f"unknown identifier '{expr.name}'",
                _suggest(expr.name, schema, "identifiers"),
            )
        return found
    if isinstance(expr, Unary):
        wanted = ValueType.BOOL if expr.op == "not" else ValueType.NUMBER
        _require(expr.operand, schema, wanted, f"'{expr.op}'")
        return wanted
    if isinstance(expr, Logic):
        for operand in expr.operands:
            _require(operand, schema, ValueType.BOOL, f"'{expr.op}'")
        return ValueType.BOOL
    if isinstance(expr, Membership):
        return _membership(expr, schema)
    return _binary(expr, schema)


def _binary(expr: Binary, schema: Schema) -> ValueType:
    if expr.op in _ARITHMETIC or expr.op in _ORDERING:
        _require(expr.left, schema, ValueType.NUMBER, f"'{expr.op}'")
        _require(expr.right, schema, ValueType.NUMBER, f"'{expr.op}'")
        return ValueType.NUMBER if expr.op in _ARITHMETIC else ValueType.BOOL
    left, right = type_of(expr.left, schema), type_of(expr.right, schema)
    if left is not right:
        raise RuleError(
            expr.line,
            expr.column,
            f"cannot compare {_NAMES[left]} with {_NAMES[right]} using '{expr.op}'",
            'both sides must have the same type, e.g. regime == "EXTREME"',
        )
    return ValueType.BOOL


def _membership(expr: Membership, schema: Schema) -> ValueType:
    operand = type_of(expr.operand, schema)
    if operand is ValueType.BOOL:
        raise RuleError(expr.line, expr.column, "'in' needs a string or number on its left")
    if not expr.items:
        raise RuleError(expr.line, expr.column, "the list after 'in' is empty")
    for item in expr.items:
        item_kind = type_of(item, schema)
        if item_kind is not operand:
            raise RuleError(
                item.line,
                item.column,
                f"list item is {_NAMES[item_kind]} but the left side is {_NAMES[operand]}",
            )
    return ValueType.BOOL


def _require(expr: Expr, schema: Schema, wanted: ValueType, where: str) -> None:
    found = type_of(expr, schema)
    if found is not wanted:
        line, column = start_of(expr)
        hint = None
        if found is ValueType.STRING and wanted is ValueType.NUMBER:
            hint = "strings can only be compared with == / != / in"
        raise RuleError(line, column, f"{where} needs {_NAMES[wanted]}, got {_NAMES[found]}", hint)


def _suggest(word: str, known: Iterable[str], what: str) -> str:
    names = sorted(known)
    close = difflib.get_close_matches(word, names, n=3, cutoff=0.6)
    if close:
        return "did you mean " + " or ".join(f"'{name}'" for name in close) + "?"
    if not names:
        return f"no {what} are defined"
    shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    return f"known {what}: {shown}"
