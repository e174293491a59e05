"""Config bundles: the shipped bundle is valid; a bad one is refused naming file and path."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from chimera.config.bundle import BUNDLE_ENV, bundle_path, load_bundle, parse_bundle
from chimera_workers.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]


def test_the_shipped_bundle_is_valid() -> None:
    bundle = load_bundle(ROOT / "config" / "bundle.yaml")
    policy = bundle.treasury
    assert policy.allows("USDT", "SPOT", "FUTURES")
    assert policy.allows("USDT", "FUTURES", "SPOT")
    assert not policy.allows("BTC", "SPOT", "FUTURES")
    assert policy.per_transfer_max["USDT"] == Decimal("50000")
    assert policy.daily_max["USDT"] == Decimal("200000")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("treasury: {surprise: 1}", "unknown field `surprise` - at `$.treasury`"),
        ("treasury: {daily_max: {USDT: abc}}", "at `$.treasury.daily_max"),
        ("treasury: {daily_max: {USDT: '-1'}}", "daily_max.USDT must be greater than 0"),
        ("treasury: {lock_ttl_ms: 0}", "at `$.treasury.lock_ttl_ms`"),
        (
            "treasury: {routes: [{asset: USDT, from_account: SPOT, to_account: SPOT}]}",
            "goes nowhere",
        ),
        (
            "treasury: {routes: [{asset: USDT, from_account: SPOT, to_account: MARGIN}]}",
            "at `$.treasury.routes[0].to_account`",
        ),
        ("treasury: [", "bundle.yaml is invalid"),
    ],
)
def test_a_bad_bundle_names_the_file_and_path(text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=r"config bundle bundle\.yaml is invalid") as info:
        parse_bundle(text, source="bundle.yaml")
    assert expected in str(info.value)


def test_a_missing_bundle_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config bundle"):
        load_bundle(tmp_path / "absent.yaml")


def test_the_bundle_path_comes_from_the_environment() -> None:
    assert bundle_path({}) == Path("config/bundle.yaml")
    assert bundle_path({BUNDLE_ENV: "/etc/chimera.yaml"}) == Path("/etc/chimera.yaml")
