"""Change notices between nodes: "the grants of person 42 changed", "the policy changed", "token revoked".

On PostgreSQL a notice is ``pg_notify`` inside the caller's transaction, so it is delivered to every node
(``LISTEN``) only if that transaction commits. SQLite serves one machine: there the notice is a row in
``change_notices`` that each process polls (every 0.2 s by default), with the same commit semantics.

Subscribers run on the bus's listener thread and must be quick. When the PostgreSQL connection drops,
notices may be lost, so every subscriber is called with the payload ``"*"`` ("resynchronise everything")
after reconnecting.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta

import psycopg
from sqlalchemy import Engine, delete, func, insert, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from iam.db.base import Base, utc_now

__all__ = ["RESYNC", "ChangeBus", "ChangeNoticeRow"]

RESYNC = "*"
_log = logging.getLogger("iam.notify")


class ChangeNoticeRow(Base):
    __tablename__ = "change_notices"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    channel: Mapped[str]
    payload: Mapped[str]
    created_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)


Subscriber = Callable[[str], None]


class ChangeBus:
    def __init__(self, engine: Engine, *, poll_interval: float = 0.2) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._poll_interval = poll_interval
        self._subscribers: dict[str, list[Subscriber]] = defaultdict(list)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def publish(self, session: Session, channel: str, payload: str = "") -> None:
        """Queue a notice in the caller's transaction; it is delivered after commit, dropped on rollback."""
        if self._postgres:
            session.execute(text("SELECT pg_notify(:channel, :payload)"),
                            {"channel": f"iam_{channel}", "payload": payload})
        else:
            session.execute(insert(ChangeNoticeRow).values(channel=channel, payload=payload, created_at=utc_now()))

    def subscribe(self, channel: str, callback: Subscriber) -> None:
        self._subscribers[channel].append(callback)

    def start(self) -> None:
        """Begin listening. Returns once listening, so a notice committed afterwards is never missed."""
        if self._thread is not None:
            return
        if self._postgres:
            connection = self._connect_postgres()
            self._thread = threading.Thread(target=self._listen_postgres, args=(connection,),
                                            name="iam-change-bus", daemon=True)
        else:
            with self._engine.connect() as sqlite:
                last = sqlite.execute(select(func.coalesce(func.max(ChangeNoticeRow.id), 0))).scalar_one()
            self._thread = threading.Thread(target=self._poll_sqlite, args=(last,), name="iam-change-bus",
                                            daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _deliver(self, channel: str, payload: str) -> None:
        for callback in list(self._subscribers.get(channel, ())):
            try:
                callback(payload)
            except Exception:  # one broken subscriber must not silence the others
                _log.exception("change subscriber failed", extra={"channel": channel})

    def _resync_all(self) -> None:
        for channel in list(self._subscribers):
            self._deliver(channel, RESYNC)

    def _connect_postgres(self) -> psycopg.Connection[tuple[object, ...]]:
        dsn = self._engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        connection = psycopg.connect(dsn, autocommit=True)
        for channel in list(self._subscribers):
            connection.execute(f'LISTEN "iam_{channel}"'.encode())
        return connection

    def _listen_postgres(self, connection: psycopg.Connection[tuple[object, ...]] | None) -> None:
        while not self._stop.is_set():
            try:
                if connection is None:
                    connection = self._connect_postgres()
                    self._resync_all()
                while not self._stop.is_set():
                    for notice in connection.notifies(timeout=0.1):
                        self._deliver(notice.channel.removeprefix("iam_"), notice.payload)
            except psycopg.OperationalError:
                _log.warning("change bus lost its PostgreSQL connection; reconnecting")
                connection = None
                self._stop.wait(1.0)
        if connection is not None:
            connection.close()

    def _poll_sqlite(self, last: int) -> None:
        cleaned = utc_now()
        while not self._stop.wait(self._poll_interval):
            with self._engine.connect() as connection:
                rows = connection.execute(
                    select(ChangeNoticeRow.id, ChangeNoticeRow.channel, ChangeNoticeRow.payload)
                    .where(ChangeNoticeRow.id > last).order_by(ChangeNoticeRow.id)
                ).all()
                if utc_now() - cleaned > timedelta(minutes=10):
                    cleaned = utc_now()
                    connection.execute(delete(ChangeNoticeRow).where(
                        ChangeNoticeRow.created_at < cleaned - timedelta(hours=1)))
                    connection.commit()
            for row in rows:
                last = row.id
                self._deliver(row.channel, row.payload)
