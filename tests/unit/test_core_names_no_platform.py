"""The core never names a platform: everything about a vendor lives in its platform package."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from pshub.platforms import platform_names
from tests.helpers import REPO

CORE = REPO / "layers/common/pshub"
CORE_PACKAGES = ["pipeline", "sync", "store", "workflows", "canonical"]


def _code_words(path: Path) -> set[str]:
    """Identifiers and string literals of a module, docstrings left out (they may give examples)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    words: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            words.add(node.id)
        elif isinstance(node, ast.Attribute):
            words.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            words.update(re.findall(r"[A-Za-z0-9]+", node.value))
    return {word.lower() for word in words}


@pytest.mark.parametrize(
    "path",
    sorted(p for package in CORE_PACKAGES for p in (CORE / package).rglob("*.py")),
    ids=lambda p: str(p.relative_to(CORE)),
)
def test_no_core_module_names_a_platform(path: Path) -> None:
    assert not (_code_words(path) & platform_names())
