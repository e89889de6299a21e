"""The layers keep to their jobs: SQL and dialects only in ``store/``, numbers in
``analysis/`` without HTTP, and the dashboard written against ``web/`` without the server."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import botmon

SRC = Path(botmon.__file__).parent
OUTSIDE_STORE = ("server", "analysis", "dashboard", "cli")
SQL = re.compile(
    r"\bSELECT\b.+\bFROM\b|\bINSERT\s+INTO\b|\bUPDATE\s+\w+\s+SET\b|\bDELETE\s+FROM\b"
    r"|\bGROUP\s+BY\b|\bcount\(DISTINCT",
    re.IGNORECASE,
)
DIALECT = re.compile(r"""backend\s*[!=]=|[!=]=\s*["'](duckdb|postgresql)["']""")


def _modules(*packages: str) -> list[Path]:
    return sorted(p for package in packages for p in (SRC / package).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_no_sql_and_no_raw_query_outside_the_store() -> None:
    found = []
    for path in _modules(*OUTSIDE_STORE):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if SQL.search(line) or ".query(" in line:
                found.append(f"{path.relative_to(SRC)}:{n}: {line.strip()}")
    assert found == []


def test_no_dialect_branches_in_analysis_or_server() -> None:
    found = []
    for path in _modules("analysis", "server"):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if DIALECT.search(line):
                found.append(f"{path.relative_to(SRC)}:{n}: {line.strip()}")
    assert found == [], "only store/ branches on the backend"


def test_the_dashboard_does_not_import_the_server() -> None:
    """The server composes the dashboard's routes; the dashboard needs only botmon.web."""
    for path in _modules("dashboard"):
        assert not [m for m in _imports(path) if m.startswith("botmon.server")], path


def test_analysis_holds_no_http() -> None:
    for path in _modules("analysis"):
        bad = [
            m
            for m in _imports(path)
            if m.startswith(("starlette", "botmon.server", "botmon.dashboard", "botmon.web"))
        ]
        assert bad == [], path
