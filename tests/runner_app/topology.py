"""Write a ``streams.yaml`` for the runner tests and load it with the real loader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from chimera_workers.topology import App
from chimera_workers.topology_loader import load_app

JOBS = "t:jobs"
DONE = "t:done"


def write_topology(
    directory: Path,
    *,
    handler: str = "record",
    retention: dict[str, Any] | None = None,
    schedules: list[dict[str, Any]] | None = None,
    **binding: Any,
) -> Path:
    jobs: dict[str, Any] = {"name": JOBS, "type": "tests.runner_app.events:Job"}
    if retention:
        jobs["retention"] = retention
    doc: dict[str, Any] = {
        "version": 1,
        "streams": [jobs, {"name": DONE, "type": "tests.runner_app.events:Done"}],
        "bindings": [
            {
                "name": "jobs",
                "stream": JOBS,
                "handler": f"tests.runner_app.handlers:{handler}",
                "batch_size": 50,
                "block_ms": 100,
                "concurrency": 8,
                "max_deliveries": 3,
                "retry_backoff_ms": 10,
                "retry_backoff_max_ms": 50,
                "claim_idle_ms": 1000,
                **binding,
            },
            {
                "name": "done",
                "stream": DONE,
                "handler": "tests.runner_app.handlers:count_done",
                "block_ms": 100,
            },
        ],
        "schedules": schedules or [],
    }
    path = directory / "streams.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def make_app(directory: Path, **kwargs: Any) -> App:
    return load_app(write_topology(directory, **kwargs))
