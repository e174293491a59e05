"""The ``chimera`` command."""

from __future__ import annotations

from importlib.metadata import entry_points

import typer

from chimera_workers.cli import db, dlq, enqueue, inspect, replay, services, streams, up, worker

app = typer.Typer(
    help="Chimera: Redis-Streams workers, their topology, and the tools to run and inspect them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("worker")(worker.worker)
app.command("up")(up.up)
app.command("enqueue")(enqueue.enqueue)
app.command("replay")(replay.replay)
app.command("inspect")(inspect.inspect)
app.add_typer(dlq.app, name="dlq")
app.add_typer(streams.app, name="streams")
app.add_typer(services.app, name="services")
app.add_typer(db.app, name="db")


# Products built on the framework add command groups through the ``chimera.commands`` entry-point
# group (``name = "package.module:typer_app"``), so this package never imports them.
PLUGIN_GROUP = "chimera.commands"


def add_plugins(root: typer.Typer) -> None:
    """Mount every ``chimera.commands`` entry point as a sub-command group of ``root``."""
    for ep in sorted(entry_points(group=PLUGIN_GROUP), key=lambda e: e.name):
        root.add_typer(ep.load(), name=ep.name)


_PLUGGED: list[typer.Typer] = []


def root_app() -> typer.Typer:
    """Return ``app`` with every plugin's command group mounted (loaded on the first call).

    Loaded on demand, not at import: a plugin's module imports ``chimera_workers.cli.common``,
    which runs this package first, and loading plugins then would import that plugin while it
    is still half-initialised.
    """
    if not _PLUGGED:
        add_plugins(app)
        _PLUGGED.append(app)
    return app


def main() -> None:
    """Run the ``chimera`` command line."""
    root_app()()
