"""What a resource server does with one of our tokens beyond its signature: the DPoP sender constraint.

:func:`check_sender` implements RFC 9449 §7.1: a DPoP-bound token (``cnf.jkt``) must come with the
``DPoP`` authorization scheme and a valid proof for this request, signed by the bound key, carrying the
token's hash (``ath``) and a ``jti`` not seen before; a Bearer token must not be sent with the DPoP
scheme. Resource servers of other teams can use it with a :class:`MemoryReplayGuard` (one process) or any
object with a ``use_once`` method; our own APIs use the database-backed store shared by every node.
No web framework and no database here.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

from iam.oauth.errors import DPoPProofRejected, InvalidDPoPProof, InvalidToken
from iam.oauth.rfc9449 import CLOCK_SKEW_SECONDS, DPOP_SIGNING_ALGS, PROOF_MAX_AGE_SECONDS, verify_proof

__all__ = ["MemoryReplayGuard", "ReplayGuard", "check_sender"]

_ALGS = " ".join(DPOP_SIGNING_ALGS)


class ReplayGuard(Protocol):
    def use_once(self, *, kind: str, issuer: str, jti: str, expires_at: int) -> bool:
        """Record the identifier; False when it was recorded before."""
        ...


class MemoryReplayGuard:
    """A process-local replay guard for single-process resource servers; thread-safe."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str, str], int] = {}
        self._lock = threading.Lock()

    def use_once(self, *, kind: str, issuer: str, jti: str, expires_at: int) -> bool:
        now = int(time.time())
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen = {key: exp for key, exp in self._seen.items() if exp >= now}
            if (kind, issuer, jti) in self._seen:
                return False
            self._seen[(kind, issuer, jti)] = expires_at
            return True


def check_sender(*, bound_jkt: str | None, scheme: str, access_token: str, proof: str | None, method: str,
                 urls: tuple[str, ...], replay: ReplayGuard, now: int | None = None) -> None:
    """Raise InvalidToken or DPoPProofRejected (both 401) unless the request satisfies RFC 9449 §7.1."""
    is_dpop = scheme.lower() == "dpop"
    if bound_jkt is None:
        if is_dpop:
            raise InvalidToken("the token is not DPoP-bound; send it with the Bearer scheme", scheme="DPoP")
        return
    if not is_dpop:
        raise InvalidToken("the token is DPoP-bound; send it with the DPoP scheme and a DPoP proof",
                           scheme="DPoP")
    if not proof:
        raise DPoPProofRejected("the request has no DPoP proof", algs=_ALGS)
    moment = int(time.time()) if now is None else now
    try:
        checked = verify_proof(proof, method=method, urls=urls, now=moment, access_token=access_token)
    except InvalidDPoPProof as exc:
        raise DPoPProofRejected(exc.message, algs=_ALGS) from None
    if checked.jkt != bound_jkt:
        raise DPoPProofRejected("the DPoP proof is signed by another key than the token is bound to", algs=_ALGS)
    if not replay.use_once(kind="dpop", issuer=checked.jkt, jti=checked.jti,
                           expires_at=checked.issued_at + PROOF_MAX_AGE_SECONDS + CLOCK_SKEW_SECONDS):
        raise DPoPProofRejected("the DPoP proof was used before (replay)", algs=_ALGS)
