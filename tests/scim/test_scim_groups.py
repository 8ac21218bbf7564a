"""SCIM Groups with the RFC 7644 §3.5.2 PATCH examples as fixtures, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from tests.scim.conftest import ERROR, GROUP, Scim, fixture, pick, user_body

BABS = "2819c223-7f76-453a-919d-413861904646"
JAMES = "08e1d05d-121c-4561-8b96-473d93df9210"


def _two_users(scim: Scim, staff: list[dict[str, Any]]) -> dict[str, str]:
    babs = scim.post("/Users", user_body(pick(staff, "nurse", index=0), user_name="babs")).json()["id"]
    james = scim.post("/Users", user_body(pick(staff, "nurse", index=1), user_name="james")).json()["id"]
    return {BABS: babs, JAMES: james}


def _members(scim: Scim, group_id: str) -> list[str]:
    return sorted(member["value"] for member in scim.get(f"/Groups/{group_id}").json().get("members", []))


def test_rfc7644_patch_examples_add_remove_and_replace_members(scim: Scim, staff: list[dict[str, Any]]) -> None:
    ids = _two_users(scim, staff)
    created = scim.post("/Groups", {"schemas": [GROUP], "displayName": "Tour Guides"})
    assert created.status_code == 201, created.text
    group = created.json()["id"]

    added = scim.patch(f"/Groups/{group}", fixture("rfc7644-3.5.2.1-patch-add-members.json", ids))
    assert added.status_code == 200, added.text
    assert added.json()["members"] == [{"value": ids[BABS], "$ref": f"http://testserver/scim/v2/Users/{ids[BABS]}",
                                        "display": " ".join(pick(staff, "nurse")[k] for k in
                                                            ("given_name", "family_name")), "type": "User"}]
    swapped = scim.patch(f"/Groups/{group}", fixture("rfc7644-3.5.2.2-patch-remove-and-add-one-member.json", ids))
    assert swapped.status_code == 200, swapped.text
    assert _members(scim, group) == [ids[JAMES]]
    replaced = scim.patch(f"/Groups/{group}", fixture("rfc7644-3.5.2.3-patch-replace-all-members.json", ids))
    assert replaced.status_code == 200, replaced.text
    assert _members(scim, group) == sorted(ids.values())
    removed = scim.patch(f"/Groups/{group}", fixture("rfc7644-3.5.2.2-patch-remove-one-member.json", ids))
    assert removed.status_code == 200, removed.text
    assert _members(scim, group) == [ids[JAMES]]
    assert scim.get(f"/Users/{ids[JAMES]}").json()["groups"] == [
        {"value": group, "$ref": f"http://testserver/scim/v2/Groups/{group}", "display": "Tour Guides",
         "type": "direct"}]


def test_group_display_name_is_unique_case_insensitively(scim: Scim) -> None:
    assert scim.post("/Groups", {"schemas": [GROUP], "displayName": "Nattevakt"}).status_code == 201
    clash = scim.post("/Groups", {"schemas": [GROUP], "displayName": "NATTEVAKT"})
    assert clash.status_code == 409
    assert clash.json()["scimType"] == "uniqueness"
    assert clash.json()["schemas"] == [ERROR]


def test_a_member_that_is_not_a_user_is_invalid_value(scim: Scim) -> None:
    response = scim.post("/Groups", {"schemas": [GROUP], "displayName": "Ghosts",
                                     "members": [{"value": "no-such-user"}]})
    assert response.status_code == 400
    assert response.json() == {"schemas": [ERROR], "status": "400", "scimType": "invalidValue",
                               "detail": "member 'no-such-user' is not a User"}


def test_deleted_group_is_404_and_a_patch_on_it_too(scim: Scim) -> None:
    group = scim.post("/Groups", {"schemas": [GROUP], "displayName": "Temporary"}).json()["id"]
    assert scim.delete(f"/Groups/{group}").status_code == 204
    assert scim.get(f"/Groups/{group}").status_code == 404
    missing = scim.patch(f"/Groups/{group}", fixture("rfc7644-3.5.2.2-patch-remove-one-member.json"))
    assert missing.status_code == 404
    assert missing.json()["detail"] == f"Group '{group}' does not exist"
