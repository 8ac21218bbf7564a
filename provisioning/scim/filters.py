"""SCIM filters (RFC 7644 §3.4.2.2) compiled into SQLAlchemy expressions, never into SQL text.

Parsing is scim2-models' (its LALR grammar follows the RFC's ABNF with errata 4670, 7322 and 7122
applied, and caps nesting at 32 levels). This module walks the tree it returns and builds a SQLAlchemy
``WHERE`` clause from an :class:`AttributeMap`, which says where each SCIM attribute is stored. Values are
always bound parameters; ``co``/``sw``/``ew`` escape ``%`` and ``_``. An attribute the map does not know is
``invalidFilter``, so the map is the whole truth about what can be filtered on.

Semantics, per RFC 7644 §3.4.2.2:

* string comparisons follow the attribute's ``caseExact`` (lower-cased on both sides when false);
* ``gt ge lt le`` order strings lexically and dateTimes chronologically; booleans only take ``eq``/``ne``;
  employment dates are ``YYYY-MM-DD`` strings on the wire and compare as dates;
* a comparison on an absent value is false, so ``ne`` and ``not (...)`` match resources without the
  attribute (the SQL is written so NULL never leaks into ``NOT``);
* ``pr`` is "has a non-empty value"; on a multi-valued attribute, "has at least one value";
* a comparison on a multi-valued attribute without a sub-attribute compares its ``value`` sub-attribute;
  ``emails[type eq "work" and value co "@x"]`` needs one *single* email to match both.

Raises :class:`~provisioning.scim.errors.InvalidFilter` for syntax errors, unknown attributes, and a
value of the wrong type for its attribute.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from scim2_models import SCIMException, ScimFilter
from scim2_models.path import (
    AttrPath,
    CompareOperator,
    Comparison,
    FilterNode,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ValuePath,
)
from sqlalchemy import ColumnElement, and_, func, not_, or_, select

from provisioning.feed import parse_date
from provisioning.scim.errors import InvalidFilter, from_library

__all__ = ["Attribute", "AttributeMap", "MultiValued", "ScimType", "compile_filter", "parse_filter"]

ScimType = Literal["string", "boolean", "dateTime", "date", "integer"]


@dataclass(frozen=True)
class Attribute:
    """A single value stored in one column (or a SQL expression over columns)."""

    # A column, an ORM attribute or any SQL expression; typed loosely because SQLAlchemy's typing has no
    # one public type covering InstrumentedAttribute and ColumnElement alike.
    column: Any
    type: ScimType = "string"
    case_exact: bool = False


@dataclass(frozen=True)
class MultiValued:
    """A multi-valued complex attribute stored as rows of another table.

    ``child`` (a column of ``table``) holds the value of ``parent`` (a column of the resource's query) that
    the row belongs to; ``where`` narrows a table shared by several attributes (emails and phone numbers in
    one contacts table). A condition on the values compiles to ``parent IN (SELECT child ... WHERE ...)``:
    an uncorrelated sub-query both databases evaluate once, instead of one probe per resource.
    """

    table: Any  # a Table, an aliased ORM class or a join
    parent: Any
    child: Any
    sub_attributes: Mapping[str, Attribute]
    where: ColumnElement[bool] | None = None

    def sub(self, name: str, *, shown: str) -> Attribute:
        found = self.sub_attributes.get(name.lower())
        if found is None:
            raise InvalidFilter(f"'{shown}' is not an attribute that can be filtered on")
        return found

    def exists(self, condition: ColumnElement[bool] | None = None) -> ColumnElement[bool]:
        query = select(self.child).select_from(self.table)
        if self.where is not None:
            query = query.where(self.where)
        if condition is not None:
            query = query.where(condition)
        # The IS NOT NULL keeps NOT (...) true for a resource without a parent value (no HPR number).
        found: ColumnElement[bool] = and_(self.parent.is_not(None), self.parent.in_(query))
        return found


@dataclass(frozen=True)
class AttributeMap:
    """Where a resource type's attributes are stored, keyed by lower-case dotted names per schema URN.

    ``attributes[urn]["name.givenname"]`` is an :class:`Attribute`; ``attributes[urn]["emails"]`` a
    :class:`MultiValued`. The first URN is the core schema: unqualified names are looked up there first,
    then in the extensions, as clients send extension attributes unqualified too.
    """

    attributes: Mapping[str, Mapping[str, Attribute | MultiValued]]
    schemas: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "schemas", tuple(self.attributes))

    def lookup(self, path: AttrPath) -> tuple[Attribute | MultiValued, str | None]:
        """The storage of ``path`` and the sub-attribute left to apply (for multi-valued attributes)."""
        shown = str(path)
        candidates = [path.uri.lower()] if path.uri else [schema.lower() for schema in self.schemas]
        by_urn = {schema.lower(): table for schema, table in self.attributes.items()}
        for urn in candidates:
            table = by_urn.get(urn)
            if table is None:
                raise InvalidFilter(f"'{path.uri}' is not a schema of this resource type")
            whole = table.get(path.attr.lower())
            if isinstance(whole, MultiValued):
                return whole, path.sub_attr
            dotted = f"{path.attr}.{path.sub_attr}".lower() if path.sub_attr else path.attr.lower()
            found = table.get(dotted)
            if found is not None:
                return found, None
        raise InvalidFilter(f"'{shown}' is not an attribute that can be filtered on")


def parse_filter(expression: str) -> FilterNode:
    """The syntax tree of a filter; :class:`InvalidFilter` naming the column of a syntax error."""
    try:
        return ScimFilter(expression).ast
    except SCIMException as exc:
        raise InvalidFilter(f"filter '{expression}' is invalid: {from_library(exc).detail}") from None


def compile_filter(expression: str, attributes: AttributeMap) -> ColumnElement[bool]:
    """Parse ``expression`` and compile it against ``attributes`` into a WHERE clause."""
    return _Compiler(attributes).node(parse_filter(expression))


class _Compiler:
    def __init__(self, attributes: AttributeMap) -> None:
        self._attributes = attributes

    def node(self, node: FilterNode, inside: MultiValued | None = None) -> ColumnElement[bool]:
        if isinstance(node, LogicalExpr):
            parts = [self.node(term, inside) for term in node.terms]
            return and_(*parts) if node.op == LogicalOperator.and_ else or_(*parts)
        if isinstance(node, Not):
            return not_(self.node(node.expr, inside))
        if isinstance(node, ValuePath):
            if inside is not None:
                raise InvalidFilter(f"'{node}': value filters cannot nest")
            target, sub = self._attributes.lookup(node.attr_path)
            if not isinstance(target, MultiValued) or sub is not None:
                raise InvalidFilter(f"'{node.attr_path}' is not a multi-valued attribute; '[...]' needs one")
            return target.exists(self.node(node.val_filter, target))
        if isinstance(node, Present):
            return self._present(node.attr_path, inside)
        if isinstance(node, Comparison):
            return self._comparison(node, inside)
        raise InvalidFilter(f"'{node}' is not a filter expression")  # pragma: no cover - grammar exhausts

    def _resolve(self, path: AttrPath, inside: MultiValued | None) -> tuple[Attribute | MultiValued, str | None]:
        if inside is None:
            return self._attributes.lookup(path)
        if path.uri or path.sub_attr:
            raise InvalidFilter(f"'{path}' inside '[...]' must name a sub-attribute")
        return inside.sub(path.attr, shown=str(path)), None

    def _present(self, path: AttrPath, inside: MultiValued | None) -> ColumnElement[bool]:
        target, sub = self._resolve(path, inside)
        if isinstance(target, MultiValued):
            if sub is None:
                return target.exists()
            return target.exists(_has_value(target.sub(sub, shown=str(path))))
        return _has_value(target)

    def _comparison(self, node: Comparison, inside: MultiValued | None) -> ColumnElement[bool]:
        target, sub = self._resolve(node.attr_path, inside)
        if isinstance(target, MultiValued):
            attribute = target.sub(sub or "value", shown=str(node.attr_path))
            if node.op == CompareOperator.ne:
                return not_(target.exists(_compare(attribute, CompareOperator.eq, node.value, str(node))))
            return target.exists(_compare(attribute, node.op, node.value, str(node)))
        return _compare(target, node.op, node.value, str(node))


def _has_value(attribute: Attribute) -> ColumnElement[bool]:
    column = attribute.column
    present: ColumnElement[bool] = column.is_not(None)
    return and_(present, column != "") if attribute.type == "string" else present


def _operand(attribute: Attribute, value: Any, shown: str) -> Any:
    if attribute.type == "string":
        if not isinstance(value, str):
            raise InvalidFilter(f"'{shown}': expected a string value")
        return value if attribute.case_exact else value.lower()
    if attribute.type == "boolean":
        if not isinstance(value, bool):
            raise InvalidFilter(f"'{shown}': expected true or false")
        return value
    if attribute.type == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidFilter(f"'{shown}': expected an integer")
        return value
    if attribute.type == "date":
        day = parse_date(value) if isinstance(value, str) else None
        if day is None:
            raise InvalidFilter(f"'{shown}': expected a date string such as \"2024-01-31\"")
        return day
    if not isinstance(value, str):
        raise InvalidFilter(f"'{shown}': expected a dateTime string such as \"2011-05-13T04:42:34Z\"")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidFilter(f"'{shown}': '{value}' is not an xsd:dateTime") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _compare(attribute: Attribute, op: CompareOperator, value: Any, shown: str) -> ColumnElement[bool]:
    if value is None:
        # RFC 7644 §3.4.2.2 has no null comparison; "eq null" reads as "has no value", like PATCH's null.
        if op not in (CompareOperator.eq, CompareOperator.ne):
            raise InvalidFilter(f"'{shown}': null can only be compared with eq or ne")
        present = _has_value(attribute)
        return not_(present) if op == CompareOperator.eq else present
    operand = _operand(attribute, value, shown)
    column = attribute.column
    if attribute.type == "string" and not attribute.case_exact:
        column = func.lower(column)
    if attribute.type == "boolean" and op not in (CompareOperator.eq, CompareOperator.ne):
        raise InvalidFilter(f"'{shown}': booleans can only be compared with eq or ne")
    if attribute.type != "string" and op in (CompareOperator.co, CompareOperator.sw, CompareOperator.ew):
        raise InvalidFilter(f"'{shown}': '{op.value}' applies to strings only")
    if op == CompareOperator.ne:
        return or_(attribute.column.is_(None), column != operand)
    compared: ColumnElement[bool]
    if op == CompareOperator.co:
        compared = column.contains(operand, autoescape=True)
    elif op == CompareOperator.sw:
        compared = column.startswith(operand, autoescape=True)
    elif op == CompareOperator.ew:
        compared = column.endswith(operand, autoescape=True)
    else:
        compared = _ORDERING[op](column, operand)
    return and_(attribute.column.is_not(None), compared)


_ORDERING = {
    CompareOperator.eq: operator.eq,
    CompareOperator.gt: operator.gt,
    CompareOperator.ge: operator.ge,
    CompareOperator.lt: operator.lt,
    CompareOperator.le: operator.le,
}
