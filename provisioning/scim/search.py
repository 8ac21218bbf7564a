"""Listing resources (RFC 7644 §3.4.2, §3.4.3): filter, sort, paginate, project, as one ListResponse.

The query parameters of ``GET /Users`` and the body of ``POST /Users/.search`` are read into the same
scim2-models ``SearchRequest`` (which checks the filter's syntax and attribute names against the resource
model, and ``sortBy``); the filter is then compiled into SQL by :mod:`provisioning.scim.filters`.

* ``startIndex`` is 1-based; below 1 means 1 (§3.4.2.4). ``count`` below 0 means 0 (only
  ``totalResults``); above ``Limits.max_results`` it is lowered to it; absent means ``Limits.default_count``.
* Sorting (§3.4.2.3) is by one attribute, ascending by default, case-insensitively for caseExact=false
  strings; a multi-valued attribute sorts by its smallest value. Resources without the value sort last
  when ascending. The resource id breaks ties so pages never overlap.
* ``attributes``/``excludedAttributes`` (§3.9) are applied by scim2-models to each returned resource.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from scim2_models import Context, ResponseParameters, SCIMException, SearchRequest
from scim2_models.path import Present
from sqlalchemy import ColumnElement, Select, func, nulls_last, select
from sqlalchemy.orm import Session

from provisioning.scim.discovery import Limits
from provisioning.scim.errors import InvalidValue, from_library, from_validation
from provisioning.scim.filters import Attribute, AttributeMap, MultiValued, compile_filter, parse_filter

__all__ = ["LIST_RESPONSE_SCHEMA", "Listing", "list_resources", "project", "read_search"]

LIST_RESPONSE_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SEARCH_REQUEST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


@dataclass(frozen=True)
class Listing:
    """What one resource type contributes to a list: its model, where its attributes live, the base query
    (``SELECT id ...`` with the joins the attribute map needs) and a bulk loader of representations."""

    model: Any
    attributes: AttributeMap
    base: Select[tuple[str]]
    id_column: Any
    load: Callable[[Session, Sequence[str]], dict[str, dict[str, Any]]]


def read_search(raw: dict[str, Any], model: Any, *, from_body: bool) -> Any:
    """A validated ``SearchRequest[model]`` from query parameters or a ``/.search`` body."""
    payload = dict(raw)
    if from_body and payload.pop("schemas", None) != [SEARCH_REQUEST_SCHEMA]:
        raise InvalidValue(f"a search request's schemas must be ['{SEARCH_REQUEST_SCHEMA}']")
    for key in ("startIndex", "count"):
        value = payload.get(key)
        if isinstance(value, str):
            try:
                payload[key] = int(value)
            except ValueError:
                raise InvalidValue(f"{key} must be an integer, not '{value}'") from None
    try:
        return SearchRequest[model].model_validate(payload, scim_ctx=Context.SEARCH_REQUEST)
    except ValidationError as exc:
        raise from_validation(exc, what="search") from None
    except SCIMException as exc:
        raise from_library(exc) from None


def _sort_key(sort_by: str, attributes: AttributeMap) -> ColumnElement[Any]:
    node = parse_filter(f"{sort_by} pr")
    assert isinstance(node, Present)
    target, sub = attributes.lookup(node.attr_path)
    attribute: Attribute
    if isinstance(target, MultiValued):
        attribute = target.sub(sub or "value", shown=sort_by)
        query = select(func.min(attribute.column)).select_from(target.table).where(target.child == target.parent)
        if target.where is not None:
            query = query.where(target.where)
        column: ColumnElement[Any] = query.scalar_subquery()
    else:
        attribute, column = target, target.column
    return func.lower(column) if attribute.type == "string" and not attribute.case_exact else column


def project(documents: Sequence[dict[str, Any]], model: Any, request: Any) -> list[dict[str, Any]]:
    """Apply ``attributes``/``excludedAttributes`` of ``request`` (a SearchRequest or ResponseParameters)."""
    if not request.attributes and not request.excluded_attributes:
        return list(documents)
    parameters = ResponseParameters[model](attributes=request.attributes,
                                           excluded_attributes=request.excluded_attributes)
    projected = []
    for document in documents:
        resource = model.model_validate(document, scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
        projected.append(resource.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE,
                                             response_parameters=parameters))
    return projected


def list_resources(session: Session, listing: Listing, request: Any, *, limits: Limits,
                   version: Callable[[dict[str, Any]], str]) -> dict[str, Any]:
    """The ListResponse for ``request`` (a SearchRequest of ``listing.model``)."""
    query = listing.base
    if request.filter:
        query = query.where(compile_filter(str(request.filter), listing.attributes))
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    start = max(request.start_index or 1, 1)
    count = limits.default_count if request.count is None else min(max(request.count, 0), limits.max_results)
    ordering: list[Any] = []
    if request.sort_by:
        key = _sort_key(str(request.sort_by), listing.attributes)
        descending = request.sort_order is not None and str(request.sort_order.value) == "descending"
        ordering.append(nulls_last(key.desc()) if descending else nulls_last(key.asc()))
    ordering.append(listing.id_column)
    ids: list[str] = []
    if count > 0:
        ids = [str(row) for row in session.execute(query.order_by(*ordering).offset(start - 1).limit(count))
               .scalars()]
    loaded = listing.load(session, ids)
    documents = []
    for resource_id in ids:
        document = loaded.get(resource_id)
        if document is not None:
            document["meta"]["version"] = version(document)
            documents.append(document)
    return {"schemas": [LIST_RESPONSE_SCHEMA], "totalResults": total, "startIndex": start,
            "itemsPerPage": len(documents), "Resources": project(documents, listing.model, request)}
