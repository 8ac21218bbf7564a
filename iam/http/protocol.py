"""The HTTP/1.1 protocol of server processes: uvicorn's httptools protocol, one ``send()`` per response.

uvicorn writes a response's status line and headers as soon as the application starts the response, and
the body in a second write: two system calls and two TCP segments per response, and two reads for the
client. On this service's small JSON answers the extra call was the most expensive single line of the
token endpoint (about 10 % of a worker's time, system calls being dear in a virtual machine). Here the
head of a response is held until its body is written and both leave together; a head whose body does not
follow in the same turn of the event loop (an empty or streamed response) is sent in the next turn, and
always before anything else is written or the connection is closed, so nothing is reordered or lost.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["CoalescingHttpToolsProtocol"]

_HEAD_START = b"HTTP/"
_HEAD_END = b"\r\n\r\n"


class _CoalescingTransport:
    """A transport that holds a response head until the next write (or the end of the loop's turn)."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + bytes(data))
        elif isinstance(data, bytes) and data.startswith(_HEAD_START) and data.endswith(_HEAD_END):
            self._held = data
            self._loop.call_soon(self._flush)
        else:
            self._transport.write(data)

    def _flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def writelines(self, chunks: Any) -> None:
        self.write(b"".join(chunks))

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + len(self._held or b"")

    def __getattr__(self, name: str) -> Any:
        # Everything else (is_closing, get_extra_info, pause_reading, set_protocol, abort...) is the socket's.
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing each response with one system call where it can."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        coalescing: Any = _CoalescingTransport(transport, self.loop)
        super().connection_made(coalescing)
