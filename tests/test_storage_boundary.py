"""The storage rule: SQL is written only in engine/storage (the one storage layer)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STORAGE = ROOT / "engine" / "storage"
CHECKED = ("app", "engine", "trainer", "benchmarks")

SQL = re.compile(
    r"\b(SELECT\s.+\sFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+(TABLE|INDEX)"
    r"|DROP\s+TABLE|PRAGMA\s)",
    re.DOTALL,
)  # keywords in capitals, as all our SQL is written: prose ("Select the photos from ...") passes


def violations(path: Path) -> list[str]:
    """Lines of a module that run SQL or carry SQL text."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    where = path.relative_to(ROOT) if ROOT in path.parents else path.name
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in {"execute", "executemany", "executescript"}:
            found.append(f"{where}:{node.lineno}: .{node.attr}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.search(node.value):
            found.append(f"{where}:{node.lineno}: SQL text {node.value[:40]!r}")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            if any(n.split(".")[0] in {"sqlite3", "sqlite_utils"} for n in names):
                found.append(f"{where}:{node.lineno}: imports sqlite")
    return found


def test_sql_lives_only_in_the_storage_package():
    files = [p for top in CHECKED for p in (ROOT / top).rglob("*.py") if STORAGE not in p.parents]
    assert len(files) > 30
    found = [v for p in files for v in violations(p)]
    assert found == [], "SQL outside engine/storage:\n" + "\n".join(found)


def test_the_check_sees_sql(tmp_path: Path):
    """The detector itself: each way of writing SQL is caught, ordinary prose is not."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import sqlite3\n"
        "db.execute('x')\n"
        "q = 'SELECT a FROM photos WHERE b = ?'\n"
        "r = 'DELETE FROM tags'\n"
        "ok = 'Select the photos from the folder you want'\n"
    )
    found = violations(sample)
    assert sorted(v.split(":")[1] for v in found) == ["1", "2", "3", "4"], found
