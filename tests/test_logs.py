"""The JSON log lines: one object a line, extra fields kept, credential-named fields never written."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

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


def _read(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_buffered_lines_are_gathered_then_written_whole_in_order(tmp_path: Path) -> None:
    path = tmp_path / "log"
    with path.open("wb") as file:
        lines = BufferedLines(file.fileno(), interval=60, limit=1 << 20)
        for number in range(100):
            lines.write(json.dumps({"n": number}).encode())
        assert _read(path) == []  # gathered, not written line by line
        lines.flush()
        assert [json.loads(line)["n"] for line in _read(path)] == list(range(100))


def test_the_flusher_writes_gathered_lines_within_the_interval_and_keeps_working(tmp_path: Path) -> None:
    path = tmp_path / "log"
    with path.open("wb") as file:
        lines = BufferedLines(file.fileno(), interval=0.05)
        deadline = time.monotonic() + 10
        for batch in range(3):
            lines.write(f'{{"batch":{batch}}}'.encode())
            while len(_read(path)) <= batch and time.monotonic() < deadline:
                time.sleep(0.01)
        assert [json.loads(line)["batch"] for line in _read(path)] == [0, 1, 2]


def test_buffered_lines_are_written_at_once_when_the_buffer_fills(tmp_path: Path) -> None:
    path = tmp_path / "log"
    with path.open("wb") as file:
        lines = BufferedLines(file.fileno(), interval=60, limit=100)
        lines.write(b"x" * 60)
        assert _read(path) == []
        lines.write(b"y" * 60)
        assert _read(path) == ["x" * 60, "y" * 60]


def test_a_failed_write_drops_its_lines_without_raising_and_the_flusher_goes_on() -> None:
    with open("/dev/full", "wb") as full:  # every write fails: no space left on device
        lines = BufferedLines(full.fileno(), interval=0.01)
        for number in range(5):
            lines.write(b'{"n":%d}' % number)
        lines.flush()
        assert lines.dropped == 5
        lines.write(b'{"n":5}')
        deadline = time.monotonic() + 10
        while lines.dropped < 6 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert lines.dropped == 6  # the flusher met the failure too and is still at work


_WORKER = """
import sys
from iam.logs import configure_logging, log_request
configure_logging("info")
for number in range(20000):
    log_request({"request_id": f"{sys.argv[1]}-{number:05d}", "method": "GET", "path": "/healthz",
                 "status": 200, "duration_ms": 0.5, "client": "127.0.0.1"})
"""


def test_workers_sharing_one_stderr_pipe_never_break_each_others_lines() -> None:
    read_end, write_end = os.pipe()
    workers = [subprocess.Popen([sys.executable, "-c", _WORKER, name], stderr=write_end) for name in "AB"]
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        output = pipe.read()
    for worker in workers:
        assert worker.wait(timeout=60) == 0
    entries = [json.loads(line) for line in output.splitlines()]  # fails on a line cut by the other worker's
    assert sorted(entry["request_id"] for entry in entries) == [
        f"{name}-{number:05d}" for name in "AB" for number in range(20000)]


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


_POLICY_LOAD = """
import sys
from iam.authz.catalogue import DEFAULT_POLICY_DIR
from iam.authz.policy import load_policy
from iam.logs import configure_logging
configure_logging(sys.argv[1])
load_policy(DEFAULT_POLICY_DIR)
"""


def test_loading_the_policy_does_not_dump_it_into_the_log_unless_debugging() -> None:
    """pycasbin logs its whole model and policy at info on its first load; only ``debug`` keeps that."""
    quiet = subprocess.run([sys.executable, "-c", _POLICY_LOAD, "info"], capture_output=True, text=True,
                           timeout=60, check=True)
    assert [e for e in map(json.loads, quiet.stderr.splitlines()) if e["logger"].startswith("casbin")] == []
    verbose = subprocess.run([sys.executable, "-c", _POLICY_LOAD, "debug"], capture_output=True, text=True,
                             timeout=60, check=True)
    assert any(json.loads(line)["logger"].startswith("casbin") for line in verbose.stderr.splitlines())
