"""One step of ``bench/ingest.py``, run in a process of its own with the code of one checkout.

    python bench/ingest_into.py --code DIR build --home HOME --cases FILE [--no-similar] [--stored]
    python bench/ingest_into.py --code DIR ingest --home HOME --cases FILE

``--code DIR`` is a checkout of LeiAn (main, or a ``git worktree`` of an earlier
commit): its ``leian``, ``data``, ``search`` … folders are imported as
``leian``, ``leian.data``, ``leian.search`` …, and the editable install's finder
is taken off ``sys.meta_path`` first (it would otherwise hand out the installed
checkout's modules and the earlier code would never run).

``build`` makes a benchmark home the way a centre's would be made: the records
stored by ``leian ingest --no-index``, then every index caught up by that code's
own indexers, except that the vectors of the existing cases are *derived*
(hashed character bigrams projected to 512 dimensions and normalised, stored in
the embedding cache under the id of the home's model: m3e-small, or its ONNX export's) instead of encoded; with
``--no-similar`` no SIMILAR_TO edges are asked for the existing cases either.

``ingest`` is what is measured: ``leian ingest FILE`` as a user runs it (the
real encoder for the new cases), printing one JSON line with the wall time from
process start, its CPU time, the bytes it wrote (``/proc/self/io``) and its peak RSS.
"""
from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402
import importlib.machinery  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

#: Where each package of a checkout lives (``[tool.setuptools] package-dir`` in pyproject.toml).
PACKAGES = {"leian": "leian", "leian.data": "data", "leian.embeddings": "embeddings", "leian.search": "search",
            "leian.graph": "graph", "leian.web": "web", "leian.analytics": "analytics", "leian.library": "library",
            "leian.disputes": "disputes"}
DIM = 512
#: Written into a home when its build has finished: ``bench/ingest.py`` measures only homes that have it
#: (a home still being built has its store, and soon an index, long before it is whole).
BUILT = ".bench-built"


class CheckoutFinder:
    """Imports ``leian`` and its packages from one checkout's folders."""

    def __init__(self, code: Path):
        self.code = code

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        folder = PACKAGES.get(fullname)
        if folder is None or not (self.code / folder / "__init__.py").is_file():
            return None
        location = self.code / folder
        return importlib.util.spec_from_file_location(fullname, location / "__init__.py",
                                                      submodule_search_locations=[str(location)])


def use_checkout(code: Path) -> None:
    """Take the editable install's finder off the import path and import LeiAn from ``code`` instead."""
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in getattr(f, "__module__", type(f).__module__)
                        and "editable" not in type(f).__name__.lower()]
    sys.meta_path.insert(0, CheckoutFinder(code))
    for name in [n for n in sys.modules if n == "leian" or n.startswith("leian.")]:
        del sys.modules[name]


class DerivedEncoder:
    """Cheap stand-in vectors for building a big home: hashed character bigrams, projected and normalised.

    Texts sharing wording get nearby vectors (so IVF lists are not uniform noise), at
    about 20 µs a text instead of the model's ~25 ms.
    """

    def __init__(self, model_id: str):
        import numpy as np

        self.np = np
        self.model_id = model_id
        self.dim = DIM
        self.max_tokens = 512
        self.texts_encoded = 0

    def encode(self, texts: list[str], *, batch_size: int = 32, progress: bool = False):
        np = self.np
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
            if len(points) < 2:
                points = np.concatenate([points, np.zeros(2, dtype=np.uint64)])
            bigrams = (points[:-1] * np.uint64(0x9E3779B1) + points[1:] * np.uint64(0x85EBCA77)) & np.uint64(0xFFFFFFFF)
            signs = np.where((bigrams >> np.uint64(20)) & np.uint64(1), 1.0, -1.0)
            out[row] = np.bincount((bigrams % np.uint64(self.dim)).astype(np.int64), weights=signs, minlength=self.dim)
            out[row] /= max(float(np.linalg.norm(out[row])), 1e-6)
        self.texts_encoded += len(texts)
        return out


def usage() -> dict[str, float]:
    """Peak RSS and CPU seconds (user + system) of this process so far: CPU time is what a busy machine does not inflate."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return {"peak_rss": own.ru_maxrss * 1024, "cpu_seconds": own.ru_utime + own.ru_stime}


def io_counters() -> dict[str, int]:
    """``write_bytes`` (what reached the block layer, page cache included) and ``wchar`` (what write() was given)."""
    fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return {"write_bytes": int(fields["write_bytes"]), "wchar": int(fields["wchar"])}


def run_cli(*args: str) -> None:
    from leian.cli import cli

    cli.main(list(args), prog_name="leian", standalone_mode=False)


def build(home: Path, cases: Path, *, similar: bool, stored: bool = False) -> dict[str, float]:
    """Store the records (unless ``stored``), then catch every index up with derived vectors; returns seconds per step."""
    steps: dict[str, float] = {}
    started = time.perf_counter()
    if not stored:
        run_cli("--home", str(home), "ingest", str(cases), "--no-index", "--no-progress")
    steps["store"] = time.perf_counter() - started

    from leian.embeddings import encoder
    from leian.home import Home

    # Filed where load_encoder looks for the home's model (a name before the runtimes, (name, runtime) since),
    # under the id the real model's vectors have: the measured ingest finds them cached.
    model = encoder.model_for_home(Home.resolve(home))
    key = encoder.split_runtime(model) if hasattr(encoder, "split_runtime") else encoder.resolve_model(model)
    encoder._loaded[key] = DerivedEncoder(encoder.model_id_for(model))
    if not similar:
        from leian.graph import sync as graph_sync

        graph_sync.similar_source = lambda home, store: None
    from leian import indexers

    started = time.perf_counter()
    resolved = Home.resolve(home)
    with resolved.open_store() as store:
        indexers.sync_all(resolved, store)
        last = store.last_change()
    steps["indexes"] = time.perf_counter() - started
    if not similar:
        from leian.graph.factory import open_graph

        with open_graph(resolved) as graph:
            if hasattr(graph, "set_similar_seq"):  # else SIMILAR_TO is asked only for the cases a sync changes
                graph.set_similar_seq(last)  # the next ingest links its own cases, not a million left-overs
                graph.flush()
    (home / BUILT).write_text(json.dumps(steps), encoding="utf-8")
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", type=Path, required=True, help="checkout whose code runs")
    commands = parser.add_subparsers(dest="command", required=True)
    built = commands.add_parser("build", help="make a benchmark home (derived vectors)")
    built.add_argument("--home", type=Path, required=True)
    built.add_argument("--cases", type=Path, required=True)
    built.add_argument("--no-similar", action="store_true", help="no SIMILAR_TO edges for the existing cases")
    built.add_argument("--stored", action="store_true",
                       help="the store holds the cases already (a build stopped after its store step resumes with the indexes)")
    measured = commands.add_parser("ingest", help="time `leian ingest FILE` into a home")
    measured.add_argument("--home", type=Path, required=True)
    measured.add_argument("--cases", type=Path, required=True)
    args = parser.parse_args()
    use_checkout(args.code.resolve())
    if args.command == "build":
        print(json.dumps(build(args.home, args.cases, similar=not args.no_similar, stored=args.stored)))
        return
    import leian

    assert Path(leian.__file__).resolve().is_relative_to(args.code.resolve()), leian.__file__
    run_cli("--home", str(args.home), "ingest", str(args.cases), "--no-progress")
    print(json.dumps({"seconds": time.perf_counter() - STARTED, **io_counters(), **usage()}))


if __name__ == "__main__":
    main()
