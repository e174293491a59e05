"""The syntax tree the parser builds: expressions, actions, rules, each with its position.

Operator nodes are placed at their operator token (``a == b`` at ``==``), which is where a type
error in them is reported; ``start_of`` finds where an expression's text begins.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec


class Number(msgspec.Struct, frozen=True):
    """A decimal literal, exact."""

    value: Decimal
    line: int
    column: int


class String(msgspec.Struct, frozen=True):
    """A double-quoted string literal."""

    value: str
    line: int
    column: int


class Boolean(msgspec.Struct, frozen=True):
    """``true`` or ``false``."""

    value: bool
    line: int
    column: int


class Name(msgspec.Struct, frozen=True):
    """An identifier read from the environment (checked against the schema)."""

    name: str
    line: int
    column: int


class Unary(msgspec.Struct, frozen=True):
    """``-x`` or ``not x``."""

    op: str
    operand: Expr
    line: int
    column: int


class Binary(msgspec.Struct, frozen=True):
    """Arithmetic (``+ - * /``) or a comparison (``== != < <= > >=``)."""

    op: str
    left: Expr
    right: Expr
    line: int
    column: int


class Logic(msgspec.Struct, frozen=True):
    """``a and b and ...`` or ``a or b or ...`` (flat, evaluated left to right, short-circuit)."""

    op: str
    operands: tuple[Expr, ...]
    line: int
    column: int


class Membership(msgspec.Struct, frozen=True):
    """``x in [..]`` / ``x not in [..]`` over literal items."""

    operand: Expr
    items: tuple[Number | String, ...]
    negated: bool
    line: int
    column: int


Expr = Number | String | Boolean | Name | Unary | Binary | Logic | Membership


class Action(msgspec.Struct, frozen=True):
    """``target = value`` in a rule's ``then`` list."""

    target: str
    value: Expr
    line: int
    column: int


class Rule(msgspec.Struct, frozen=True):
    """One rule: name, priority, condition, actions; ``index`` is its position in the file."""

    name: str
    priority: int
    condition: Expr
    actions: tuple[Action, ...]
    index: int
    line: int
    column: int
    name_line: int
    name_column: int


def start_of(expr: Expr) -> tuple[int, int]:
    """Return the line and column where ``expr``'s text begins."""
    node: Expr = expr
    while True:
        if isinstance(node, Binary):
            node = node.left
        elif isinstance(node, Logic):
            node = node.operands[0]
        elif isinstance(node, Membership):
            node = node.operand
        else:
            return node.line, node.column
