"""SCIM Users (RFC 7644 §3.3-§3.6) through the provisioning engine, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from tests.scim.conftest import ENTERPRISE, ERROR, HEALTH, PATCH, USER, Scim, fixture, pick, user_body


def test_create_returns_201_location_etag_and_birthright_roles(scim: Scim, staff: list[dict[str, Any]]) -> None:
    nurse = pick(staff, "nurse")
    response = scim.post("/Users", user_body(nurse))
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["location"] == f"http://testserver/scim/v2/Users/{created['id']}"
    assert response.headers["etag"] == created["meta"]["version"]
    assert response.headers["content-type"] == "application/scim+json"
    assert created["active"] is True
    assert created[HEALTH]["roles"] == [{"value": "nurse", "scope": nurse["employments"][0]["department"]}]


def _error(response: Any) -> tuple[int, str | None, str]:
    body = response.json()
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(response.status_code)
    return response.status_code, body.get("scimType"), body["detail"]


def test_rfc7644_3_3_create_user_with_our_extension_then_get(scim: Scim, staff: list[dict[str, Any]]) -> None:
    nurse = pick(staff, "nurse")
    body = fixture("rfc7644-3.3-create-user.json")
    body["schemas"].append(HEALTH)
    body[HEALTH] = user_body(nurse)[HEALTH]
    created = scim.post("/Users", body)
    assert created.status_code == 201, created.text
    fetched = scim.get(f"/Users/{created.json()['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == created.json()
    assert (fetched.json()["userName"], fetched.json()["externalId"], fetched.json()["name"]) == (
        "bjensen", "bjensen", {"formatted": "Ms. Barbara J Jensen III", "familyName": "Jensen",
                               "givenName": "Barbara"})


def test_duplicates_are_409_uniqueness(scim: Scim, staff: list[dict[str, Any]]) -> None:
    first, second = pick(staff, "nurse", index=0), pick(staff, "nurse", index=1)
    assert scim.post("/Users", user_body(first, user_name="kari")).status_code == 201
    assert _error(scim.post("/Users", user_body(second, user_name="KARI"))) == (
        409, "uniqueness", "userName 'KARI' already belongs to User '" +
        scim.get('/Users?filter=userName eq "kari"').json()["Resources"][0]["id"] + "'")
    again = _error(scim.post("/Users", user_body(first, user_name="kari2")))
    assert again[:2] == (409, "uniqueness")
    assert again[2].startswith("nationalIdentityNumber '")


def test_unknown_attributes_and_missing_extension_are_refused(scim: Scim, staff: list[dict[str, Any]]) -> None:
    nurse = pick(staff, "nurse")
    assert _error(scim.post("/Users", {**user_body(nurse), "nickName": "Babs"})) == (
        400, "invalidSyntax", "User: attribute 'nickName' is not defined by the resource's schemas")
    bare = user_body(nurse)
    del bare[HEALTH]
    bare["schemas"] = [USER]
    assert _error(scim.post("/Users", bare)) == (
        400, "invalidValue", f"User: Field '{HEALTH}' is required but value is missing, null or empty")


def test_engine_problems_are_invalid_value_naming_the_attribute(scim: Scim, staff: list[dict[str, Any]]) -> None:
    body = user_body(pick(staff, "nurse"))
    body[HEALTH]["employments"][0]["positionCode"] = "wizard"
    assert _error(scim.post("/Users", body)) == (
        400, "invalidValue",
        f"{HEALTH}:employments[0].positionCode: position code 'wizard' is not in the role rules")


def test_put_moves_the_person_and_if_match_guards_it(scim: Scim, staff: list[dict[str, Any]]) -> None:
    nurse, colleague = pick(staff, "nurse", index=0), pick(staff, "nurse", index=1)
    created = scim.post("/Users", user_body(nurse)).json()
    moved = user_body(nurse)
    moved[HEALTH]["employments"] = user_body(colleague)[HEALTH]["employments"]
    stale = scim.put(f"/Users/{created['id']}", moved, headers={"If-Match": 'W/"0000000000000000"'})
    assert _error(stale) == (412, None, f"User '{created['id']}' is at version {created['meta']['version']}, "
                                        'not W/"0000000000000000" (If-Match)')
    replaced = scim.put(f"/Users/{created['id']}", moved, headers={"If-Match": created["meta"]["version"]})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["meta"]["version"] != created["meta"]["version"]
    roles = replaced.json()[HEALTH]["roles"]
    # A mover gets the new unit's role at once and keeps the old one for the nurse grace period (P3D).
    assert len(roles) == 2
    assert created[HEALTH]["roles"][0] in roles


def test_patch_applies_paths_and_value_filters(scim: Scim, staff: list[dict[str, Any]]) -> None:
    user = scim.post("/Users", user_body(pick(staff, "nurse"), emails=[
        {"value": "kari@work.example", "type": "work"}, {"value": "kari@home.example", "type": "home"}])).json()
    patched = scim.patch(f"/Users/{user['id']}", {"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "kari@hospital.example"},
        {"op": "remove", "path": 'emails[type eq "home"]'},
        {"op": "add", "path": "displayName", "value": "Kari N."},
        {"op": "replace", "path": f"{ENTERPRISE}:manager", "value": {"value": user["id"]}},
    ]})
    assert _error(patched) == (400, "invalidValue", f"manager '{user['id']}' is not another User")
    unchanged = scim.get(f"/Users/{user['id']}").json()
    assert unchanged == user  # all or nothing
    patched = scim.patch(f"/Users/{user['id']}", {"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "kari@hospital.example"},
        {"op": "remove", "path": 'emails[type eq "home"]'},
        {"op": "add", "path": "displayName", "value": "Kari N."},
    ]})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["emails"], patched.json()["displayName"]) == (
        [{"value": "kari@hospital.example", "type": "work"}], "Kari N.")


def test_patch_errors_carry_their_scim_type(scim: Scim, staff: list[dict[str, Any]]) -> None:
    user = scim.post("/Users", user_body(pick(staff, "nurse"))).json()

    def patch(operation: dict[str, Any]) -> tuple[int, str | None]:
        return _error(scim.patch(f"/Users/{user['id']}", {"schemas": [PATCH], "Operations": [operation]}))[:2]

    assert patch({"op": "replace", "path": 'emails[type eq "work"].value', "value": "x@y.no"}) == (400, "noTarget")
    assert patch({"op": "replace", "path": "emails[type eq", "value": "x"}) == (400, "invalidPath")
    assert patch({"op": "replace", "path": "nickName", "value": "x"}) == (400, "invalidPath")
    assert patch({"op": "add", "path": f"{HEALTH}:roles", "value": [{"value": "physician"}]}) == (400, "mutability")
    assert patch({"op": "replace", "path": "active", "value": "maybe"}) == (400, "invalidValue")


def test_delete_is_the_leaver_path_and_404_afterwards(scim: Scim, staff: list[dict[str, Any]]) -> None:
    nurse = pick(staff, "nurse")
    user = scim.post("/Users", user_body(nurse)).json()
    assert user[HEALTH]["roles"]
    assert scim.delete(f"/Users/{user['id']}").status_code == 204
    assert _error(scim.get(f"/Users/{user['id']}")) == (404, None, f"User '{user['id']}' does not exist")
    assert scim.delete(f"/Users/{user['id']}").status_code == 404
    again = scim.post("/Users", user_body(nurse)).json()  # a rehire reuses the person
    assert again["id"] != user["id"]
    assert again[HEALTH]["roles"] == user[HEALTH]["roles"]


def test_active_false_makes_a_leaver_and_revokes_roles(scim: Scim, staff: list[dict[str, Any]]) -> None:
    user = scim.post("/Users", user_body(pick(staff, "nurse"))).json()
    patched = scim.patch(f"/Users/{user['id']}", {"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "active", "value": False}]})
    assert patched.status_code == 200, patched.text
    assert patched.json()["active"] is False
    assert "roles" not in patched.json()[HEALTH]
    assert patched.json()[HEALTH]["employments"] == []


def test_if_none_match_gives_304(scim: Scim, staff: list[dict[str, Any]]) -> None:
    user = scim.post("/Users", user_body(pick(staff, "nurse"))).json()
    response = scim.get(f"/Users/{user['id']}", headers={"If-None-Match": user["meta"]["version"]})
    assert response.status_code == 304
