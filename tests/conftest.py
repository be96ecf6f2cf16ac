"""Session fixtures shared across test modules: the Bolt server the graph tests run against.

``bolt_uri`` is a real ArcadeDB server speaking Bolt (Neo4j 5.26-compatible),
started once per session from the ``arcadedb-embedded`` package by
``tools/arcadedb_server.py`` on free ports and stopped at the end; when
``LEIAN_TEST_BOLT_URI`` is set (``.ci/run`` starts the server itself) that
server is used instead. See DEVELOPERS.md.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _server_tool():
    spec = importlib.util.spec_from_file_location("arcadedb_server", ROOT / "tools" / "arcadedb_server.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def bolt_uri(tmp_path_factory):
    """``bolt://user:password@host:port/database`` of a running Bolt server."""
    given = os.environ.get("LEIAN_TEST_BOLT_URI")
    if given:
        yield given
        return
    tool = _server_tool()
    state = tmp_path_factory.mktemp("arcadedb")
    uri = tool.start(state)
    try:
        yield uri
    finally:
        tool.stop(state)
