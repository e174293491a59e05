"""Read a bundle file reporting every problem with its line and column.

``parse_bundle`` names the path of the first bad value (``$.risk.max_concurrent``); an operator
loading a file wants the line too, and every problem at once. This reuses the topology reader's
position tracking (PyYAML node marks mapped from msgspec's error paths).
"""

from __future__ import annotations

from pathlib import Path

from chimera.config.bundle import ConfigBundle, parse_bundle
from chimera_workers.errors import ConfigError
from chimera_workers.topology_yaml import Problem, Source, convert, read_yaml


class BundleFileError(ConfigError):
    """A bundle file is invalid; ``problems`` lists each with file, line and column."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.line, p.column))
        lines = "\n".join(str(p) for p in self.problems)
        count = len(self.problems)
        super().__init__(
            f"{count} problem{'' if count == 1 else 's'} in config bundle:\n{lines}",
            hint="fix the values at those lines; config/bundle.yaml shows the shape",
        )


def read_bundle_file(path: Path | str) -> ConfigBundle:
    """Validate the bundle file at ``path``; raise ``BundleFileError`` listing every problem."""
    file = Path(path)
    src = Source(str(file))
    data = read_yaml(file, src)
    if data is not None and not isinstance(data, dict):
        src.add((), "a bundle is a mapping of sections", "start with `rev:` and `treasury:` ...")
    bundle = convert(src, data, ConfigBundle, ()) if isinstance(data, dict) else None
    if src.problems or bundle is None:
        raise BundleFileError(src.problems)
    # The same decoder every service uses, so a file that passes here loads everywhere.
    return parse_bundle(file.read_bytes(), source=str(file))


__all__ = ["BundleFileError", "read_bundle_file"]
