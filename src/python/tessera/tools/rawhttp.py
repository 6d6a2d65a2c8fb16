"""A minimal HTTP/1.1 GET client on asyncio streams, for the capacity benchmark's open-loop reads.

Hand-written on purpose: an open-loop load runs in Python (wrk has no fixed-rate mode), on the same two cores as
what it measures, and httpx spends about a millisecond of CPU per request, more than the bare handler it loads.
This client does only what the benchmark needs: keep-alive connections, GET, a Content-Length body.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit


class HttpError(Exception):
    """The connection failed or the answer was not HTTP/1.1 with a Content-Length."""


class KeepAliveGetter:
    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        parts = urlsplit(base_url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._timeout = timeout
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._open: set[asyncio.StreamWriter] = set()

    async def get(self, path: str) -> int:
        """The status of GET `path`; the body is read and dropped. Raises HttpError."""
        reader, writer = self._idle.pop() if self._idle else await self._connect()
        try:
            async with asyncio.timeout(self._timeout):
                writer.write(f"GET {path} HTTP/1.1\r\nHost: {self._host}\r\n\r\n".encode())
                head = await reader.readuntil(b"\r\n\r\n")
                status, length = _parse_head(head)
                await reader.readexactly(length)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, HttpError) as exc:
            self._open.discard(writer)
            writer.close()
            raise HttpError(str(exc) or type(exc).__name__) from exc
        self._idle.append((reader, writer))
        return status

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            reader, writer = await asyncio.open_connection(self._host, self._port)
        except OSError as exc:
            raise HttpError(str(exc)) from exc
        self._open.add(writer)
        return reader, writer

    async def close(self) -> None:
        for writer in self._open:
            writer.close()
        self._open.clear()
        self._idle.clear()


def _parse_head(head: bytes) -> tuple[int, int]:
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise HttpError(f"not an HTTP answer: {lines[0]!r}")
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(parts[1]), int(value.strip())
    raise HttpError("an answer without Content-Length")
