"""Read ``streams.yaml`` into a ``TopologyDecl``, remembering where every value was written.

PyYAML's node tree gives each key and value a line and column; msgspec's error paths (such as
``$.batch_size``) are mapped back to them. msgspec stops at the first error, so each item is
converted separately and an offending value is removed and the conversion retried, which
surfaces every problem in one run instead of one per edit.
"""

from __future__ import annotations

import copy
import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import yaml

from chimera_workers.errors import ConfigError
from chimera_workers.topology import (
    BindingDecl,
    ResourceDecl,
    ScheduleDecl,
    StreamDecl,
    TopologyDecl,
)

T = TypeVar("T")
Loc = tuple[str | int, ...]

# msgspec ends a message with " - at `$.a.b[0]`", or " - at `key` in `$.a.b`" for a bad mapping
# key; a value inside a mapping is "`$.a.b[...]`" (the key is not named): both point at the map.
_AT = re.compile(r"^(?P<msg>.*?)(?: - at (?:`key` in )?`\$(?P<path>[^`]*)`)?$", re.S)
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_UNKNOWN = re.compile(r"Object contains unknown field `(.*)`")
_MISSING = re.compile(r"Object missing required field `(.*)`")
_LISTS: dict[str, type[msgspec.Struct]] = {
    "streams": StreamDecl,
    "bindings": BindingDecl,
    "schedules": ScheduleDecl,
    "resources": ResourceDecl,
}
_TYPE_HINTS = {
    "int": "write a whole number without quotes",
    "str": "write text (quote it if YAML reads it as a number or boolean)",
    "array": "write a list, e.g. `[a, b]` or one `- item` per line",
    "object": "write a mapping of `key: value` lines",
}


class Problem(msgspec.Struct, frozen=True):
    """One thing wrong with a topology file, with where it is and how to fix it."""

    file: str
    line: int
    column: int
    where: str
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        pos = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        where = f" {self.where}:" if self.where else ""
        hint = f" (hint: {self.hint})" if self.hint else ""
        return f"{pos}:{where} {self.message}{hint}"


class TopologyError(ConfigError):
    """A topology file has problems; ``problems`` lists all of them, in file order."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.column))
        count = len(self.problems)
        file = self.problems[0].file if self.problems else "topology"
        lines = "\n".join(str(p) for p in self.problems)
        super().__init__(f"{count} problem{'' if count == 1 else 's'} in {file}:\n{lines}")


def where(loc: Loc) -> str:
    """Render ``("bindings", 2, "batch_size")`` as ``bindings[2].batch_size``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def close_to(word: str, choices: list[str]) -> str | None:
    """Return ``did you mean ...?`` for the nearest choice, if any is near."""
    match = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"did you mean `{match[0]}`?" if match else None


@dataclass
class Source:
    """The positions of a file's keys and values, and the problems found so far."""

    file: str
    values: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def add(self, loc: Loc, message: str, hint: str | None = None, *, key: bool = False) -> None:
        """Record a problem at ``loc``, or at its nearest ancestor written in the file."""
        pos = self.keys.get(loc) if key else None
        for i in range(len(loc), -1, -1):
            if pos is not None:
                break
            pos = self.values.get(loc[:i])
        line, column = pos or (0, 0)
        self.problems.append(Problem(self.file, line, column, where(loc), message, hint))

    def add_at(self, mark: yaml.Mark | None, message: str, hint: str | None = None) -> None:
        """Record a problem at a YAML parser mark (0-based) rather than at a path."""
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        self.problems.append(Problem(self.file, line, column, "", message, hint))


def read_yaml(path: Path, src: Source) -> Any:
    """Parse ``path`` into plain data, recording positions; return None after a problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        src.add_at(None, "file not found", "pass the path to streams.yaml or set CHIMERA_STREAMS")
        return None
    except (OSError, UnicodeDecodeError) as exc:
        src.add_at(None, f"cannot read the file: {exc}", "it must be a readable UTF-8 text file")
        return None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            src.add_at(None, "the file is empty", "declare at least `streams:`")
            return None
        return _build(loader, node, (), src, set())
    except yaml.MarkedYAMLError as exc:
        message = " ".join(m for m in (exc.context, exc.problem) if m) or "invalid YAML"
        src.add_at(
            exc.problem_mark or exc.context_mark,
            f"YAML syntax error: {message}",
            "check the indentation and quoting around this line",
        )
        return None
    except yaml.YAMLError as exc:
        src.add_at(None, f"YAML error: {exc}", "check the file's syntax")
        return None
    finally:
        loader.dispose()


def _build(
    loader: yaml.SafeLoader, node: yaml.Node, loc: Loc, src: Source, active: set[int]
) -> Any:
    src.values[loc] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_object(node, deep=True)
    if id(node) in active:  # an alias that contains itself would recurse forever
        src.add(loc, "recursive YAML alias", "expand the alias by hand")
        return None
    active.add(id(node))
    try:
        if isinstance(node, yaml.SequenceNode):
            return [_build(loader, n, (*loc, i), src, active) for i, n in enumerate(node.value)]
        assert isinstance(node, yaml.MappingNode)
        _report_duplicates(loader, node, loc, src)
        loader.flatten_mapping(node)  # resolve "<<" merge keys the way PyYAML would
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                key = str(key)
            src.keys[(*loc, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = _build(loader, value_node, (*loc, key), src, active)
        return out
    finally:
        active.discard(id(node))


def _report_duplicates(
    loader: yaml.SafeLoader, node: yaml.MappingNode, loc: Loc, src: Source
) -> None:
    seen: dict[str, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
            continue
        key = str(loader.construct_object(key_node, deep=True))
        line = key_node.start_mark.line + 1
        if key in seen:
            src.add_at(
                key_node.start_mark,
                f"duplicate key `{key}` (first on line {seen[key]})"
                + (f" in {where(loc)}" if loc else ""),
                "remove one of them; YAML would silently keep only the last",
            )
        else:
            seen[key] = line


def convert(src: Source, data: Any, typ: type[T], loc: Loc) -> T | None:
    """Convert ``data`` to ``typ``, recording every problem; return None if it cannot be built."""
    data = copy.deepcopy(data)  # offending values are deleted from this copy
    removed: set[Loc] = set()
    while True:
        try:
            return msgspec.convert(data, typ)
        except msgspec.ValidationError as exc:
            match = _AT.match(str(exc))
            assert match is not None
            msg, sub = match["msg"], _parse_path(match["path"] or "")
            if unknown := _UNKNOWN.fullmatch(msg):
                name = unknown[1]
                src.add(
                    (*loc, *sub, name),
                    f"unknown field `{name}`",
                    close_to(name, _field_names(typ, sub)) or "remove it",
                    key=True,
                )
                del _container(data, sub)[name]
                continue
            if missing := _MISSING.fullmatch(msg):
                if (*loc, *sub, missing[1]) not in removed:
                    src.add(
                        (*loc, *sub),
                        f"missing required field `{missing[1]}`",
                        f"add `{missing[1]}: ...`",
                    )
                return None
            expected = re.search(r"Expected `([^`|]*)", msg)
            hint = _TYPE_HINTS.get(expected[1].strip()) if expected else None
            if msg.endswith("got `null`"):
                hint = "give it a value, or remove the line to use the default"
            src.add((*loc, *sub), msg[0].lower() + msg[1:], hint)
            while sub and isinstance(sub[-1], int):  # drop the whole list, keeping indices valid
                sub = sub[:-1]
            if not sub:
                return None
            del _container(data, sub[:-1])[str(sub[-1])]
            removed.add((*loc, *sub))


def _parse_path(text: str) -> Loc:
    text = text.removesuffix("[...]")
    return tuple(int(m[2]) if m[2] is not None else m[1] for m in _STEP.finditer(text))


def _container(data: Any, sub: Loc) -> dict[str, Any]:
    for part in sub:
        data = data[part]
    assert isinstance(data, dict)
    return data


def _field_names(typ: Any, sub: Loc) -> list[str]:
    for part in (*sub, None):
        if not isinstance(typ, type) or not issubclass(typ, msgspec.Struct):
            return []
        fields = msgspec.structs.fields(typ)
        if part is None:
            return [f.name for f in fields]
        typ = next((f.type for f in fields if f.name == part), None)
    return []


@dataclass
class Decoded:
    """A converted document, with the file index of each item that converted."""

    decl: TopologyDecl
    index: dict[str, list[int]]
    failed_streams: set[str]


def decode(data: Any, src: Source) -> Decoded | None:
    """Convert parsed data to a ``TopologyDecl``, item by item; None if nothing usable."""
    if not isinstance(data, dict):
        src.add(
            (),
            "the document must be a mapping with `streams:`, `bindings:` and so on",
            "start the file with `streams:`",
        )
        return None
    rest = dict(data)
    items: dict[str, list[Any]] = {}
    index: dict[str, list[int]] = {}
    failed: set[str] = set()
    for key, typ in _LISTS.items():
        raw = rest.pop(key, None)
        items[key], index[key] = [], []
        if key == "streams" and key not in data:
            src.add((), "missing `streams:`", "declare them: `streams: [{name: ..., type: ...}]`")
        elif key in data and not isinstance(raw, list):
            src.add((key,), f"`{key}` must be a list", "write one `- name: ...` item per line")
            continue
        for i, item in enumerate(raw or []):
            decl = convert(src, item, typ, (key, i))
            if decl is not None:
                items[key].append(decl)
                index[key].append(i)
            elif key == "streams" and isinstance(item, dict) and isinstance(item.get("name"), str):
                failed.add(item["name"])  # so bindings on it don't report a second problem
    top = convert(src, {**rest, "streams": []}, TopologyDecl, ())
    if top is None:
        return None
    decl = msgspec.structs.replace(top, **items)
    return Decoded(decl, index, failed)
