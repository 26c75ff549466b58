"""The OpenAPI document is generated from the route table and types."""

from __future__ import annotations

import httpx

from selfdrive.http.routes import API, API_PREFIX
from tests.conftest import Server


def test_openapi_describes_every_route(server: Server) -> None:
    spec = httpx.get(server.base_url + "/api/v1/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    for e in API:
        path = API_PREFIX + e.path.replace(":int}", "}")
        assert (e.method, path) in documented
    commit = spec["paths"]["/api/v1/files/commit"]["post"]
    schema_ref = commit["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    name = schema_ref.rsplit("/", 1)[1]
    props = spec["components"]["schemas"][name]["properties"]
    assert {"path", "blocks", "size", "base_rev", "mtime"} <= set(props)
    delete = spec["components"]["schemas"]["DeleteRequest"]["properties"]
    assert {"path", "base_rev", "base_cursor"} <= set(delete)
    upload = spec["paths"]["/api/v1/files/content"]["put"]
    assert {p["name"] for p in upload["parameters"]} >= {"path", "base_rev"}
    assert "/healthz" in spec["paths"]
    assert "security" not in spec["paths"]["/healthz"]["get"]
    size = spec["paths"]["/api/v1/files/folder_size"]["get"]
    assert [p["name"] for p in size["parameters"]] == ["path"]
    out = size["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert set(spec["components"]["schemas"][out.rsplit("/", 1)[1]]["properties"]) == {
        "path", "size", "files", "folders"}
