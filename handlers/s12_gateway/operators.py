"""Who an operator is: a bearer token mapped to a name through the operators registry file.

The registry (``$CHIMERA_OPERATORS_FILE``, YAML) lists each operator's name and the SHA-256 of
their token, so the file holds no secret a reader could replay::

    operators:
      - {name: alice, token_sha256: "<hex of sha256(token)>"}
      - {name: bob, token_sha256: "..."}

A presented token is hashed and compared with every entry in constant time; the caller's
identity is what the registry says, never a name the request asserts.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path
from typing import Annotated

import msgspec

from chimera.http import HttpError
from chimera_workers.errors import ConfigError

OPERATORS_FILE_ENV = "CHIMERA_OPERATORS_FILE"
OPERATOR_TOKEN_ENV = "CHIMERA_OPERATOR_TOKEN"
# Identities the services use for themselves; an operator may not take one.
RESERVED_NAMES = frozenset({"s1_connectors", "s6-treasury", "system"})

OperatorName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,63}$")]
TokenDigest = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]


class Unauthorized(HttpError):
    """No operator token, or one the registry does not know (401)."""

    status_code = 401

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class OperatorEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One operator: a name and the SHA-256 (hex) of their token."""

    name: OperatorName
    token_sha256: TokenDigest


class OperatorsFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The registry file's shape."""

    operators: tuple[OperatorEntry, ...] = ()


def token_digest(token: str) -> str:
    """Return the hex SHA-256 of ``token`` (what the registry stores)."""
    return hashlib.sha256(token.encode()).hexdigest()


class OperatorRegistry:
    """The known operators; ``identify`` maps a token to a name."""

    def __init__(self, entries: tuple[OperatorEntry, ...]) -> None:
        names = [e.name for e in entries]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigError(f"operators listed twice: {', '.join(duplicates)}")
        digests = [e.token_sha256 for e in entries]
        if len(set(digests)) != len(digests):
            raise ConfigError("two operators share a token", hint="give each operator their own")
        reserved = sorted(set(names) & RESERVED_NAMES)
        if reserved:
            raise ConfigError(f"operator names reserved for services: {', '.join(reserved)}")
        self._entries = entries

    @property
    def names(self) -> tuple[str, ...]:
        """Return the operators' names."""
        return tuple(e.name for e in self._entries)

    def identify(self, token: str | None) -> str:
        """Return the operator whose token this is; raise ``Unauthorized`` otherwise."""
        if not token:
            raise Unauthorized(
                "missing operator token (Authorization: Bearer <token>)",
                hint=f"pass your operator token (CLI: --token or ${OPERATOR_TOKEN_ENV})",
            )
        if not self._entries:
            raise Unauthorized(
                "no operators are configured on this server",
                hint=f"list operators in the file ${OPERATORS_FILE_ENV} points at",
            )
        presented = token_digest(token).encode()
        found: str | None = None
        # Every entry is compared, so the time taken does not tell which one matched.
        for entry in self._entries:
            if hmac.compare_digest(presented, entry.token_sha256.encode()):
                found = entry.name
        if found is None:
            raise Unauthorized("unknown operator token")
        return found


def parse_registry(raw: bytes | str, *, source: str = "<operators>") -> OperatorRegistry:
    """Decode and validate a registry; raise ``ConfigError`` naming ``source`` and the path."""
    try:
        parsed = msgspec.yaml.decode(raw, type=OperatorsFile)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ConfigError(
            f"operators file {source} is invalid: {exc}",
            hint="each entry is {name, token_sha256}; token_sha256 = sha256(token) in hex",
        ) from exc
    return OperatorRegistry(parsed.operators)


def load_registry(environ: dict[str, str] | None = None) -> OperatorRegistry:
    """Read ``$CHIMERA_OPERATORS_FILE``; without it, an empty registry (every token refused)."""
    env = os.environ if environ is None else environ
    path = env.get(OPERATORS_FILE_ENV, "")
    if not path:
        return OperatorRegistry(())
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read the operators file {path}: {exc.strerror or exc}",
            hint=f"fix ${OPERATORS_FILE_ENV} or create the file",
        ) from exc
    return parse_registry(raw, source=path)


__all__ = [
    "OPERATORS_FILE_ENV",
    "OPERATOR_TOKEN_ENV",
    "OperatorEntry",
    "OperatorName",
    "OperatorRegistry",
    "OperatorsFile",
    "Unauthorized",
    "load_registry",
    "parse_registry",
    "token_digest",
]
