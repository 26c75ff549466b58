"""The OpenAPI 3.1 document, generated from the route table and msgspec types."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from selfdrive import __version__
from selfdrive.http.browser import COOKIE, CSRF_HEADER
from selfdrive.http.endpoint import Endpoint
from selfdrive.http.errors import STATUS
from selfdrive.http.schemas import ErrorBody


def _ref_template() -> str:
    return "#/components/schemas/{name}"


def build(api: list[Endpoint], root: list[Endpoint], prefix: str) -> dict[str, Any]:
    rows = [(prefix, e) for e in api] + [("", e) for e in root]
    types: list[Any] = [ErrorBody]
    for _, e in rows:
        types += [t for t in (e.body, e.response) if t is not None]
    schemas, components = msgspec.json.schema_components(types, ref_template=_ref_template())
    by_type = dict(zip(types, schemas, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    error = {"content": {"application/json": {"schema": by_type[ErrorBody]}}}
    for base, e in rows:
        op: dict[str, Any] = {"summary": e.summary, "operationId": _op_id(e)}
        if e.admin:
            op["description"] = "Administrators only: anyone else gets 403 `forbidden`."
        params = _path_params(e.path)
        if e.query is not None:
            params += _query_params(e.query)
        if params:
            op["parameters"] = params
        if e.body is not None:
            op["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": by_type[e.body]}}}
        elif e.raw_body:
            op["requestBody"] = {"required": True, "content": {
                e.raw_body: {"schema": {"type": "string", "format": "binary"}}}}
        ok: dict[str, Any] = {"description": "success"}
        if e.response is not None:
            ok["content"] = {"application/json": {"schema": by_type[e.response]}}
        elif e.raw_response:
            ok["content"] = {e.raw_response: {"schema": {"type": "string", "format": "binary"}}}
        op["responses"] = {str(e.status): ok, "default": {"description": "error", **error}}
        if not e.public:
            op["security"] = [{"bearer": []}, {"session": []}]
        paths.setdefault(base + re.sub(r":\w+}", "}", e.path), {})[e.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "selfdrive",
            "version": __version__,
            "description": "Error statuses by code: " + ", ".join(
                f"{cls.code}={status}" for cls, status in STATUS.items()),
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": COOKIE, "description":
                            f"a browser's session (POST /auth/login); unsafe methods also"
                            f" need {CSRF_HEADER} (docs/api.md, Web sessions)"},
            },
        },
    }


def _op_id(e: Endpoint) -> str:
    return e.method.lower() + re.sub(r"\W+", "_", re.sub(r":\w+}", "}", e.path)).rstrip("_")


def _path_params(path: str) -> list[dict[str, Any]]:
    out = []
    for name, conv in re.findall(r"{(\w+)(?::(\w+))?}", path):
        out.append({"name": name, "in": "path", "required": True,
                    "schema": {"type": "integer" if conv == "int" else "string"}})
    return out


def _query_params(kind: type) -> list[dict[str, Any]]:
    schema = msgspec.json.schema(kind)
    target = schema
    if "$ref" in schema:
        target = schema["$defs"][schema["$ref"].rsplit("/", 1)[1]]
    required = set(target.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in target["properties"].items()
    ]
