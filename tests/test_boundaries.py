"""Boundaries the code keeps (ARCHITECTURE.md): the store owns the core tables, nothing imports a command module
but the ``leian`` command itself, and no package reaches for another package's private names or tables."""
from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Folders that are installed as ``leian.<folder>`` (plus ``leian/`` itself).
PACKAGES = ["leian", "data", "embeddings", "disputes", "search", "graph", "analytics", "library", "web"]
CORE_TABLES = ("cases", "case_parties", "case_mediators", "case_tags", "changes", "component_schema", "ingest_runs")
_SQL = re.compile(r"\b(FROM|JOIN|INTO|UPDATE|TABLE)\s+(%s)\b" % "|".join(CORE_TABLES), re.IGNORECASE)
_STATEMENT = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|REPLACE|CREATE)\b", re.IGNORECASE)



def _modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py") if ".venv" not in p.parts)


def _strings(tree: ast.AST):
    """Every string literal and f-string (formatted parts as a placeholder), with its line."""
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            yield node.lineno, "".join(v.value if isinstance(v, ast.Constant) else " ? " for v in node.values)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def _core_sql(path: Path) -> list[tuple[int, str]]:
    found = {}
    for line, text in _strings(ast.parse(path.read_text(encoding="utf-8"))):
        if "json_extract" in text.lower() or (_STATEMENT.search(text) and _SQL.search(text)):
            found[line] = text.strip()[:80]  # one query split over several literals counts once
    return sorted(found.items())


def test_sql_on_core_tables_and_json_extract_stay_in_data():
    offenders = []
    for path in _modules():
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith("data/"):
            continue
        offenders += [f"{relative}:{line}: {text}" for line, text in _core_sql(path)]
    assert not offenders, "SQL on the core tables belongs in data/ (data/queries.py or Store):\n" + "\n".join(offenders)


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.lineno, node.module, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []


def _package_of(path: Path) -> str:
    return path.relative_to(ROOT).parts[0]


def test_only_the_leian_command_imports_command_modules():
    offenders = []
    for path in _modules():
        relative = path.relative_to(ROOT).as_posix()
        if relative == "leian/cli.py":
            continue  # assembles every package's commands
        for line, module, _ in _imports(path):
            if module == "leian.cli" or (module.startswith("leian.") and module.endswith(".cli")):
                offenders.append(f"{relative}:{line}: imports {module}")
    assert not offenders, "domain code belongs outside cli.py:\n" + "\n".join(offenders)


def test_no_package_imports_another_packages_private_names():
    offenders = []
    for path in _modules():
        mine = _package_of(path)
        for line, module, names in _imports(path):
            parts = module.split(".")
            if parts[0] != "leian" or len(parts) < 2:
                continue
            theirs = parts[1] if parts[1] in PACKAGES else "leian"
            private = [n for n in names if n.startswith("_")] + [p for p in parts[1:] if p.startswith("_")]
            if theirs != mine and private:
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {module} {private}")
    assert not offenders, "import only public names of another package:\n" + "\n".join(offenders)


def test_no_package_reads_the_graphs_private_state():
    offenders = []
    for path in _modules():
        if _package_of(path) == "graph":
            continue
        source = path.read_text(encoding="utf-8")
        for name in ("graph_state", "RESOLVE_SEQ"):
            if name in source:
                offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert not offenders, "ask the graph's API (leian.graph.repeats.resolution_is_current):\n" + "\n".join(offenders)


@pytest.mark.parametrize("package", [p for p in PACKAGES if p != "leian"])
def test_each_package_says_what_it_is_and_exports_its_public_names(package):
    module = importlib.import_module(f"leian.{package}")
    assert module.__doc__ and "placeholder" not in module.__doc__, package
    for name in getattr(module, "__all__", []):
        assert getattr(module, name) is not None, f"leian.{package}.{name}"


#: Layers from the bottom (ARCHITECTURE.md "Who may import whom"): a module imports its own layer and those below.
LAYERS = [
    {"leian.errors", "leian.clock", "leian.lazy", "leian.faults"},
    {"data"},
    {"leian.home"},
    {"disputes"},
    {"embeddings"},
    {"search"},
    {"graph"},
    {"library"},
    {"analytics"},
    {"leian.results", "leian.api", "leian.indexers"},
    {"web"},
]
_RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _unit(module: str) -> str | None:
    """The layer unit of ``leian.x.y``: the package folder, or the ``leian.<module>`` itself."""
    parts = module.split(".")
    if parts[0] != "leian" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in PACKAGES else f"leian.{parts[1]}"


def test_imports_go_down_the_layers():
    offenders = []
    for path in _modules():
        if path.name == "cli.py" or path.name == "__init__.py" or path.as_posix().endswith(("leian/clitools.py", "leian/click_zh.py")):
            continue  # the command layer and the package front doors sit above everything
        relative = path.relative_to(ROOT)
        mine = _unit("leian." + (relative.stem if relative.parts[0] == "leian" else relative.parts[0]))
        for line, module, _ in _imports(path):
            theirs = _unit(module)
            if theirs is None or theirs == mine or theirs not in _RANK or mine not in _RANK:
                continue
            if _RANK[theirs] > _RANK[mine]:
                offenders.append(f"{relative}:{line}: {mine} imports {theirs} (a layer above)")
    assert not offenders, "\n".join(offenders)
