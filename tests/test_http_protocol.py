"""The server processes' HTTP protocol (head and body of a response in one write): every kind of response
still arrives whole and in order, on a real uvicorn server and a raw socket."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from iam.http.protocol import CoalescingHttpToolsProtocol
from tests.cli_helpers import free_port


async def _app(scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def, type-arg]
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/json":
        body = b'{"ok":true}'
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})
    elif path == "/empty":
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/stream":
        # The head goes out before the first chunk exists: it must not wait for it.
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for chunk in (b"one,", b"two,", b"three"):
            await asyncio.sleep(0.05)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    else:
        await send({"type": "http.response.start", "status": 404, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    port = free_port()
    config = uvicorn.Config(_app, host="127.0.0.1", port=port, http=CoalescingHttpToolsProtocol, log_config=None,
                            access_log=False, lifespan="off")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not instance.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    yield port
    instance.should_exit = True
    thread.join(timeout=10)


def _exchange(port: int, request: bytes, *, until: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(request)
        received = b""
        while not received.endswith(until):
            data = connection.recv(65536)
            assert data, f"connection closed after {received!r}"
            received += data
    return received


def test_pipelined_requests_on_one_connection_get_whole_responses_in_order(server: int) -> None:
    request = b"".join(b"GET /%s HTTP/1.1\r\nHost: t\r\n\r\n" % path for path in (b"json", b"empty", b"json"))
    with socket.create_connection(("127.0.0.1", server), timeout=5) as connection:
        connection.sendall(request)
        received = b""
        while received.count(b"HTTP/1.1 ") < 3 or not received.endswith(b'{"ok":true}'):
            data = connection.recv(65536)
            assert data, f"connection closed after {received!r}"
            received += data
    responses = received.split(b"HTTP/1.1 ")[1:]
    assert [response.split(b"\r\n", 1)[0] for response in responses] == [b"200 OK", b"204 No Content", b"200 OK"]
    assert responses[0].endswith(b'\r\n\r\n{"ok":true}')
    assert responses[1].endswith(b"\r\n\r\n")
    assert responses[2].endswith(b'\r\n\r\n{"ok":true}')


def test_a_streamed_response_sends_its_head_before_its_body_exists(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server), timeout=5) as connection:
        connection.sendall(b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
        first = connection.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"transfer-encoding: chunked" in first
        assert first.endswith(b"\r\n\r\n"), "the head waited for the body"
        received = first
        while not received.endswith(b"0\r\n\r\n"):
            data = connection.recv(65536)
            assert data
            received += data
    body = received.split(b"\r\n\r\n", 1)[1]
    assert body == b"4\r\none,\r\n4\r\ntwo,\r\n5\r\nthree\r\n0\r\n\r\n"


def test_a_head_request_and_a_closing_request_are_answered_whole(server: int) -> None:
    head = _exchange(server, b"HEAD /json HTTP/1.1\r\nHost: t\r\n\r\n", until=b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"content-length: 11" in head
    closing = _exchange(server, b"GET /json HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", until=b'{"ok":true}')
    assert closing.startswith(b"HTTP/1.1 200 OK\r\n")
