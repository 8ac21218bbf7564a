"""The JSON log lines: one object a line, extra fields kept, credential-named fields never written."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import time

from iam.logs import BufferedLines, JsonFormatter


def _line(formatter: JsonFormatter, **fields: object) -> dict[str, object]:
    record = logging.LogRecord("iam.test", logging.INFO, __file__, 1, "token %s", ("issued",), None)
    for key, value in fields.items():
        setattr(record, key, value)
    parsed: dict[str, object] = json.loads(formatter.format(record))
    return parsed


def test_extra_fields_are_written_and_credential_names_redacted() -> None:
    formatter = JsonFormatter()
    line = _line(formatter, client_id="app-1", client_secret="s3cr3t", Authorization="Bearer x", status=200)
    assert line["message"] == "token issued"
    assert line["level"] == "info" and line["logger"] == "iam.test"
    assert line["client_id"] == "app-1" and line["status"] == 200
    assert line["client_secret"] == "[redacted]" and line["Authorization"] == "[redacted]"
    assert "s3cr3t" not in json.dumps(line) and "lineno" not in line
    # The per-name decision is remembered; a second line with the same names is treated the same way.
    again = _line(formatter, client_id="app-2", client_secret="other")
    assert again["client_id"] == "app-2" and again["client_secret"] == "[redacted]"


def test_buffered_lines_arrive_whole_in_order_within_the_interval() -> None:
    stream = io.StringIO()
    lines = BufferedLines(stream, interval=0.05, limit=1 << 20)
    for number in range(100):
        lines.write(json.dumps({"n": number}).encode())
    assert stream.getvalue() == ""  # gathered, not written line by line
    deadline = time.monotonic() + 5
    while stream.getvalue().count("\n") < 100 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [json.loads(line)["n"] for line in stream.getvalue().splitlines()] == list(range(100))
    lines.write(b'{"n":100}')  # the flusher keeps working after its first write
    while stream.getvalue().count("\n") < 101 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stream.getvalue().splitlines()[-1] == '{"n":100}'


def test_buffered_lines_are_written_at_once_when_the_buffer_fills() -> None:
    stream = io.StringIO()
    lines = BufferedLines(stream, interval=60, limit=100)
    lines.write(b"x" * 60)
    assert stream.getvalue() == ""
    lines.write(b"y" * 60)
    assert stream.getvalue() == "x" * 60 + "\n" + "y" * 60 + "\n"


_SERVER_PROCESS = """
import sys
from iam.logs import configure_logging, log_request
configure_logging(sys.argv[1])
for number in range(3):
    log_request({"request_id": f"r{number}", "method": "GET", "path": "/healthz", "status": 200,
                 "duration_ms": 0.5, "client": "127.0.0.1"})
"""


def test_request_lines_of_a_configured_process_are_written_when_it_exits() -> None:
    done = subprocess.run([sys.executable, "-c", _SERVER_PROCESS, "info"], capture_output=True, text=True,
                          timeout=60, check=True)
    entries = [json.loads(line) for line in done.stderr.splitlines()]
    assert [entry["request_id"] for entry in entries] == ["r0", "r1", "r2"]
    assert entries[0]["logger"] == "iam.access" and entries[0]["message"] == "request"
    assert entries[0]["level"] == "info" and entries[0]["status"] == 200 and entries[0]["path"] == "/healthz"
    assert entries[0]["time"].endswith("+00:00")
    quiet = subprocess.run([sys.executable, "-c", _SERVER_PROCESS, "warning"], capture_output=True, text=True,
                           timeout=60, check=True)
    assert quiet.stderr == ""
