"""Keep idle CPUs quick to wake while a latency-critical worker runs (Linux PM QoS).

A process blocked on a socket wakes on whichever CPU the kernel picks; if that CPU has dropped
into a deep idle state (on a VM: halted, so the host must reschedule the vCPU) the wake-up alone
can cost more than the work. Writing a bound in microseconds to ``/dev/cpu_dma_latency`` and
keeping the file open asks the kernel to use only idle states that wake within that bound, on
every CPU, for as long as the file stays open; the request ends with the process, however it
ends. ``tuned``'s ``latency-performance`` profile makes the same request.

It costs power: with a bound of 0 idle CPUs poll instead of sleeping. Chimera makes it opt-in
(``CHIMERA_CPU_WAKE_LATENCY_US`` or ``chimera worker --cpu-wake-latency-us``); the measured effect
on the order path is in ``docs/benchmarks.md``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType

from chimera_workers.errors import ConfigError

log = logging.getLogger(__name__)

DEVICE = Path("/dev/cpu_dma_latency")
ENV_VAR = "CHIMERA_CPU_WAKE_LATENCY_US"
# The kernel reads a native 32-bit signed integer; larger bounds mean "no constraint".
MAX_US = 2_000_000_000


def parse_wake_latency(raw: str | None) -> int | None:
    """Return the bound in ``raw`` (microseconds), None when unset, or raise ``ConfigError``."""
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    if not text.isdigit() or int(text) > MAX_US:
        raise ConfigError(
            f"{ENV_VAR}={raw!r} is not a whole number of microseconds from 0 to {MAX_US}",
            hint="use 0 to keep idle CPUs polling, a bound such as 20, or leave it unset",
        )
    return int(text)


class CpuWakeLatency:
    """Hold a PM QoS bound on CPU wake-up latency for the life of a ``with`` block.

    Where the device is missing or not writable (not Linux, not root, a container without it)
    the block runs without the bound and a warning says why: it is a tuning, not a requirement.
    """

    def __init__(self, max_us: int, device: Path = DEVICE) -> None:
        if not 0 <= max_us <= MAX_US:
            raise ConfigError(
                f"CPU wake latency {max_us} µs is outside 0..{MAX_US}",
                hint="use 0 to keep idle CPUs polling, or a bound such as 20",
            )
        self.max_us = max_us
        self.device = device
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Return whether the bound is in force."""
        return self._fd is not None

    def __enter__(self) -> CpuWakeLatency:
        try:
            fd = os.open(self.device, os.O_WRONLY)
        except OSError as exc:
            log.warning(
                "CPU wake latency bound of %d µs not applied: cannot open %s (%s); "
                "run as root or grant write access to it, or unset %s",
                self.max_us,
                self.device,
                exc.strerror or exc,
                ENV_VAR,
            )
            return self
        try:
            os.write(fd, struct.pack("i", self.max_us))
        except OSError as exc:
            os.close(fd)
            log.warning(
                "CPU wake latency bound of %d µs not applied: writing %s failed (%s)",
                self.max_us,
                self.device,
                exc.strerror or exc,
            )
            return self
        self._fd = fd
        log.info("CPU wake latency bounded to %d µs while this process runs", self.max_us)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the file is what withdraws the request
            self._fd = None


def bounded(max_us: int | None) -> AbstractContextManager[CpuWakeLatency | None]:
    """Return a context holding ``max_us`` (a ``CpuWakeLatency``), or nothing when None."""
    return contextlib.nullcontext() if max_us is None else CpuWakeLatency(max_us)
