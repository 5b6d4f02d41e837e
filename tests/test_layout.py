"""The house rules of the layout (README "Layout"): which part may import
which.  Read from the source with ``ast``, so a new import that runs the
wrong way fails here, named, rather than in a review."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "matcher"

# part → the parts of matcher it must never import (at run time; `if TYPE_CHECKING:` imports are only names)
NEVER = {
    "models": {"store", "channels", "delivery", "cycle", "sources", "rank", "report", "suggest", "serve", "cli"},
    "errors": {"store", "channels", "delivery", "cycle", "sources", "rank", "config"},
    "safety": {"store", "channels", "delivery", "cycle", "sources", "rank"},
    "normalize": {"store", "channels", "delivery", "cycle", "sources", "rank", "embed"},
    # the ranking is pure: arrays and profiles in, matches out — no database, no network, no delivery
    "rank": {"store", "sources", "channels", "delivery", "cycle", "embed", "report", "serve"},
    "eligibility": {"store", "sources", "channels", "delivery", "cycle", "embed"},
    "combined": {"store", "sources", "channels", "delivery", "cycle", "embed"},
    # the store keeps what it is given: it works nothing out and delivers nothing
    "store": {"channels", "delivery", "cycle", "sources", "rank", "eligibility", "report", "suggest", "serve", "cli"},
    # channels render data they are handed: no store, no feeds, no ranking
    "channels": {"store", "delivery", "cycle", "sources", "rank", "embed", "report", "suggest", "serve", "cli"},
    # adapters know nothing of cities, the store or delivery (sources/show.py is the CLI's helper and may fetch)
    "sources": {"store", "channels", "delivery", "rank", "report", "suggest", "serve", "cli"},
    "delivery": {"cycle", "report", "suggest", "serve", "cli", "sources"},
    "cycle": {"report", "suggest", "serve", "cli"},
    "config": {"store", "channels", "delivery", "cycle", "rank", "report", "suggest", "serve", "cli"},
    # the web view reads the store and ranks a search like a cycle does; it fetches and delivers nothing
    "web": {"delivery", "sources", "serve", "cli"},
}
EXEMPT = {
    "sources/show.py": {"cycle"},  # `fundbot source show` runs one source the way a cycle does
    "store/__init__.py": {"eligibility"},  # decodes the terms it keeps (terms_from_json); it reads none itself
}


def _part(path: Path) -> str:
    rel = path.relative_to(PKG)
    return rel.parts[0].removesuffix(".py")


def _imports(path: Path) -> set[str]:
    """The parts of matcher a module imports at run time."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(n) for n in ast.walk(node))
    package = path.relative_to(PKG).parent.parts
    out = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.level:
            base = list(package[: len(package) - (node.level - 1)]) if node.level > 1 else list(package)
            target = base + (node.module.split(".") if node.module else [])
            if target:
                out.add(target[0])
            else:  # "from . import x" at the top of the package
                out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("matcher."):
            out.add(node.module.split(".")[1])
    return out


MODULES = sorted(p for p in PKG.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[p.relative_to(PKG).as_posix() for p in MODULES])
def test_imports_run_the_way_the_layout_says(path):
    part = _part(path)
    forbidden = NEVER.get(part, set()) - EXEMPT.get(path.relative_to(PKG).as_posix(), set())
    wrong = sorted((_imports(path) - {part}) & forbidden)
    assert not wrong, f"matcher/{path.relative_to(PKG)} ({part}) imports {', '.join(wrong)}: see README, Layout"


def test_the_rules_see_imports_at_all():
    """The reader finds the imports it is meant to judge (else every rule passes vacuously)."""
    assert {"channels", "delivery", "store", "sources"} <= _imports(PKG / "cycle.py")
    assert _imports(PKG / "channels" / "text.py") == set()  # the words import nothing of matcher
    assert _imports(PKG / "channels" / "console.py") == {"channels", "models"}  # its own package and the models
