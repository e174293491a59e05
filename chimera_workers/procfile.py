"""Procfile parsing (the foreman/honcho format: ``name: command`` per line, ``#`` comments)."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

from chimera_workers.errors import ConfigError

_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+)$")


class ProcessType(msgspec.Struct, frozen=True):
    """One Procfile line."""

    name: str
    command: str
    line: int


def parse_procfile(path: Path) -> list[ProcessType]:
    """Parse ``path``; a malformed or duplicate line raises ``ConfigError`` with its number."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read Procfile {path}: {exc.strerror}") from exc
    seen: dict[str, int] = {}
    out = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            raise ConfigError(
                f"{path}:{number}: not a Procfile line: {line!r}",
                hint="write `name: command`, the name made of letters, digits, '-' or '_'",
            )
        name, command = match.groups()
        if name in seen:
            raise ConfigError(
                f"{path}:{number}: process type {name!r} already defined on line {seen[name]}"
            )
        seen[name] = number
        out.append(ProcessType(name, command.strip(), number))
    if not out:
        raise ConfigError(
            f"{path}: no process types", hint="add lines like `worker: chimera worker`"
        )
    return out


def parse_concurrency(spec: list[str], known: list[ProcessType]) -> dict[str, int]:
    """Parse honcho-style ``name=N`` items (comma-separated allowed) into counts per type."""
    counts = {p.name: 1 for p in known}
    for item in (part for entry in spec for part in entry.split(",") if part):
        name, sep, value = item.partition("=")
        if not sep or not value.isdigit():
            raise ConfigError(f"--concurrency {item!r}: expected NAME=COUNT, e.g. worker=2")
        if name not in counts:
            raise ConfigError(
                f"--concurrency {item!r}: no process type {name!r}",
                hint=f"Procfile defines: {', '.join(counts)}",
            )
        counts[name] = int(value)
    return counts
