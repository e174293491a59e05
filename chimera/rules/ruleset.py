"""Compile rule text into a RuleSet and evaluate it against one environment.

Composition (documented in docs/rules.md): rules run in descending priority, ties in file
order; ``skip_entry`` is sticky once any fired rule sets it true; ``size_mult``, ``tp_mult`` and
``sl_mult`` multiply across fired rules and the products are clamped into their caps;
``max_adds_override`` comes from the highest-priority fired rule that sets it.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from math import isfinite
from typing import Any

from chimera.rules.actions import (
    ACTIONS,
    SIZE_MULT_CAP,
    TP_SL_MULT_CAP,
    TP_SL_MULT_FLOOR,
    ActionSpec,
)
from chimera.rules.checker import check_rules
from chimera.rules.compiler import (
    ARITHMETIC,
    Env,
    Evaluator,
    compile_expr,
    constant_value,
    describe_arithmetic,
)
from chimera.rules.environment import NO_VALUE, describe_problem, to_number
from chimera.rules.errors import RuleError
from chimera.rules.outcome import NEUTRAL, RuleOutcome
from chimera.rules.parser import parse
from chimera.rules.schema import Schema, ValueType, check_schema
from chimera.rules.tree import Expr, Name, Rule, start_of

_ONE = Decimal(1)
_ZERO = Decimal(0)
_multiply = ARITHMETIC.multiply
# An effect is (skip_entry, size_mult, tp_mult, sl_mult, max_adds_override); None = not set.
_SLOTS = {"skip_entry": 0, "size_mult": 1, "tp_mult": 2, "sl_mult": 3, "max_adds_override": 4}
Effect = list[Any]
# Actions computed at evaluation time: (slot, spec, evaluator).
Dynamic = tuple[tuple[int, ActionSpec, Evaluator], ...]
# (name, condition, constant effect, dynamic actions, reason).
CompiledRule = tuple[str, Evaluator, Effect, Dynamic, str | None]


class RuleSet:
    """An immutable, compiled set of rules; ``evaluate`` is cheap and never raises."""

    def __init__(self, rules: list[CompiledRule], used: Mapping[str, ValueType]) -> None:
        self._rules = tuple(rules)
        self._identifiers = frozenset(used)
        self._numbers = tuple(sorted(n for n, kind in used.items() if kind is ValueType.NUMBER))
        self._strings = tuple(sorted(n for n, kind in used.items() if kind is ValueType.STRING))
        self._bools = tuple(sorted(n for n, kind in used.items() if kind is ValueType.BOOL))

    @property
    def names(self) -> tuple[str, ...]:
        """Return the rule names in evaluation order."""
        return tuple(rule[0] for rule in self._rules)

    @property
    def identifiers(self) -> frozenset[str]:
        """Return the schema names the rules read (the env keys that matter)."""
        return self._identifiers

    def __len__(self) -> int:
        return len(self._rules)

    def evaluate(self, env: Mapping[str, object]) -> RuleOutcome:
        """Return the composed outcome of the rules over ``env``.

        A value that is absent, ``None``, NaN/infinite or of the wrong type is "missing": a rule
        whose condition or action needs it does not fire and a reason says so. Arithmetic
        failures (division by zero) and out-of-range computed action values are handled the
        same way.
        """
        prepared: Env = {}
        get = env.get
        for name in self._numbers:  # inlined float fast path: this loop is half the cost
            value = get(name)
            if type(value) is float:
                if isfinite(value):
                    prepared[name] = Decimal(repr(value))
            else:
                value = to_number(value)
                if value is not NO_VALUE:
                    prepared[name] = value
        for name in self._strings:
            value = get(name)
            if isinstance(value, str):
                prepared[name] = value
        for name in self._bools:
            value = get(name)
            if value is True or value is False:
                prepared[name] = value
        skip = False
        size = tp = sl = _ONE
        max_adds: Decimal | None = None
        fired: list[str] = []
        reasons: list[str] = []
        for name, condition, static, dynamic, reason in self._rules:
            try:
                if not condition(prepared):
                    continue
                effect = _compute(static, dynamic, prepared) if dynamic else static
            except KeyError as exc:
                missing = str(exc.args[0]) if exc.args else "?"
                problem = describe_problem(env, missing)
                reasons.append(f"EVAL_ERROR[{name}]: {missing} is {problem}")
                continue
            except ArithmeticError as exc:
                reasons.append(f"EVAL_ERROR[{name}]: {describe_arithmetic(exc)}")
                continue
            except ValueError as exc:  # a computed value outside its action's range
                reasons.append(f"EVAL_ERROR[{name}]: {exc}")
                continue
            fired.append(name)
            if reason is not None:
                reasons.append(reason)
            set_skip, set_size, set_tp, set_sl, set_adds = effect
            if set_skip:
                skip = True
            if set_size is not None:
                size = _multiply(size, set_size)
            if set_tp is not None:
                tp = _multiply(tp, set_tp)
            if set_sl is not None:
                sl = _multiply(sl, set_sl)
            if set_adds is not None and max_adds is None:
                max_adds = set_adds
        if not fired and not reasons:
            return NEUTRAL
        return RuleOutcome(
            skip_entry=skip,
            size_mult=_clamp("size_mult", size, _ZERO, SIZE_MULT_CAP, reasons),
            tp_mult=_clamp("tp_mult", tp, TP_SL_MULT_FLOOR, TP_SL_MULT_CAP, reasons),
            sl_mult=_clamp("sl_mult", sl, TP_SL_MULT_FLOOR, TP_SL_MULT_CAP, reasons),
            max_adds_override=None if max_adds is None else int(max_adds),
            fired=tuple(fired),
            reasons=tuple(reasons),
        )


def compile_rules(text: str, schema: Schema, *, source: str = "<rules>") -> RuleSet:
    """Parse, check and compile ``text`` against ``schema``; raise a located RuleError.

    ``source`` names the text in error messages (e.g. ``bundle.yaml:strategy.rules``).
    """
    check_schema(schema)
    try:
        rules = parse(text)
        check_rules(rules, schema)
        compiled = [(rule.priority, _compile_rule(rule)) for rule in rules]
    except RuleError as exc:
        raise exc.located_in(text, source) from None
    compiled.sort(key=lambda pair: -pair[0])  # stable: ties keep file order
    used: dict[str, ValueType] = {}
    for rule in rules:
        for expr in [rule.condition, *(action.value for action in rule.actions)]:
            for name in _names_in(expr):
                used[name] = schema[name]
    return RuleSet([rule for _, rule in compiled], used)


def _compile_rule(rule: Rule) -> CompiledRule:
    condition, constant = compile_expr(rule.condition)
    if constant and not constant_value(condition):
        line, column = start_of(rule.condition)
        raise RuleError(line, column, "the condition is always false: the rule never fires")
    static: Effect = [None] * len(_SLOTS)
    dynamic: list[tuple[int, ActionSpec, Evaluator]] = []
    reason: str | None = None
    for action in rule.actions:
        spec = ACTIONS[action.target]
        evaluate, is_constant = compile_expr(action.value)
        if spec.name == "reason":
            reason = str(constant_value(evaluate))
        elif is_constant:
            value = constant_value(evaluate)
            problem = spec.violation(value)
            if problem is not None:
                line, column = start_of(action.value)
                raise RuleError(line, column, problem)
            static[_SLOTS[spec.name]] = value
        else:
            dynamic.append((_SLOTS[spec.name], spec, evaluate))
    return rule.name, condition, static, tuple(dynamic), reason


def _compute(static: Effect, dynamic: Dynamic, env: Env) -> Effect:
    effect = list(static)
    for slot, spec, evaluate in dynamic:
        value = evaluate(env)
        problem = spec.violation(value)
        if problem is not None:
            raise ValueError(problem)
        effect[slot] = value
    return effect


def _names_in(expr: Expr) -> list[str]:
    found: list[str] = []
    stack: list[Any] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, Name):
            found.append(node.name)
        for child in ("left", "right", "operand"):
            if hasattr(node, child):
                stack.append(getattr(node, child))
        if hasattr(node, "operands"):
            stack.extend(node.operands)
    return found


def _clamp(name: str, value: Decimal, low: Decimal, high: Decimal, reasons: list[str]) -> Decimal:
    if value > high:
        reasons.append(f"CAPPED[{name}]: {value} -> {high}")
        return high
    if value < low:
        reasons.append(f"CAPPED[{name}]: {value} -> {low}")
        return low
    return value
