"""Listing Users: the full filter grammar (RFC 7644 §3.4.2.2), sorting, paging, projection and /.search."""

from __future__ import annotations

from typing import Any

import pytest

from tests.scim.conftest import ERROR, HEALTH, USER, Scim, fixture, pick, user_body


@pytest.fixture
def people(scim: Scim, staff: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Three Users: anna (work + home email), bjorn (work email), carl (no email, a leaver)."""
    bodies = {
        "anna": user_body(pick(staff, "nurse", index=0), user_name="anna", displayName="Smith, Anna",
                          emails=[{"value": "anna@hospital.example", "type": "work", "primary": True},
                                  {"value": "anna@home.example", "type": "home"}]),
        "bjorn": user_body(pick(staff, "nurse", index=1), user_name="bjorn", displayName="Bjørn Smithson",
                           emails=[{"value": "bjorn@clinic.example", "type": "work"}]),
        "carl": user_body(pick(staff, "nurse", index=2), user_name="carl", displayName="Carl Olsen", active=False),
    }
    return {name: scim.post("/Users", body).json() for name, body in bodies.items()}


def _names(scim: Scim, query: str) -> list[str]:
    response = scim.get(f"/Users?{query}")
    assert response.status_code == 200, response.text
    return [user["userName"] for user in response.json()["Resources"]]


FILTERS: dict[str, list[str]] = {
    'userName eq "ANNA"': ["anna"],
    'userName ne "anna"': ["bjorn", "carl"],
    'displayName co "smith"': ["anna", "bjorn"],
    'userName sw "b"': ["bjorn"],
    'displayName ew "OLSEN"': ["carl"],
    "emails pr": ["anna", "bjorn"],
    'emails[type eq "work" and value co "hospital"]': ["anna"],
    'emails[type eq "home"] or userName eq "carl"': ["anna", "carl"],
    'emails.value ew ".example" and not (userName eq "anna")': ["bjorn"],
    "not (emails pr)": ["carl"],
    "active eq false": ["carl"],
    '(userName eq "anna" or userName eq "bjorn") and emails[primary eq true]': ["anna"],
    'meta.created gt "2000-01-01T00:00:00Z" and meta.created le "2999-01-01T00:00:00Z"': ["anna", "bjorn", "carl"],
    'meta.lastModified lt "2000-01-01T00:00:00Z"': [],
    f'{HEALTH}:employments[positionCode eq "nurse" and startDate ge "1900-01-01"]': ["anna", "bjorn"],
    'userName eq "x\\" or userName pr"': [],
}


def test_every_operator_of_the_filter_grammar(scim: Scim, people: dict[str, Any]) -> None:
    found = {expression: _names(scim, f"filter={expression}&sortBy=userName") for expression in FILTERS}
    assert found == FILTERS


def test_bad_filters_are_invalid_filter(scim: Scim) -> None:
    answers = {expression: scim.get("/Users", params={"filter": expression}).json() for expression in (
        "userName eq", 'nickName eq "x"', 'emails[type eq "work"', "active gt true")}
    assert {expression: (body["schemas"], body["status"], body["scimType"]) for expression, body in answers.items()} \
        == {expression: ([ERROR], "400", "invalidFilter") for expression in answers}
    assert answers['nickName eq "x"']["detail"] == "search: Field not found: nickName"


def test_sorting_paging_and_projection(scim: Scim, people: dict[str, Any]) -> None:
    assert _names(scim, "sortBy=displayName&sortOrder=descending") == ["anna", "carl", "bjorn"]
    page = scim.get("/Users?sortBy=userName&startIndex=2&count=1").json()
    assert (page["totalResults"], page["startIndex"], page["itemsPerPage"]) == (3, 2, 1)
    assert [user["userName"] for user in page["Resources"]] == ["bjorn"]
    assert scim.get("/Users?count=0").json()["Resources"] == []
    projected = scim.get('/Users?filter=userName eq "anna"&attributes=userName,emails.value').json()["Resources"]
    assert projected == [{"schemas": [USER], "id": people["anna"]["id"], "userName": "anna",
                          "emails": [{"value": "anna@hospital.example"}, {"value": "anna@home.example"}]}]
    excluded = scim.get(f"/Users/{people['anna']['id']}?excludedAttributes=emails,{HEALTH}").json()
    assert "emails" not in excluded
    assert HEALTH not in excluded
    assert excluded["userName"] == "anna"


def test_rfc7644_3_4_3_search_request(scim: Scim, people: dict[str, Any]) -> None:
    response = scim.post("/Users/.search", fixture("rfc7644-3.4.3-search-request.json"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["totalResults"], body["startIndex"], body["itemsPerPage"]) == (1, 1, 1)
    assert body["Resources"] == [{"schemas": [USER], "id": people["anna"]["id"],
                                  "userName": "anna", "displayName": "Smith, Anna"}]
