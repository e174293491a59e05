"""What each benchmarked system expects on the wire, and Chimera's hand-built topology.

Every system gets its *native* entry format, so each consumer decodes what it would decode in
production:

* raw redis-py and Chimera: ``{b"d": msgspec-json(Ping)}`` (``codec.entry_fields``);
* FastStream: ``{b"__data__": BinaryMessageFormatV1(json body)}``, what ``broker.publish`` writes;
* taskiq-redis: ``{b"data": TaskiqMessage json}``, what ``task.kiq()`` writes.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import hiredis
import msgspec
from bench_handlers import Ping

from chimera_workers.codec import entry_fields
from chimera_workers.topology import (
    App,
    BindingSpec,
    Handler,
    Retention,
    StreamSpec,
    dead_letter_name,
)

Fields = dict[bytes, bytes]
Encode = Callable[[int, int], Awaitable[Fields]]

TASKIQ_TASK = "bench.noop"


def chimera_app(
    stream: str,
    handler: Handler,
    handler_path: str,
    *,
    binding: str = "bench",
    group: str = "bench",
    batch_size: int = 500,
    block_ms: int = 100,
    concurrency: int = 8,
    max_inflight: int | None = None,
    claim_idle_ms: int = 30_000,
) -> App:
    """Build the ``App`` a one-stream, one-binding ``streams.yaml`` would load to."""
    spec = StreamSpec(
        name=stream,
        template=stream,
        payload_type=Ping,
        decoder=msgspec.json.Decoder(Ping),
        retention=Retention(),
        dead_letter=dead_letter_name(stream),
    )
    bind = BindingSpec(
        name=binding,
        group=group,
        template=stream,
        streams=(stream,),
        handler=handler,
        handler_path=handler_path,
        payload_type=Ping,
        batch_size=batch_size,
        block_ms=block_ms,
        concurrency=concurrency,
        ordering_key=None,
        max_deliveries=5,
        retry_backoff_ms=200,
        retry_backoff_max_ms=10_000,
        dead_letters={stream: spec.dead_letter},
        claim_idle_ms=claim_idle_ms,
        max_inflight=max_inflight or 2 * batch_size,
    )
    return App(
        source=Path("<benchmark>"),
        symbols=(),
        streams={stream: spec},
        bindings={binding: bind},
        schedules={},
        migrations_dir=None,
    )


async def chimera_fields(seq: int, sent_ns: int) -> Fields:
    return entry_fields(Ping(seq, sent_ns))


async def faststream_fields(seq: int, sent_ns: int) -> Fields:
    from faststream.message import gen_cor_id
    from faststream.redis.parser.binary import BinaryMessageFormatV1

    body = await BinaryMessageFormatV1.encode(
        message={"seq": seq, "sent_ns": sent_ns},
        reply_to=None,
        headers=None,
        correlation_id=gen_cor_id(),
    )
    return {b"__data__": body}


def taskiq_encoder() -> Encode:
    """Encode the way ``noop.kiq(seq, sent_ns)`` would, through a broker's formatter."""
    import uuid

    from taskiq.message import TaskiqMessage
    from taskiq_redis import RedisStreamBroker

    # Never started: only its formatter (the broker's serializer) is used.
    formatter = RedisStreamBroker("redis://127.0.0.1:1/0").formatter

    async def encode(seq: int, sent_ns: int) -> Fields:
        msg = TaskiqMessage(
            task_id=uuid.uuid4().hex,
            task_name=TASKIQ_TASK,
            labels={},
            labels_types={},
            args=[seq, sent_ns],
            kwargs={},
        )
        return {b"data": formatter.dumps(msg).message}

    return encode


def encoder_for(system: str) -> Encode:
    """Return the entry encoder of ``system`` (raw*, chimera, faststream*, taskiq)."""
    if system in ("raw", "raw-parsed", "chimera"):
        return chimera_fields
    if system.startswith("faststream"):
        return faststream_fields
    if system == "taskiq":
        return taskiq_encoder()
    raise ValueError(f"unknown system {system!r}")


def _pack(buf: bytearray, args: list[bytes]) -> None:
    buf += b"*%d\r\n" % len(args)
    for arg in args:
        buf += b"$%d\r\n%b\r\n" % (len(arg), arg)


class RespConnection:
    """A bare RESP connection for bulk XADDs.

    redis-py 8's pipeline costs ~35 µs per XADD on this kind of machine, which made pre-filling
    take longer than the measurements; writing the commands ourselves costs ~3 µs.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._parser = hiredis.Reader()

    @classmethod
    async def open(cls, url: str) -> RespConnection:
        parts = urllib.parse.urlsplit(url)
        reader, writer = await asyncio.open_connection(
            parts.hostname or "127.0.0.1", parts.port or 6379
        )
        conn = cls(reader, writer)
        db = parts.path.strip("/") or "0"
        if db != "0":
            _check(await conn.call([[b"SELECT", db.encode()]]))
        return conn

    async def xadd_many(self, stream: str, entries: Iterable[Fields]) -> None:
        """XADD every entry (auto ids) in one write; raise on any error reply."""
        name = stream.encode()
        commands = []
        for fields in entries:
            args = [b"XADD", name, b"*"]
            for key, value in fields.items():
                args += (key, value)
            commands.append(args)
        _check(await self.call(commands))

    async def call(self, commands: list[list[bytes]]) -> list[Any]:
        buf = bytearray()
        for args in commands:
            _pack(buf, args)
        self._writer.write(buf)
        await self._writer.drain()
        replies: list[Any] = []
        while len(replies) < len(commands):
            reply = self._parser.gets()
            if reply is False:
                chunk = await self._reader.read(1 << 16)
                if not chunk:
                    raise ConnectionError("redis closed the connection")
                self._parser.feed(chunk)
                continue
            replies.append(reply)
        return replies

    async def aclose(self) -> None:
        self._writer.close()
        await self._writer.wait_closed()


def _check(replies: list[Any]) -> None:
    for reply in replies:
        if isinstance(reply, hiredis.ReplyError):
            raise RuntimeError(f"redis error: {reply}")
