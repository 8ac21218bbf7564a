"""Bulk (RFC 7644 §3.7), discovery (§4) and the SCIM error format for authentication failures."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from provisioning.scim.routes import LIMITS
from tests.scim.conftest import ENTERPRISE, ERROR, HEALTH, USER, Scim, fixture, pick, user_body

BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


def test_rfc7644_3_7_2_bulk_id_reference_creates_user_and_group(scim: Scim, staff: list[dict[str, Any]]) -> None:
    request = fixture("rfc7644-3.7.2-bulk-bulkid-reference.json")
    alice = request["Operations"][0]["data"]
    alice["schemas"].append(HEALTH)
    alice["name"] = {"givenName": "Alice", "familyName": "Liddell"}
    alice[HEALTH] = user_body(pick(staff, "nurse"))[HEALTH]
    # The group comes first: it must wait for the user its member references (§3.7.2).
    request["Operations"].reverse()
    response = scim.post("/Bulk", request)
    assert response.status_code == 200, response.text
    results = response.json()["Operations"]
    assert [(r["method"], r["bulkId"], r["status"]) for r in results] == [("POST", "qwerty", "201"),
                                                                           ("POST", "ytrewq", "201")]
    user_id = results[0]["location"].rsplit("/", 1)[1]
    group = scim.get(results[1]["location"].removeprefix("http://testserver/scim/v2")).json()
    assert [m["value"] for m in group["members"]] == [user_id]


def test_fail_on_errors_stops_and_unknown_bulk_ids_fail(scim: Scim, staff: list[dict[str, Any]]) -> None:
    bad = {"schemas": [USER], "userName": "nobody"}
    response = scim.post("/Bulk", {"schemas": [BULK], "failOnErrors": 1, "Operations": [
        {"method": "POST", "path": "/Users", "bulkId": "a", "data": bad},
        {"method": "POST", "path": "/Users", "bulkId": "b", "data": user_body(pick(staff, "nurse"))},
    ]})
    assert response.status_code == 200
    assert [(r["bulkId"], r["status"]) for r in response.json()["Operations"]] == [("a", "400")]
    dangling = scim.post("/Bulk", {"schemas": [BULK], "Operations": [
        {"method": "PATCH", "path": "/Users/bulkId:ghost", "data": {"schemas": [
            "urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "remove", "path": "emails"}]}}]})
    assert dangling.json()["Operations"] == [{"method": "PATCH", "status": "409", "response": {
        "schemas": [ERROR], "status": "409", "scimType": "invalidValue",
        "detail": "bulkId 'ghost' is not created by any POST in this request, or the references form a circle"}}]


def test_bulk_limits_are_enforced_with_413(scim: Scim) -> None:
    operation = {"method": "DELETE", "path": "/Users/x"}
    too_many = scim.post("/Bulk", {"schemas": [BULK], "Operations": [operation] * (LIMITS.max_operations + 1)})
    assert too_many.status_code == 413
    assert too_many.json()["detail"] == (f"the Bulk request has {LIMITS.max_operations + 1} operations; "
                                         f"maxOperations is {LIMITS.max_operations}")
    huge = {"schemas": [BULK], "Operations": [{"method": "POST", "path": "/Groups", "bulkId": "g",
                                               "data": {"displayName": "x" * LIMITS.max_payload_size}}]}
    too_big = scim.post("/Bulk", huge)
    assert too_big.status_code == 413
    assert too_big.json()["schemas"] == [ERROR]


def test_discovery_tells_the_truth(client: TestClient) -> None:
    config = client.get("/scim/v2/ServiceProviderConfig").json()
    assert config["bulk"] == {"supported": True, "maxOperations": LIMITS.max_operations,
                              "maxPayloadSize": LIMITS.max_payload_size}
    assert (config["patch"], config["sort"], config["etag"], config["changePassword"]) == (
        {"supported": True}, {"supported": True}, {"supported": True}, {"supported": False})
    types = client.get("/scim/v2/ResourceTypes").json()["Resources"]
    assert [(t["name"], t["endpoint"], t.get("schemaExtensions", [])) for t in types] == [
        ("User", "/Users", [{"schema": ENTERPRISE, "required": False}, {"schema": HEALTH, "required": True}]),
        ("Group", "/Groups", [])]
    schemas = {s["id"]: s for s in client.get("/scim/v2/Schemas").json()["Resources"]}
    user_attributes = [a["name"] for a in schemas[USER]["attributes"]]
    assert user_attributes == ["userName", "name", "displayName", "active", "emails", "phoneNumbers", "groups"]
    health = {a["name"]: a["mutability"] for a in schemas[HEALTH]["attributes"]}
    assert health == {"nationalIdentityNumber": "readWrite", "hprNumber": "readWrite", "employments": "readWrite",
                      "authorisations": "readOnly", "roles": "readOnly"}
    assert client.get(f"/scim/v2/Schemas/{HEALTH}").json()["id"] == HEALTH


def test_auth_failures_and_unknown_paths_use_the_scim_error_format(client: TestClient,
                                                                   access_token: Any) -> None:
    missing = client.get("/scim/v2/Users")
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/scim+json"
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert missing.json()["schemas"] == [ERROR]
    wrong = client.get("/scim/v2/Users", headers={"Authorization": f"Bearer {access_token('admin')}"})
    assert (wrong.status_code, wrong.json()["status"]) == (403, "403")
    token = access_token("scim")
    nowhere = client.get("/scim/v2/Nowhere", headers={"Authorization": f"Bearer {token}"})
    assert nowhere.json() == {"schemas": [ERROR], "status": "404",
                              "detail": "'/scim/v2/Nowhere' is not a SCIM endpoint of this service"}
    broken = client.post("/scim/v2/Users", content=b"{not json", headers={"Authorization": f"Bearer {token}"})
    assert (broken.status_code, broken.json()["scimType"]) == (400, "invalidSyntax")
    assert json.loads(broken.content)["detail"].startswith("the body is not JSON")
