"""A module whose import fails, so the loader must report it rather than crash."""

raise RuntimeError("broken on purpose")
