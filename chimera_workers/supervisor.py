"""Run a Procfile's processes: N per type, stable slot names, restart on crash, clean stop.

Each process gets ``CHIMERA_SLOT=<type>.<n>`` so its consumer name (and therefore its pending
list) is the same across restarts; a crashed process is restarted with backoff; SIGTERM is
forwarded to all and the supervisor waits for them within a bound, then kills stragglers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from chimera_workers.procfile import ProcessType


@dataclass
class Slot:
    ptype: ProcessType
    index: int
    proc: asyncio.subprocess.Process | None = None
    restarts: int = 0
    exits: list[int] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.ptype.name}.{self.index}"


class Supervisor:
    """Start ``counts[name]`` copies of each process type and keep them running."""

    def __init__(
        self,
        types: list[ProcessType],
        counts: dict[str, int],
        *,
        env: dict[str, str] | None = None,
        stop_timeout_s: float = 20.0,
        echo: Callable[[str], None] | None = None,
    ) -> None:
        self.slots = [Slot(t, i) for t in types for i in range(1, counts.get(t.name, 1) + 1)]
        self._env = {**os.environ, **(env or {})}
        self._stop_timeout_s = stop_timeout_s
        self._echo = echo or (lambda line: print(line, flush=True))
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start every slot's keeper task."""
        self._tasks = [asyncio.create_task(self._keep(slot)) for slot in self.slots]

    def request_stop(self) -> None:
        self._stopping.set()

    async def wait(self) -> None:
        """Run until ``request_stop``, then stop every process within the bound."""
        await self._stopping.wait()
        await self.stop()

    async def stop(self) -> None:
        """SIGTERM every process; SIGKILL what is still alive after the timeout."""
        self._stopping.set()
        for slot in self.slots:
            if slot.proc and slot.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    slot.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self._stop_timeout_s
        for slot in self.slots:
            if slot.proc is None:
                continue
            try:
                await asyncio.wait_for(slot.proc.wait(), max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                self._echo(f"{slot.name} | did not stop in {self._stop_timeout_s:.0f}s; killing")
                with contextlib.suppress(ProcessLookupError):
                    slot.proc.kill()
                await slot.proc.wait()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _keep(self, slot: Slot) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            started = time.monotonic()
            env = {**self._env, "CHIMERA_SLOT": slot.name}
            slot.proc = await asyncio.create_subprocess_exec(
                *_argv(slot.ptype.command),
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                # Own session: a terminal Ctrl-C reaches only the supervisor, which then stops
                # the processes in order instead of racing their restart.
                start_new_session=True,
            )
            self._echo(f"{slot.name} | started pid {slot.proc.pid}")
            assert slot.proc.stdout is not None
            async for raw in slot.proc.stdout:
                self._echo(f"{slot.name} | {raw.decode(errors='replace').rstrip()}")
            code = await slot.proc.wait()
            slot.exits.append(code)
            if self._stopping.is_set():
                self._echo(f"{slot.name} | exited {code}")
                return
            backoff = 0.5 if time.monotonic() - started > 30 else min(30.0, backoff * 2)
            slot.restarts += 1
            self._echo(f"{slot.name} | exited {code}; restarting in {backoff:.1f}s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), backoff)


def _argv(command: str) -> list[str]:
    argv = shlex.split(command)
    # `chimera ...` lines run with this interpreter's chimera, so a venv need not be on PATH.
    if argv and argv[0] == "chimera":
        return [sys.executable, "-m", "chimera_workers.cli", *argv[1:]]
    return argv
