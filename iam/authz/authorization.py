"""The decision engine of one process, wired to the database, the change bus and the access log.

Built by ``Runtime.start`` before the change bus starts listening, so it never misses a notice:

* ``identity`` ``person:<id>`` / ``*``  (provisioning: grants, accounts, licences) -> drop cached subjects;
* ``authz`` ``patient:<nid>`` / ``person:<id>`` / ``*`` (our own fact changes) -> drop cached facts;
* ``policy`` ``<version id>`` (``iam policy publish``) -> load, compile and swap in the new policy.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.orm import Session, sessionmaker

from audit.log import AccessLog
from iam.authz.catalogue import DEFAULT_POLICY_DIR, PolicyError
from iam.authz.channels import AUTHZ_CHANNEL, IDENTITY_CHANNEL, POLICY_CHANNEL
from iam.authz.emergency import EmergencyAccess
from iam.authz.engine import DecisionEngine
from iam.authz.model import Decision, DecisionRequest
from iam.authz.pdp import PolicyDecisionPoint
from iam.authz.pip import IdentitySource, PolicyInformationPoint, ProvisioningIdentity
from iam.authz.policy import CompiledPolicy, load_policy
from iam.authz.publication import published_policy
from iam.authz.search import Search
from iam.authz.service import CareFacts
from iam.config import Settings
from iam.notify import RESYNC, ChangeBus

__all__ = ["Authorization"]
_log = logging.getLogger("iam.authz")


class Authorization:
    """Policy, policy information point, decision engine and decision point of this process."""

    def __init__(self, *, settings: Settings, sessions: sessionmaker[Session], bus: ChangeBus, audit: AccessLog,
                 identity: IdentitySource | None = None) -> None:
        self.settings = settings
        self.sessions = sessions
        self.bus = bus
        self.pip = PolicyInformationPoint(sessions, identity or ProvisioningIdentity(sessions),
                                          patient_cache_size=settings.authz_patient_cache_size,
                                          subject_ttl=settings.authz_subject_ttl)
        self._reload_lock = threading.Lock()
        self.policy_version_id, policy = self._current_policy()
        self.engine = DecisionEngine(policy, self.pip)
        self.pdp = PolicyDecisionPoint(self.engine, self.pip, audit)
        self.facts = CareFacts(sessions=sessions, bus=bus, pip=self.pip)
        self.emergency = EmergencyAccess(sessions=sessions, bus=bus, pip=self.pip, engine=self.engine,
                                         hours=settings.emergency_access_hours)
        self.search = Search(sessions=sessions, pip=self.pip, pdp=self.pdp)
        bus.subscribe(IDENTITY_CHANNEL, self._on_identity_notice)
        bus.subscribe(AUTHZ_CHANNEL, self.pip.on_authz_notice)
        bus.subscribe(POLICY_CHANNEL, self._on_policy_notice)
        self._stop = threading.Event()
        self._refresh_now = threading.Event()
        self._first_load_done = threading.Event()
        self._refresher = threading.Thread(target=self._refresh_subjects, name="iam-authz-subjects", daemon=True)
        self._refresher.start()

    def close(self) -> None:
        """Stop the background subject refresh (the rest has nothing to release)."""
        self._stop.set()
        self._refresh_now.set()
        self._refresher.join(timeout=10)

    def wait_for_subjects(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the first bulk load of every user (done or failed); return whether
        it ended. A server process calls this before it serves (see :func:`iam.app.create_app`)."""
        return self._first_load_done.wait(timeout)

    def _refresh_subjects(self) -> None:
        """Load every subject in bulk at start-up, after a "resynchronise everything" notice, and every
        ``authz_subject_ttl`` seconds (one streaming query instead of one look-up per user); reload the
        organisation register with them once it is in use."""
        while not self._stop.is_set():
            try:
                self.pip.refresh_org()
                loaded = self.pip.preload_subjects()
                _log.debug("subjects loaded", extra={"count": loaded})
            except Exception:  # the database may be briefly unreachable; per-user look-ups still work
                _log.exception("bulk subject load failed; users are looked up one by one meanwhile")
            finally:
                self._first_load_done.set()
            self._refresh_now.wait(self.settings.authz_subject_ttl)
            self._refresh_now.clear()

    def _on_identity_notice(self, payload: str) -> None:
        self.pip.on_identity_notice(payload)
        if payload == RESYNC:
            self._refresh_now.set()

    @property
    def policy(self) -> CompiledPolicy:
        return self.engine.policy

    def decide(self, request: DecisionRequest) -> Decision:
        """Decide without logging (callers that log the access themselves, e.g. token exchange)."""
        return self.engine.decide(request)

    def _current_policy(self) -> tuple[int | None, CompiledPolicy]:
        with self.sessions() as session:
            published = published_policy(session)
        if published is not None:
            return published
        return None, load_policy(self.settings.policy_dir or DEFAULT_POLICY_DIR)

    def reload(self) -> CompiledPolicy:
        """Load the newest published policy (else the files) and swap it in; raise PolicyError and keep the
        current policy when it does not compile."""
        with self._reload_lock:
            version_id, policy = self._current_policy()
            self.engine.use_policy(policy)
            self.policy_version_id = version_id
            _log.info("policy in force", extra={"policy_version": policy.version, "version_id": version_id})
            return policy

    def _on_policy_notice(self, payload: str) -> None:
        try:
            self.reload()
        except PolicyError as exc:
            _log.error("published policy refused; keeping the policy in force", extra={"reason": str(exc),
                                                                                         "payload": payload})
