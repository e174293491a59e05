"""The operators registry: file validation, token -> name, and what the API does without one."""

from __future__ import annotations

from pathlib import Path

import pytest

from chimera_workers.errors import ConfigError
from handlers.s12_gateway.api import gateway_mount
from handlers.s12_gateway.operators import (
    OPERATORS_FILE_ENV,
    OperatorEntry,
    OperatorRegistry,
    Unauthorized,
    load_registry,
    parse_registry,
    token_digest,
)
from tests.handlers.s12_gateway.support import REGISTRY, TOKENS, write_registry

DIGEST = token_digest("some-long-operator-token-000")


def test_each_token_maps_to_its_operator() -> None:
    for name, token in TOKENS.items():
        assert REGISTRY.identify(token) == name
    assert REGISTRY.names == ("alice", "bob", "carol")


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (None, "missing operator token"),
        ("", "missing operator token"),
        ("alice", "unknown operator token"),
        (TOKENS["alice"] + " ", "unknown operator token"),
        (token_digest(TOKENS["alice"]), "unknown operator token"),  # the digest is not the token
    ],
)
def test_anything_else_is_unauthorized(token: str | None, message: str) -> None:
    with pytest.raises(Unauthorized, match=message) as caught:
        REGISTRY.identify(token)
    assert caught.value.status_code == 401


def test_an_empty_registry_refuses_everyone() -> None:
    with pytest.raises(Unauthorized, match="no operators are configured"):
        OperatorRegistry(()).identify(TOKENS["alice"])


def test_the_file_round_trips(tmp_path: Path) -> None:
    path = write_registry(tmp_path / "operators.yaml")
    registry = load_registry({OPERATORS_FILE_ENV: str(path)})
    assert registry.identify(TOKENS["bob"]) == "bob"


def test_without_the_variable_the_registry_is_empty() -> None:
    assert load_registry({}).names == ()


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the operators file"):
        load_registry({OPERATORS_FILE_ENV: str(tmp_path / "absent.yaml")})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("operators: [{name: a, token_sha256: abc}]", r"at `\$.operators\[0\].token_sha256`"),
        (f"operators: [{{name: a, token_sha256: '{DIGEST.upper()}'}}]", "token_sha256"),
        (f"operators: [{{name: 'a b', token_sha256: '{DIGEST}'}}]", r"operators\[0\].name"),
        (f"operators: [{{name: a, token_sha256: '{DIGEST}', role: x}}]", "unknown field `role`"),
        ("operators: [{name: a}]", "missing required field `token_sha256`"),
        ("admins: []", "unknown field `admins`"),
        ("operators: [", "operators file <operators> is invalid"),
    ],
)
def test_a_bad_file_names_the_problem(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_registry(text)


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ((("a", DIGEST), ("a", token_digest("x" * 20))), "operators listed twice: a"),
        ((("a", DIGEST), ("b", DIGEST)), "two operators share a token"),
        ((("s6-treasury", DIGEST),), "reserved for services: s6-treasury"),
    ],
)
def test_ambiguous_registries_are_refused(
    entries: tuple[tuple[str, str], ...], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        OperatorRegistry(tuple(OperatorEntry(n, d) for n, d in entries))


def test_the_mount_reads_the_file_when_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(OPERATORS_FILE_ENV, str(tmp_path / "absent.yaml"))
    with pytest.raises(ConfigError, match="cannot read the operators file"):
        gateway_mount()
    monkeypatch.setenv(OPERATORS_FILE_ENV, str(write_registry(tmp_path / "ops.yaml")))
    assert len(gateway_mount().route_handlers) == 1
