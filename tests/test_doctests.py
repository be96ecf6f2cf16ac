"""Run the docstring examples of every LeiAn module, imported by its installed name."""
from __future__ import annotations

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest


PACKAGES = ["leian", "leian.data", "leian.embeddings", "leian.search", "leian.graph", "leian.web", "leian.analytics", "leian.library", "leian.disputes"]


def _modules():
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        yield package_name
        for info in pkgutil.iter_modules(package.__path__):
            yield f"{package_name}.{info.name}"


@pytest.mark.parametrize("module_name", sorted(set(_modules())))
def test_docstring_examples(module_name):
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {module_name}"


def test_readme_python_example():
    """The README's Python section runs as written (ingest a list, search, read why)."""
    readme = Path(__file__).parents[1] / "README.md"
    result = doctest.testfile(str(readme), module_relative=False, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted and result.failed == 0
