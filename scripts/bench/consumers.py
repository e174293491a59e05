"""One benchmark consumer in its own process: ``python consumers.py '<json spec>'``.

Started by ``runner.py``; talks back with one JSON object per stdout line:

* mode ``bench``: start the system's consumer on a pre-filled stream, print ``throughput`` once
  the first ``n`` messages are handled, then ``latency`` once the ``m`` messages the runner
  enqueues at a fixed rate are handled, then stop the consumer and print ``stopped``;
* mode ``soak``: run Chimera's ``Worker`` over ``n`` messages the runner streams in, printing
  ``rss`` (this process's resident set) every ``sample_every`` handled messages;
* mode ``victim``: run a Chimera ``Worker`` whose handler stalls, until the runner SIGKILLs it
  (used only when ``chimera worker`` cannot be run; see runner.py).

Every system runs on uvloop, as ``chimera worker``, ``faststream run`` and ``taskiq worker`` do.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import gc
import json
import math
import os
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import bench_handlers
import msgspec
import pydantic
import uvloop
from bench_handlers import Ping, Recorder
from wire import TASKIQ_TASK, chimera_app

Stop = Callable[[], Coroutine[Any, Any, None]]


def emit(event: str, **data: Any) -> None:
    """Report to the runner: one JSON object per line."""
    sys.stdout.write(json.dumps({"event": event, **data}) + "\n")
    sys.stdout.flush()


def rss_bytes() -> int:
    """This process's resident set size."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is installed in the project venv
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0
    return int(psutil.Process().memory_info().rss)


# -- (a) raw redis-py ------------------------------------------------------------------------


async def start_raw(spec: dict[str, Any], rec: Recorder) -> Stop:
    """Batched XREADGROUP + one XACK per batch; replies left as hiredis' nested lists.

    ``raw-parsed`` instead reads with ``client.xreadgroup`` (redis-py turns each entry into an
    ``(id, fields dict)`` pair) and decodes every payload into a ``Ping``: the least any
    framework built on redis-py does per message.
    """
    import redis.asyncio as aioredis

    stream, group = spec["stream"], spec["group"]
    client = aioredis.Redis.from_url(spec["url"])
    count = spec["params"]["count"]
    decoder = msgspec.json.Decoder(Ping)
    stopping = asyncio.Event()

    async def parsed_loop() -> None:
        while not stopping.is_set():
            reply: Any = await client.xreadgroup(
                group, spec["consumer"], {stream: ">"}, count=count, block=100
            )
            if not reply:
                continue
            entries = reply[0][1]
            hit = rec.hit
            for _, fields in entries:
                hit(decoder.decode(fields[b"d"]).sent_ns)
            await client.xack(stream, group, *[entry_id for entry_id, _ in entries])

    read = (
        "XREADGROUP",
        "GROUP",
        group,
        spec["consumer"],
        "COUNT",
        count,
        "BLOCK",
        100,
        "STREAMS",
        stream,
        ">",
    )

    async def loop() -> None:
        while not stopping.is_set():
            reply: Any = await client.execute_command(*read)  # type: ignore[no-untyped-call]
            if not reply:
                continue
            # RESP3 (redis-py 8's default) gives {stream: entries}; RESP2 [[stream, entries]].
            entries = next(iter(reply.values())) if isinstance(reply, dict) else reply[0][1]
            counted = rec.hit_throughput(len(entries))
            for _, fields in entries[counted:]:
                # Latency phase: decode the minimum, the producer's timestamp.
                payload = fields[1] if isinstance(fields, list) else fields[b"d"]
                rec.hit(decoder.decode(payload).sent_ns)
            await client.xack(stream, group, *[entry[0] for entry in entries])

    if spec["system"] == "raw-parsed":
        task = asyncio.create_task(parsed_loop())
    else:
        # No reply parsing at all: the throughput phase only needs the ids to XACK.
        client.response_callbacks.pop("XREADGROUP", None)
        task = asyncio.create_task(loop())

    async def stop() -> None:
        stopping.set()
        await task
        await client.aclose()

    return stop


# -- (b) Chimera -----------------------------------------------------------------------------


async def start_chimera(spec: dict[str, Any], rec: Recorder) -> Stop:
    """Chimera's ``Worker`` with the no-op handler ``bench_handlers.record``."""
    from chimera_workers.connections import open_redis
    from chimera_workers.worker import Worker

    bench_handlers.RECORDER = rec
    p = spec["params"]
    app = chimera_app(
        spec["stream"],
        bench_handlers.record,
        "bench_handlers:record",
        group=spec["group"],
        batch_size=p["batch_size"],
        block_ms=p["block_ms"],
        concurrency=p["concurrency"],
        max_inflight=p["max_inflight"],
        claim_idle_ms=p["claim_idle_ms"],
    )
    redis = await open_redis(spec["url"], retries=0)
    worker = Worker(
        app, redis, consumer=spec["consumer"], bindings=["bench"], schedules=[], retention=False
    )
    await worker.start()
    gc.collect()  # as `chimera worker` does before it runs
    gc.freeze()

    async def stop() -> None:
        await worker.stop()
        await redis.aclose()

    return stop


# -- (c) FastStream --------------------------------------------------------------------------


class PingModel(pydantic.BaseModel):
    """FastStream's idiomatic typed payload (validated by fast_depends/pydantic)."""

    seq: int
    sent_ns: int


_FS_RECORDER: Recorder | None = None


async def faststream_one(body: PingModel) -> None:
    assert _FS_RECORDER is not None
    _FS_RECORDER.hit(body.sent_ns)


async def faststream_batch(body: list[PingModel]) -> None:
    assert _FS_RECORDER is not None
    hit = _FS_RECORDER.hit
    for ping in body:
        hit(ping.sent_ns)


async def start_faststream(spec: dict[str, Any], rec: Recorder) -> Stop:
    """A ``RedisBroker`` with one ``StreamSub`` subscriber (per message or batch)."""
    global _FS_RECORDER
    from faststream.redis import RedisBroker, StreamSub

    _FS_RECORDER = rec
    batch = spec["system"] == "faststream-batch"
    # logger=None: no per-message access log (FastStream logs every message at INFO by default).
    broker = RedisBroker(spec["url"], logger=None)  # type: ignore[arg-type]
    sub = StreamSub(
        spec["stream"],
        group=spec["group"],
        consumer=spec["consumer"],
        batch=batch,
        max_records=spec["params"]["max_records"],
        polling_interval=100,
    )
    broker.subscriber(stream=sub)(faststream_batch if batch else faststream_one)
    await broker.start()

    async def stop() -> None:
        await broker.stop()

    return stop


# -- (d) taskiq-redis ------------------------------------------------------------------------

_TQ_RECORDER: Recorder | None = None


async def taskiq_noop(seq: int, sent_ns: int) -> None:
    assert _TQ_RECORDER is not None
    _TQ_RECORDER.hit(sent_ns)


async def start_taskiq(spec: dict[str, Any], rec: Recorder) -> Stop:
    """``RedisStreamBroker`` + taskiq's ``Receiver``, configured as ``taskiq worker`` would."""
    global _TQ_RECORDER
    from taskiq.receiver import Receiver
    from taskiq_redis import RedisStreamBroker

    _TQ_RECORDER = rec
    p = spec["params"]
    broker = RedisStreamBroker(
        spec["url"],
        queue_name=spec["stream"],
        consumer_group_name=spec["group"],
        consumer_name=spec["consumer"],
        consumer_id="0",
        xread_block=100,
        xread_count=p["xread_count"],
    )
    broker.is_worker_process = True
    broker.register_task(taskiq_noop, task_name=TASKIQ_TASK)
    receiver = Receiver(broker, max_async_tasks=p["max_async_tasks"], max_prefetch=0)
    finish = asyncio.Event()
    task = asyncio.create_task(receiver.listen(finish))

    async def stop() -> None:
        finish.set()
        await task
        await broker.shutdown()

    return stop


STARTERS: dict[str, Callable[[dict[str, Any], Recorder], Awaitable[Stop]]] = {
    "raw": start_raw,
    "raw-parsed": start_raw,
    "chimera": start_chimera,
    "faststream": start_faststream,
    "faststream-batch": start_faststream,
    "taskiq": start_taskiq,
}


# -- modes -----------------------------------------------------------------------------------


def percentile(sorted_values: list[int], q: float) -> float:
    """Nearest-rank percentile ``q`` (0..100) of ``sorted_values``."""
    if not sorted_values:
        return float("nan")
    rank = min(len(sorted_values), max(1, math.ceil(q / 100 * len(sorted_values))))
    return float(sorted_values[rank - 1])


async def bench(spec: dict[str, Any]) -> None:
    rec = Recorder(spec["n"], spec["m"])
    profiler = cProfile.Profile() if spec.get("profile_out") else None
    t0 = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    stop = await STARTERS[spec["system"]](spec, rec)
    try:
        await asyncio.wait_for(rec.throughput_done.wait(), spec["timeout_s"])
    except TimeoutError:
        emit("error", message=f"throughput phase timed out: {rec.handled}/{spec['n']} handled")
        await stop()
        return
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(spec["profile_out"])
    active = rec.last - rec.first
    emit(
        "throughput",
        n=spec["n"],
        drain_s=rec.last - t0,
        active_s=active,
        msgs_per_s=(spec["n"] - 1) / active if active > 0 else float("inf"),
    )
    if spec["m"]:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(rec.latency_done.wait(), spec["timeout_s"])
        lat = sorted(rec.latencies_ns)
        emit(
            "latency",
            count=len(lat),
            expected=spec["m"],
            p50_ms=percentile(lat, 50) / 1e6,
            p99_ms=percentile(lat, 99) / 1e6,
            max_ms=(lat[-1] / 1e6) if lat else float("nan"),
        )
    t1 = time.perf_counter()
    await stop_within(stop, spec.get("stop_timeout_s", 5))
    emit("stopped", stop_s=time.perf_counter() - t1, hung=None)


def await_chain(task: asyncio.Task[Any]) -> str:
    """Where ``task`` is suspended: its coroutine and everything it awaits, outermost first."""
    frames: list[str] = []
    obj: Any = task.get_coro()
    while obj is not None and len(frames) < 20:
        frame = getattr(obj, "cr_frame", None) or getattr(obj, "ag_frame", None)
        if frame is not None:
            code = frame.f_code
            frames.append(f"{code.co_filename.rsplit('/', 2)[-1]}:{frame.f_lineno}({code.co_name})")
        obj = getattr(obj, "cr_await", None) or getattr(obj, "ag_await", None)
    return " -> ".join(frames) or "?"


async def stop_within(stop: Stop, seconds: float) -> None:
    """Stop the consumer; if that hangs, report where it is stuck and exit hard.

    Only taskiq needed this so far: cancelling its listener mid-XREADGROUP can leave the read
    waiting forever (redis-py 8.1), so ``Receiver.listen`` never returns.
    """
    stopping: asyncio.Task[None] = asyncio.create_task(stop())
    # Not wait_for: a cancelled stop() that shields its cleanup would hang it as well.
    done, _ = await asyncio.wait({stopping}, timeout=seconds)
    if done:
        stopping.result()
    else:
        stuck = [await_chain(task) for task in asyncio.all_tasks() if task is not stopping]
        emit(
            "stopped",
            stop_s=float(seconds),
            hung=f"stop() did not return within {seconds:g}s; "
            "still waiting: " + " | ".join(s for s in stuck if s != "?"),
        )
        sys.stdout.flush()
        os._exit(0)


async def soak(spec: dict[str, Any]) -> None:
    rec = Recorder(
        spec["n"],
        sample_every=spec["sample_every"],
        on_sample=lambda n: emit("rss", handled=n, rss=rss_bytes()),
    )
    stop = await start_chimera(spec, rec)
    emit("rss", handled=0, rss=rss_bytes())
    try:
        await asyncio.wait_for(rec.throughput_done.wait(), spec["timeout_s"])
        active = rec.last - rec.first
        emit("throughput", n=spec["n"], active_s=active, msgs_per_s=(spec["n"] - 1) / active)
    except TimeoutError:
        emit("error", message=f"soak timed out: {rec.handled}/{spec['n']} handled")
    await stop()
    emit("stopped")


async def victim(spec: dict[str, Any]) -> None:
    """A Worker whose handler stalls; runs until SIGKILLed (the hand-built-App fallback)."""
    from chimera_workers.connections import open_redis
    from chimera_workers.worker import Worker

    p = spec["params"]
    app = chimera_app(
        spec["stream"],
        bench_handlers.stall,
        "bench_handlers:stall",
        binding="kill",
        group=spec["group"],
        batch_size=p["batch_size"],
        block_ms=p["block_ms"],
        concurrency=p["concurrency"],
        max_inflight=p["max_inflight"],
        claim_idle_ms=p["claim_idle_ms"],
    )
    redis = await open_redis(spec["url"], retries=0)
    worker = Worker(
        app, redis, consumer=spec["consumer"], bindings=["kill"], schedules=[], retention=False
    )
    await worker.start()
    emit("ready", pid=os.getpid())
    await asyncio.Event().wait()


MODES = {"bench": bench, "soak": soak, "victim": victim}


def main() -> None:
    spec = json.loads(sys.argv[1])
    uvloop.run(MODES[spec["mode"]](spec))


if __name__ == "__main__":
    main()
