"""Benchmark S3's rule language: one ``RuleSet.evaluate`` over 20 rules, in microseconds.

The rules are realistic (comparisons, and/or, ``in`` lists, arithmetic, every action) and the
environment is what S2's ``FeatureEvent.as_env`` gives S3 (floats, bools, strings), so the
number includes converting the env to exact decimals. Target: <= 20 us per evaluation.

    .venv/bin/python scripts/bench/rules_eval.py [--rules 20] [--repeat 5] [--number 20000]
"""

from __future__ import annotations

import argparse
import sys
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from chimera.rules import RuleSet, ValueType, compile_rules  # noqa: E402

SCHEMA = {
    "natr": ValueType.NUMBER,
    "atr": ValueType.NUMBER,
    "rv": ValueType.NUMBER,
    "rho": ValueType.NUMBER,
    "spread_bp": ValueType.NUMBER,
    "depth_imbalance": ValueType.NUMBER,
    "funding_rate": ValueType.NUMBER,
    "close": ValueType.NUMBER,
    "regime": ValueType.STRING,
    "health": ValueType.STRING,
    "symbol": ValueType.STRING,
    "dqc_stale": ValueType.BOOL,
    "dqc_gap": ValueType.BOOL,
    "dqc_ok": ValueType.BOOL,
}
ENV: dict[str, object] = {
    "natr": 0.8312,
    "atr": 48.25,
    "rv": 0.0123,
    "rho": 0.74,
    "spread_bp": 1.7,
    "depth_imbalance": -0.21,
    "funding_rate": 0.0001,
    "close": 61234.5,
    "regime": "NORMAL",
    "health": "GREEN",
    "symbol": "BTCUSDT",
    "dqc_stale": False,
    "dqc_gap": False,
    "dqc_ok": True,
}
TEMPLATES = [
    'when regime == "EXTREME" or dqc_stale or dqc_gap then skip_entry = true, reason = "R{i}"',
    "when natr > 0.{i} and spread_bp < 5 then size_mult = 0.9, sl_mult = 1.1",
    'when health in ["YELLOW", "RED"] then size_mult = 0.5, reason = "HEALTH_{i}"',
    "when funding_rate * 10000 > {i} then tp_mult = 0.9",
    "when atr / close * 100 > natr - 1 and not dqc_stale then max_adds_override = 1",
    'when rho > 0.5 and depth_imbalance < -0.{i} and symbol != "ETHUSDT" then size_mult = 1.1',
    "when (rv - 0.01) * 100 >= 0.{i} or spread_bp > {i} then sl_mult = 1.2, tp_mult = 1.1",
]


def ruleset(count: int) -> RuleSet:
    """Return ``count`` rules cycling through the templates, priorities descending."""
    text = "\n".join(
        f'rule "r{i}" priority {count - i}:\n  ' + TEMPLATES[i % len(TEMPLATES)].format(i=i % 9 + 1)
        for i in range(count)
    )
    return compile_rules(text, SCHEMA, source="bench")


def main() -> None:
    """Print the best-of-``repeat`` microseconds per evaluation."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rules", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--number", type=int, default=20_000)
    args = parser.parse_args()
    rules = ruleset(args.rules)
    outcome = rules.evaluate(ENV)
    runs = timeit.repeat(lambda: rules.evaluate(ENV), repeat=args.repeat, number=args.number)
    best_us = min(runs) / args.number * 1e6
    print(f"rules={len(rules)} fired={len(outcome.fired)} reasons={len(outcome.reasons)}")
    print(f"evaluate: {best_us:.2f} us per call (best of {args.repeat} x {args.number})")
    if len(rules) == 20:
        print("target <= 20 us for 20 rules:", "PASS" if best_us <= 20 else "FAIL")


if __name__ == "__main__":
    main()
