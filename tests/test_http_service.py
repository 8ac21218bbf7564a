"""The HTTP service's common behaviour: health, readiness, metrics, request ids, one error shape."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_healthz_answers_without_a_token(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_reports_the_database(client: TestClient, database_url: str) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": database_url.split(":")[0].split("+")[0]}


def test_metrics_are_prometheus_text(client: TestClient) -> None:
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'iam_http_requests_total{method="GET",route="/healthz",status="200"}' in response.text


def test_every_response_carries_a_request_id(client: TestClient) -> None:
    generated = client.get("/healthz").headers["x-request-id"]
    assert len(generated) == 32
    assert client.get("/healthz").headers["x-request-id"] != generated
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"


def test_unsafe_request_id_is_replaced_not_echoed(client: TestClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert response.headers["x-request-id"] != "bad id\twith spaces"


def test_unknown_route_uses_the_common_error_shape(client: TestClient) -> None:
    response = client.get("/no/such/thing", headers={"X-Request-ID": "r1"})
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "error_description": "Not Found", "request_id": "r1"}


def test_invalid_json_body_is_422_with_the_field_named(client: TestClient, access_token: object) -> None:
    token = access_token("admin")  # type: ignore[operator]
    response = client.post("/admin/v1/clients", json={"name": "", "extra": 1},
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"
    assert "body.name: String should have at least 1 character" in response.json()["error_description"]
    assert "body.extra: Extra inputs are not permitted" in response.json()["error_description"]


def test_openapi_and_docs_are_served(client: TestClient) -> None:
    assert client.get("/openapi.json").json()["info"]["title"] == "IAM for shared patient records"
    assert client.get("/docs").status_code == 200


def test_admin_api_registers_a_client_that_can_get_tokens(client: TestClient, access_token: object) -> None:
    token = access_token("admin")  # type: ignore[operator]
    created = client.post("/admin/v1/clients", json={"name": "journal", "scopes": ["authz"]},
                          headers={"Authorization": f"Bearer {token}"})
    assert created.status_code == 201
    body = created.json()
    issued = client.post("/oauth2/token", data={"grant_type": "client_credentials"},
                         auth=(body["client_id"], body["client_secret"]))
    assert issued.json()["scope"] == "authz"


def test_admin_api_refuses_an_unknown_scope(client: TestClient, access_token: object) -> None:
    token = access_token("admin")  # type: ignore[operator]
    response = client.post("/admin/v1/clients", json={"name": "journal", "scopes": ["authz", "root"]},
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_metadata"
    assert response.json()["error_description"] == "scope 'root' is not a known scope (see 'iam client scopes')"


def test_hot_routes_share_the_error_shape_and_refuse_oversized_bodies(client: TestClient) -> None:
    too_big = b'{"subject": "' + b"x" * (1 << 20) + b'"}'
    response = client.post("/access/v1/evaluation", content=too_big, headers={"X-Request-ID": "big-1"})
    assert response.status_code == 413
    assert response.json() == {"error": "invalid_request", "request_id": "big-1",
                               "error_description": f"the request body is larger than {1 << 20} bytes"}
    assert response.headers["x-request-id"] == "big-1"
    # Other methods on a hot path reach the framework, which knows only POST there.
    assert client.get("/access/v1/evaluation").status_code == 405
    metrics = client.get("/metrics").text
    assert 'iam_http_requests_total{method="POST",route="/access/v1/evaluation",status="413"}' in metrics
