"""The SCIM Groups service. Groups are SCIM data only: they hold Users and grant nothing (roles come from
HR data through the role rules), so no write here touches the provisioning engine.

``displayName`` is unique case-insensitively (409 ``uniqueness``); every member must be an existing User
(400 ``invalidValue``); members are Users only (``type`` 'User'). PATCH applies all operations to the
current Group in memory (scim2-models' RFC 7644 §3.5.2 semantics, including ``members[value eq "..."]``
paths), then writes the result in one transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import uuid4

from pydantic import ValidationError
from scim2_models import Context, PatchOp, SCIMException
from sqlalchemy import delete, func, join, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from provisioning.models import PersonRow
from provisioning.scim.errors import (
    InvalidValue,
    Mutability,
    ResourceNotFound,
    Uniqueness,
    from_library,
    from_validation,
)
from provisioning.scim.etag import check_if_match, version_of
from provisioning.scim.filters import Attribute, AttributeMap, MultiValued
from provisioning.scim.models import ScimGroupMemberRow, ScimGroupRow, ScimUserRow
from provisioning.scim.resources import GROUP_SCHEMA, Group
from provisioning.scim.users import RequestContext

__all__ = ["create_group", "delete_group", "get_group", "group_attribute_map", "load_groups", "patch_group",
           "replace_group"]


def group_attribute_map() -> AttributeMap:
    members = join(ScimGroupMemberRow, ScimUserRow, ScimUserRow.id == ScimGroupMemberRow.user_id).join(
        PersonRow, PersonRow.id == ScimUserRow.person_id)
    return AttributeMap({GROUP_SCHEMA: {
        "id": Attribute(ScimGroupRow.id, case_exact=True),
        "externalid": Attribute(ScimGroupRow.external_id, case_exact=True),
        "displayname": Attribute(ScimGroupRow.display_name),
        "members": MultiValued(table=members, parent=ScimGroupRow.id, child=ScimGroupMemberRow.group_id,
                               sub_attributes={
            "value": Attribute(ScimGroupMemberRow.user_id, case_exact=True),
            "display": Attribute(PersonRow.given_name + " " + PersonRow.family_name),
            "type": Attribute(literal("User")),
        }),
        "meta.created": Attribute(ScimGroupRow.created_at, "dateTime"),
        "meta.lastmodified": Attribute(ScimGroupRow.updated_at, "dateTime"),
    }})


def load_groups(session: Session, ids: Sequence[str], *, base_url: str) -> dict[str, dict[str, Any]]:
    """Representations (without ``meta.version``) of the Groups ``ids`` that exist."""
    if not ids:
        return {}
    members: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for group_id, user_id, given, family in session.execute(
            select(ScimGroupMemberRow.group_id, ScimGroupMemberRow.user_id, PersonRow.given_name, PersonRow.family_name)
            .join(ScimUserRow, ScimUserRow.id == ScimGroupMemberRow.user_id)
            .join(PersonRow, PersonRow.id == ScimUserRow.person_id)
            .where(ScimGroupMemberRow.group_id.in_(ids)).order_by(ScimGroupMemberRow.user_id)):
        members[group_id].append({"value": user_id, "$ref": f"{base_url}/Users/{user_id}",
                                  "display": f"{given} {family}", "type": "User"})
    result: dict[str, dict[str, Any]] = {}
    for group in session.scalars(select(ScimGroupRow).where(ScimGroupRow.id.in_(ids))):
        document: dict[str, Any] = {"schemas": [GROUP_SCHEMA], "id": group.id}
        if group.external_id is not None:
            document["externalId"] = group.external_id
        document["displayName"] = group.display_name
        if members[group.id]:
            document["members"] = members[group.id]
        document["meta"] = {"resourceType": "Group", "created": group.created_at.isoformat(),
                            "lastModified": group.updated_at.isoformat(), "location": f"{base_url}/Groups/{group.id}"}
        result[group.id] = document
    return result


def _document(session: Session, group_id: str, ctx: RequestContext) -> dict[str, Any]:
    found = load_groups(session, [group_id], base_url=ctx.base_url).get(group_id)
    if found is None:
        raise ResourceNotFound(f"Group '{group_id}' does not exist")
    found["meta"]["version"] = version_of(found)
    return found


def get_group(sessions: sessionmaker[Session], group_id: str, ctx: RequestContext) -> dict[str, Any]:
    with sessions() as session:
        return _document(session, group_id, ctx)


def _validated(body: Any, context: Context) -> Group:
    if not isinstance(body, dict):
        raise InvalidValue("a Group must be a JSON object")
    try:
        return Group.model_validate(body, scim_ctx=context)
    except ValidationError as exc:
        raise from_validation(exc, what="Group") from None
    except SCIMException as exc:
        raise from_library(exc) from None


def _write(session: Session, group: Group, *, group_id: str | None, at: datetime) -> str:
    name = group.display_name or ""
    clash = session.execute(select(ScimGroupRow.id).where(func.lower(ScimGroupRow.display_name) == name.lower())
                            ).scalar()
    if clash is not None and clash != group_id:
        raise Uniqueness(f"displayName '{name}' already belongs to Group '{clash}'")
    wanted: list[str] = []
    for member in group.members or []:
        if member.type is not None and member.type != "User":
            raise InvalidValue(f"member '{member.value}' has type '{member.type}'; groups hold Users only")
        if member.value not in wanted and member.value is not None:
            wanted.append(member.value)
    known = set(session.execute(select(ScimUserRow.id).where(ScimUserRow.id.in_(wanted))).scalars())
    unknown = [value for value in wanted if value not in known]
    if unknown:
        raise InvalidValue(f"member '{unknown[0]}' is not a User")
    row = session.get(ScimGroupRow, group_id) if group_id else None
    if row is None:
        row = ScimGroupRow(id=str(uuid4()), display_name=name, created_at=at, updated_at=at)
        session.add(row)
    stored = set(session.execute(select(ScimGroupMemberRow.user_id)
                                 .where(ScimGroupMemberRow.group_id == row.id)).scalars())
    if (row.display_name, row.external_id, stored) != (name, group.external_id, set(wanted)):
        row.display_name, row.external_id, row.updated_at = name, group.external_id, at
    if stored != set(wanted):
        session.execute(delete(ScimGroupMemberRow).where(ScimGroupMemberRow.group_id == row.id,
                                                         ScimGroupMemberRow.user_id.in_(stored - set(wanted))))
        session.add_all(ScimGroupMemberRow(group_id=row.id, user_id=user_id) for user_id in wanted
                        if user_id not in stored)
    try:
        session.flush()
        return row.id
    except IntegrityError:
        raise Uniqueness(f"displayName '{name}' already belongs to another Group") from None


def create_group(sessions: sessionmaker[Session], body: Any, ctx: RequestContext) -> dict[str, Any]:
    group = _validated(body, Context.RESOURCE_CREATION_REQUEST)
    with sessions() as session:
        group_id = _write(session, group, group_id=None, at=ctx.at)
        session.commit()
        return _document(session, group_id, ctx)


def replace_group(sessions: sessionmaker[Session], group_id: str, body: Any, ctx: RequestContext, *,
                  if_match: str | None) -> dict[str, Any]:
    group = _validated(body, Context.RESOURCE_REPLACEMENT_REQUEST)
    with sessions() as session:
        check_if_match(if_match, _document(session, group_id, ctx)["meta"]["version"],
                       resource=f"Group '{group_id}'")
        if group.id is not None and group.id != group_id:
            raise Mutability(f"id '{group.id}' does not match the Group '{group_id}' being replaced")
        _write(session, group, group_id=group_id, at=ctx.at)
        session.commit()
        return _document(session, group_id, ctx)


def patch_group(sessions: sessionmaker[Session], group_id: str, body: Any, ctx: RequestContext, *,
                if_match: str | None) -> dict[str, Any]:
    try:
        patch = PatchOp[Group].model_validate(body, scim_ctx=Context.RESOURCE_PATCH_REQUEST)
    except ValidationError as exc:
        raise from_validation(exc, what="PatchOp") from None
    except SCIMException as exc:
        raise from_library(exc) from None
    with sessions() as session:
        current = _document(session, group_id, ctx)
        check_if_match(if_match, current["meta"]["version"], resource=f"Group '{group_id}'")
        group = Group.model_validate(current, scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
        try:
            patch.patch(group)
        except SCIMException as exc:
            raise from_library(exc) from None
        except ValidationError as exc:
            raise from_validation(exc, what="PATCH") from None
        _write(session, group, group_id=group_id, at=ctx.at)
        session.commit()
        return _document(session, group_id, ctx)


def delete_group(sessions: sessionmaker[Session], group_id: str, ctx: RequestContext, *,
                 if_match: str | None) -> None:
    with sessions() as session:
        check_if_match(if_match, _document(session, group_id, ctx)["meta"]["version"],
                       resource=f"Group '{group_id}'")
        session.execute(delete(ScimGroupMemberRow).where(ScimGroupMemberRow.group_id == group_id))
        session.execute(delete(ScimGroupRow).where(ScimGroupRow.id == group_id))
        session.commit()
