"""What an LDAP sync remembers between runs: per configured directory, the high-water marks.

``modify_timestamp`` is the newest ``modifyTimestamp`` seen (LDAP GeneralizedTime, e.g.
``20260301120000Z``); ``usn`` the highest ``uSNChanged`` (Active Directory). The next incremental run asks
only for entries changed at or after the mark; re-reading the boundary entries is harmless because the
plan of an unchanged person is empty.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from iam.db.base import Base

__all__ = ["LdapSyncStateRow"]


class LdapSyncStateRow(Base):
    __tablename__ = "ldap_sync_state"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    modify_timestamp: Mapped[str | None] = mapped_column(String(32))
    usn: Mapped[int | None] = mapped_column(BigInteger)
    last_run_at: Mapped[datetime]
    last_full_run_at: Mapped[datetime | None]
