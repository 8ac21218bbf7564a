"""Change notices reach every node sharing the database after commit, and never after rollback."""

from __future__ import annotations

import queue

from iam.db import make_engine, make_session_factory
from iam.notify import ChangeBus


def test_committed_notice_reaches_another_node_and_rolled_back_one_does_not(database_url: str) -> None:
    sender_engine, receiver_engine = make_engine(database_url), make_engine(database_url)
    sender, receiver = ChangeBus(sender_engine), ChangeBus(receiver_engine, poll_interval=0.05)
    received: queue.Queue[str] = queue.Queue()
    receiver.subscribe("grants", received.put)
    receiver.start()
    try:
        sessions = make_session_factory(sender_engine)
        session = sessions()
        sender.publish(session, "grants", "person:7")
        session.rollback()
        session.close()
        with sessions.begin() as session:
            sender.publish(session, "grants", "person:42")
        assert received.get(timeout=5) == "person:42"
        assert received.empty()
    finally:
        receiver.stop()
        sender_engine.dispose()
        receiver_engine.dispose()
