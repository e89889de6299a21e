"""Every route the app serves is in /openapi.json, and every core route is described by hand."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import Mount, Route

from botmon.server import admin, ingest, queries
from botmon.server.app import create_app
from botmon.server.schemas import SCHEMA_TYPES
from botmon.server.state import ServerState
from botmon.settings import ServerSettings
from botmon.store import open_store
from botmon.web.openapi import build_document


def test_every_route_is_documented(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "doc.duckdb"))
    try:
        store.migrate()
        state = ServerState(store=store, settings=ServerSettings())
        app = create_app(state)
        doc = build_document(app.routes, SCHEMA_TYPES)
        for route in app.routes:
            if isinstance(route, Route):
                for method in (route.methods or set()) - {"HEAD"}:
                    assert method.lower() in doc["paths"][route.path], (route.path, method)
            elif isinstance(route, Mount):
                assert any(p.startswith(route.path) for p in doc["paths"]), route.path
        for module in (ingest, admin, queries):
            for route in module.routes(state):
                assert getattr(route, "openapi", None), f"{route} has no hand-written description"
        for path, operations in doc["paths"].items():
            for method, op in operations.items():
                assert op.get("summary"), (path, method)
                assert op.get("responses"), (path, method)
        refs = {r.split("/")[-1] for r in _refs(doc["paths"])}
        assert refs <= doc["components"]["schemas"].keys()
    finally:
        state.shutdown()
        store.close()


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        out = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        for value in node.values():
            out.extend(_refs(value))
        return out
    if isinstance(node, list):
        return [r for item in node for r in _refs(item)]
    return []
