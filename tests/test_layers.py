"""Each part of ``src`` imports only what the README's map of the code says it may."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"

#: What each part may import of ours (besides itself), as README.md's "The code" says.
ALLOWED = {
    "src.config": set(),
    "src.exceptions": set(),
    "src.endpoints": set(),
    "src.models": set(),
    "src.database": {"src.models"},
    "src.services": {"src.database", "src.models", "src.exceptions"},
    "src.auth": {"src.database", "src.models", "src.exceptions", "src.endpoints"},
    "src.schemas": {"src.fields", "src.models", "src.services"},
    "src.fields": set(),
    "src.error_handling": {"src.exceptions", "src.endpoints", "src.ratelimit", "src.database"},
    "src.health": {"src.config", "src.database"},
    "src.ratelimit": set(),
    "src.observability": {"src.auth", "src.database"},
    "src.api": {
        "src.services", "src.schemas", "src.fields", "src.auth", "src.database",
        "src.error_handling", "src.health", "src.endpoints",
    },
    "src.seed": {"src.database", "src.models", "src.services"},
    "src.cli": {
        "src.auth", "src.database", "src.exceptions", "src.health", "src.models", "src.seed",
        "src.services",
    },
}  # fmt: skip


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The modules of ours that a file imports (``from src import x`` names ``src.x``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("src"):
            if node.module == "src":
                found |= {f"src.{alias.name}" for alias in node.names}
            else:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("src")}
    return found


def part_of(module: str) -> str | None:
    """The part of the map a module belongs to (``src.services.events`` → ``src.services``)."""
    return next((part for part in ALLOWED if module == part or module.startswith(part + ".")), None)


@pytest.mark.parametrize(
    "path", sorted(p for p in SRC.rglob("*.py") if module_name(p) != "src"), ids=module_name
)
def test_each_module_imports_only_what_its_part_may(path: Path) -> None:
    part = part_of(module_name(path))
    assert part is not None, f"{module_name(path)} is not on the README's map of the code"

    wrong = {
        imported
        for imported in imports_of(path)
        if part_of(imported) != part and part_of(imported) not in ALLOWED[part]
    }

    assert not wrong, f"{module_name(path)} ({part}) may not import {sorted(wrong)}"


def test_views_run_no_sql() -> None:
    """The HTTP layer takes nothing from the data layer but the ``Page`` services return."""
    for path in (SRC / "api").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("src.database"):
                assert {alias.name for alias in node.names} <= {"Page"}, path.name
