"""Run the installed ``iam`` command as a user would, find free loopback ports, wait for a change to arrive."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

IAM = str(Path(sys.executable).parent / "iam")


def run_iam(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("IAM_")}
    environment.update(env or {})
    return subprocess.run([IAM, *args], cwd=cwd, env=environment, capture_output=True, text=True,
                          timeout=timeout, check=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def poll(call: Callable[[], Any], *, until: Callable[[Any], bool], seconds: float = 10.0) -> Any:
    """Call until ``until(result)`` holds or ``seconds`` pass; return the last result (bounded wait for the
    change bus, which delivers within a second; SQLite polls every 0.2 s)."""
    deadline = time.monotonic() + seconds
    result = call()
    while not until(result) and time.monotonic() < deadline:
        time.sleep(0.05)
        result = call()
    return result
