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


class _ClosedBeforeAnswer(Exception):
    """The server closed a kept connection before answering."""


class KeepAliveGetter:
    def __init__(self, base_url: str, timeout: float = 10.0, headers: dict[str, str] | None = None) -> None:
        parts = urlsplit(base_url)
        self._headers = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._timeout = timeout
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._open: set[asyncio.StreamWriter] = set()

    async def get(self, path: str) -> int:
        """The status of GET `path`; the body is read and dropped. Raises HttpError.

        A kept connection the server has closed meanwhile (uvicorn closes idle ones after 5 s) fails before any
        answer; the GET is then sent once more on a new connection, as HTTP clients do for idempotent requests.
        """
        if self._idle:
            try:
                return await self._get_on(*self._idle.pop(), path)
            except _ClosedBeforeAnswer:
                pass
        try:
            return await self._get_on(*await self._connect(), path)
        except _ClosedBeforeAnswer as exc:
            raise HttpError("the server closed a new connection before answering") from exc

    async def _get_on(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> int:
        try:
            async with asyncio.timeout(self._timeout):
                try:
                    writer.write(f"GET {path} HTTP/1.1\r\nHost: {self._host}\r\n{self._headers}\r\n".encode())
                    head = await reader.readuntil(b"\r\n\r\n")
                except (ConnectionResetError, BrokenPipeError) as exc:
                    raise _ClosedBeforeAnswer from exc
                except asyncio.IncompleteReadError as exc:
                    if not exc.partial:
                        raise _ClosedBeforeAnswer from exc
                    raise
                status, length = _parse_head(head)
                await reader.readexactly(length)
        except _ClosedBeforeAnswer:
            self._open.discard(writer)
            writer.close()
            raise
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
