"""The JSON log lines: one object a line, extra fields kept, credential-named fields never written."""

from __future__ import annotations

import json
import logging

from iam.logs import JsonFormatter


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
