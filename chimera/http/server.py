"""Run an ASGI app with uvicorn inside the current event loop (tests, embedded services).

``chimera api serve`` uses ``uvicorn.run``; this is for callers that already own a loop and
want the app's resources (Redis, PostgreSQL pools) on that loop, on a port the OS chooses.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

from chimera_workers.errors import ChimeraError


@asynccontextmanager
async def serve(app: Any, *, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve ``app`` on ``host:port`` (0: a free port) and yield its base URL; stop on exit."""
    config = uvicorn.Config(
        app, host=host, port=port, lifespan="on", ws="none", log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # re-raise a startup crash
            raise ChimeraError(
                "the API failed to start (see the log above)",
                hint="check the Redis/PostgreSQL URLs and the config bundle",
            )
        await asyncio.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        await task


__all__ = ["serve"]
