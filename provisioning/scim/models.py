"""Tables the SCIM server keeps beside the identity model.

A SCIM User is a *view* of a person (``persons``/``employments``/``accounts``/``grants``, owned by the
provisioning engine) plus what only SCIM knows: the resource id, ``userName``, ``externalId``, display
name, contact addresses and the manager. Those live here, keyed by the person. Deleting a SCIM User makes
the person a leaver through the engine and deletes these rows; the person and the grant history stay.

Groups are SCIM-only data (they grant no roles), so they live here entirely.

ETags are not stored: a resource's version is a hash of its representation (see
:mod:`provisioning.scim.etag`), so a change by another source (the HR file, LDAP) changes it too.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from iam.db.base import Base, utc_now

__all__ = ["ScimContactRow", "ScimGroupMemberRow", "ScimGroupRow", "ScimUserRow"]


class ScimUserRow(Base):
    __tablename__ = "scim_users"
    __table_args__ = (
        # userName is unique case-insensitively (RFC 7643 §4.1.1: caseExact false); the expression index
        # also serves the case-insensitive ``userName eq`` filter on both databases.
        Index("uq_scim_users_user_name_lower", text("lower(user_name)"), unique=True),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), unique=True)
    user_name: Mapped[str] = mapped_column(String(256))
    external_id: Mapped[str | None] = mapped_column(String(256), index=True)
    display_name: Mapped[str | None] = mapped_column(String(300))
    name_formatted: Mapped[str | None] = mapped_column(String(300))
    middle_name: Mapped[str | None] = mapped_column(String(200))
    manager_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)


class ScimContactRow(Base):
    """One email address (``kind`` 'email') or phone number ('phone') of a SCIM User, in the client's order."""

    __tablename__ = "scim_contacts"
    __table_args__ = (Index("ix_scim_contacts_user_kind", "user_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("scim_users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    position: Mapped[int]
    value: Mapped[str] = mapped_column(String(320))
    type: Mapped[str | None] = mapped_column(String(40))
    display: Mapped[str | None] = mapped_column(String(320))
    primary: Mapped[bool] = mapped_column(default=False)


class ScimGroupRow(Base):
    __tablename__ = "scim_groups"
    __table_args__ = (Index("uq_scim_groups_display_name_lower", text("lower(display_name)"), unique=True),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(300))
    external_id: Mapped[str | None] = mapped_column(String(256), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)


class ScimGroupMemberRow(Base):
    __tablename__ = "scim_group_members"

    group_id: Mapped[str] = mapped_column(ForeignKey("scim_groups.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("scim_users.id", ondelete="CASCADE"), primary_key=True,
                                         index=True)
