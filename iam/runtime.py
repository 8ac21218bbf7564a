"""The running service's shared objects, built once per process from Settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from audit.checkpoints import Checkpointer
from audit.log import AccessLog
from iam.authz.authorization import Authorization
from iam.config import Settings
from iam.db import make_engine, make_session_factory, upgrade
from iam.notify import ChangeBus
from iam.oauth.keys import KeyRing
from iam.oauth.server import KEYS_CHANNEL, AuthorizationServer
from iam.oauth.tokens import TokenService

__all__ = ["Runtime", "get_runtime", "start_audit_maintenance"]


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    keys: KeyRing
    tokens: TokenService
    bus: ChangeBus
    audit: AccessLog
    # The authorization server's caches and endpoints; built after the fields above because it consults
    # the decision engine and the access log through the runtime.
    oauth: AuthorizationServer = field(init=False)
    # The decision engine (policy, policy information point, decision point); subscribes to the bus.
    authz: Authorization = field(init=False)

    @classmethod
    def start(cls, settings: Settings) -> Runtime:
        """Connect, migrate (unless disabled) and load signing keys; raise DatabaseError/ConfigError."""
        engine = make_engine(settings.database_url)
        if settings.migrate_on_start:
            upgrade(engine)
        sessions = make_session_factory(engine)
        bus = ChangeBus(engine)
        keys = _key_ring(settings, sessions, bus)
        tokens = TokenService(
            keys, issuer=settings.issuer_url, audience=settings.issuer_url, ttl=settings.access_token_ttl
        )
        audit = _access_log(settings, engine, sessions, keys, maintenance=settings.audit_maintenance)
        runtime = cls(settings=settings, engine=engine, sessions=sessions, keys=keys, tokens=tokens, bus=bus,
                      audit=audit)
        runtime.authz = Authorization(settings=settings, sessions=sessions, bus=bus, audit=audit)
        runtime.oauth = AuthorizationServer(
            settings=settings, sessions=sessions, keys=keys, tokens=tokens, bus=bus,
            decider=lambda: getattr(runtime, "authz", None), access_log=lambda: runtime.audit)
        # Areas subscribe to the bus while starting; the listener starts last so no notice is missed.
        bus.start()
        return runtime

    def close(self) -> None:
        self.authz.close()
        self.audit.close()
        self.bus.stop()
        self.engine.dispose()


def _key_ring(settings: Settings, sessions: sessionmaker[Session], bus: ChangeBus) -> KeyRing:
    """The signing keys, loaded (the first created on a fresh installation) and reloaded on every rotation
    (``iam keys rotate`` on any node)."""
    keys = KeyRing(sessions, secret=settings.resolved_secret_key(), alg=settings.signing_alg)
    keys.start()
    bus.subscribe(KEYS_CHANNEL, lambda _payload: keys.refresh())
    return keys


def _access_log(settings: Settings, engine: Engine, sessions: sessionmaker[Session], keys: KeyRing, *,
                maintenance: bool) -> AccessLog:
    audit = AccessLog(engine, checkpointer=Checkpointer(engine, sessions, keys),
                      checkpoint_interval=settings.audit_checkpoint_interval, maintenance=maintenance)
    audit.start()
    return audit


def start_audit_maintenance(settings: Settings) -> Callable[[], None]:
    """Run the access log's search indexer and checkpoint signing in this process, which serves no requests
    (the supervisor of ``iam serve --workers N``); return what stops them. Its access log also seals admin
    events into the chain, as every process's does. In every worker they would compete with the event loop
    and the log's writer for the GIL: the writer holds the writers' lock across its database calls, and each
    wait for the GIL lengthened that for every process's writer."""
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    bus = ChangeBus(engine)
    keys = _key_ring(settings, sessions, bus)  # checkpoints are signed with the key in force
    bus.start()
    audit = _access_log(settings, engine, sessions, keys, maintenance=True)

    def stop() -> None:
        audit.close()
        bus.stop()
        engine.dispose()
    return stop


def get_runtime(request: Request) -> Runtime:
    runtime = request.app.state.runtime
    assert isinstance(runtime, Runtime)
    return runtime
