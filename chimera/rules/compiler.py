"""Compile checked expressions into Python closures over a prepared environment.

Nothing here generates or evaluates Python source: each node becomes a small closure built from
fixed functions. Arithmetic runs in ``ARITHMETIC`` (a private decimal context that traps
division by zero, invalid operations and overflow), so every failure is an ``ArithmeticError``
the evaluator turns into "this rule does not fire". A missing environment value surfaces as a
``KeyError`` from the name lookup, with the same effect; ``and``/``or`` treat such a failure as
"unknown" (Kleene logic), so ``missing or true`` is true and ``missing and false`` is false.
Constant subexpressions are folded here, and a constant that cannot be computed (``1 / 0``) is
a located compile error.
"""

from __future__ import annotations

import decimal
import operator
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from chimera.rules.errors import RuleError
from chimera.rules.tree import (
    Binary,
    Boolean,
    Expr,
    Logic,
    Membership,
    Name,
    Number,
    String,
    Unary,
    start_of,
)

Value = Decimal | str | bool
Env = dict[str, Any]
Evaluator = Callable[[Env], Any]

ARITHMETIC = decimal.Context(
    prec=34,
    rounding=decimal.ROUND_HALF_EVEN,
    Emax=999_999,
    Emin=-999_999,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)

_ARITHMETIC_OPS: dict[str, Callable[[Decimal, Decimal], Decimal]] = {
    "+": ARITHMETIC.add,
    "-": ARITHMETIC.subtract,
    "*": ARITHMETIC.multiply,
    "/": ARITHMETIC.divide,
}
_COMPARE_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def compile_expr(expr: Expr) -> tuple[Evaluator, bool]:
    """Return a closure computing ``expr`` from a prepared env, and whether it is constant."""
    if isinstance(expr, Number | String | Boolean):
        return _constant(expr.value), True
    if isinstance(expr, Name):
        return operator.itemgetter(expr.name), False
    if isinstance(expr, Unary):
        return _fold(expr, *_unary(expr))
    if isinstance(expr, Logic):
        return _fold(expr, *_logic(expr))
    if isinstance(expr, Membership):
        operand, constant = compile_expr(expr.operand)
        items = frozenset(item.value for item in expr.items)
        if expr.negated:
            return _fold(expr, lambda env: operand(env) not in items, constant)
        return _fold(expr, lambda env: operand(env) in items, constant)
    return _fold(expr, *_binary(expr))


def constant_value(evaluate: Evaluator) -> Any:
    """Return the value of a closure ``compile_expr`` reported as constant."""
    return evaluate({})


def _constant(value: Value) -> Evaluator:
    return lambda env: value


def _fold(expr: Expr, evaluate: Evaluator, constant: bool) -> tuple[Evaluator, bool]:
    if not constant:
        return evaluate, False
    try:
        value = evaluate({})
    except ArithmeticError as exc:
        line, column = start_of(expr)
        raise RuleError(
            line, column, f"constant expression fails: {describe_arithmetic(exc)}"
        ) from None
    return _constant(value), True


def _unary(expr: Unary) -> tuple[Evaluator, bool]:
    operand, constant = compile_expr(expr.operand)
    if expr.op == "not":
        return (lambda env: not operand(env)), constant
    minus = ARITHMETIC.minus
    return (lambda env: minus(operand(env))), constant


def _logic(expr: Logic) -> tuple[Evaluator, bool]:
    compiled = [compile_expr(operand) for operand in expr.operands]
    parts = tuple(evaluate for evaluate, _ in compiled)
    constant = all(is_constant for _, is_constant in compiled)
    decisive = expr.op == "or"  # the operand value that settles the result

    def careful(env: Env) -> bool:
        # Kleene logic: an operand that cannot be computed is "unknown"; a decisive operand
        # elsewhere still settles the result, otherwise the first failure propagates.
        failure: Exception | None = None
        for part in parts:
            try:
                if part(env) == decisive:
                    return decisive
            except (KeyError, ArithmeticError) as exc:
                failure = failure or exc
        if failure is not None:
            raise failure
        return not decisive

    # Operands are type-checked bools, so plain and/or give bools; on a failure fall back.
    if len(parts) == 2:
        first, second = parts
        if decisive:

            def either(env: Env) -> bool:
                try:
                    return first(env) or second(env)  # type: ignore[no-any-return]
                except (KeyError, ArithmeticError):
                    return careful(env)  # operands are pure: recomputing them is safe

            return either, constant

        def both(env: Env) -> bool:
            try:
                return first(env) and second(env)  # type: ignore[no-any-return]
            except (KeyError, ArithmeticError):
                return careful(env)

        return both, constant

    def evaluate(env: Env) -> bool:
        try:
            for part in parts:
                if part(env) == decisive:
                    return decisive
            return not decisive
        except (KeyError, ArithmeticError):
            return careful(env)

    return evaluate, constant


def _binary(expr: Binary) -> tuple[Evaluator, bool]:
    left, left_constant = compile_expr(expr.left)
    right, right_constant = compile_expr(expr.right)
    if expr.op == "/" and right_constant and constant_value(right) == 0:
        raise RuleError(expr.line, expr.column, "division by zero", "the divisor is always 0")
    op = _ARITHMETIC_OPS.get(expr.op) or _COMPARE_OPS[expr.op]
    constant = left_constant and right_constant
    # Specialize the common shapes (``name OP literal``) to save closure calls on the hot path.
    if right_constant and not left_constant:
        value = constant_value(right)
        if isinstance(expr.left, Name):
            name = expr.left.name
            return (lambda env: op(env[name], value)), False
        return (lambda env: op(left(env), value)), False
    if isinstance(expr.left, Name) and isinstance(expr.right, Name):
        first, second = expr.left.name, expr.right.name
        return (lambda env: op(env[first], env[second])), False
    return (lambda env: op(left(env), right(env))), constant


def describe_arithmetic(exc: ArithmeticError) -> str:
    """Return a short human name for a decimal failure."""
    if isinstance(exc, decimal.DivisionByZero | decimal.DivisionUndefined | ZeroDivisionError):
        return "division by zero"
    if isinstance(exc, decimal.Overflow):
        return "number too large"
    return "invalid arithmetic"
