"""Fuzzing as a test generator: hypothesis mutates good records (hostile values in every field, broken
lines) and breaks whole files in every way we know; the real ``leian ingest`` and the real web upload
must read all of it without a traceback, store every good record, name every reject by file, line and
field, and exit 1 when some records were rejected, 2 when a file could not be read.

The corpus is generated derandomized (the same records on every run) and batched into few files;
the CLI run uses ``--no-index`` so that the suite spends its time on reading, validating and storing.
The upload (which always updates the search index and the graph) takes a slice of the corpus and
every broken file.
"""
from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from leian.web.accounts import Accounts
from leian.web.app import create_app

from leian.home import Home

LEIAN = [sys.executable, "-c", "from leian.cli import main; main()"]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}
PASSWORD = "fuzz-password-1"

MUTATED = 10_500
ATOMS = 1_200  # hostile mutations drawn by hypothesis, combined into the MUTATED records
PER_EXAMPLE = 20
FILES = 3
UPLOADED = 400  # mutated records of the corpus that also go through the upload

# -- the corpus -----------------------------------------------------------------------------------------------

_HOSTILE_TEXT = [
    "\ud800", "前\udfff后", "\x00", "\x1b[31m", "\u202e反转", "\u2066隔离\u2069", "\ufeff", "\u200b", "=cmd|' /C calc'!A0",
    "+1+1", "-2", "@SUM(A1)", "[转办]楼上漏水", "{\"a\": 1}", "<script>alert(1)</script>", "１３８００００１１１１",
    "110105 19491231 002X", "'; DROP TABLE cases; --", "MATCH (n) DETACH DELETE n", "../../etc/passwd", "a/b", "..",
    " ", "\t", "NaN", "null", "𠀀𪚥", "繁體中文測試", "😀" * 3, "",
]
_LONG = {"20001 字": "漏" * 20_001, "201 字": "名" * 201, "65 字": "I" * 65, "1000 个逗号": "，" * 1000}


def _deep(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([10**309, -(10**400), 2**63, -(2**63) - 1]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(_HOSTILE_TEXT), st.text(max_size=12),
    st.sampled_from(sorted(_LONG)).map(_LONG.__getitem__),
)
_values = st.one_of(
    _scalars,
    st.lists(_scalars, max_size=3), st.dictionaries(st.sampled_from(["name", "\ud800", "", "x"]), _scalars, max_size=2),
    st.sampled_from([21, 500]).map(_deep),
    st.sampled_from([201, 1000]).map(lambda n: [{"name": f"工人{i}"} for i in range(n)]),
)
_PATHS = [
    ("id",), ("text",), ("title",), ("type",), ("occurred_on",), ("reported_on",), ("closed_on",), ("channel",),
    ("handling",), ("outcome",), ("agreement",), ("amount",), ("tags",), ("note",), ("\ud800备注",), ("location",),
    ("location", "town"), ("location", "address"), ("parties",), ("parties", 0), ("parties", 0, "name"),
    ("parties", 0, "phone"), ("parties", 0, "id_number"), ("parties", 0, "kind"), ("parties", 0, "role"),
    ("parties", 1, "address"), ("mediators",), ("mediators", 0, "name"), ("mediators", 0, "org"),
]
#: A mutation: set a path to a value, or delete it.
_mutation = st.tuples(st.sampled_from(_PATHS), st.one_of(_values, st.just(...)))
#: A change to the line's bytes (no newline is ever inserted: the line numbers must stay).
_byte_edit = st.tuples(st.sampled_from(["cut", "flip", "insert"]), st.integers(0, 400), st.integers(0, 255).filter(lambda b: b != 10))


def _good(case_id: str, n: int) -> dict:
    return {"id": case_id, "title": "楼上漏水纠纷", "text": f"海澄村{n}栋楼上卫生间漏水，楼下天花板受损（第{n}号）",
            "type": "邻里/漏水", "occurred_on": f"2025-0{n % 9 + 1}-1{n % 9}", "outcome": "调解成功",
            "location": {"province": "广东省", "city": "珠海市", "district": "金湾区", "town": "三灶镇", "community": "海澄村"},
            "parties": [{"name": f"吴{n}号", "role": "申请人", "phone": "13800001111"},
                        {"name": "恒达物业有限公司", "role": "被申请人", "address": "海澄村东街1号"}],
            "mediators": [{"name": "李梅", "org": "三灶镇人民调解委员会"}]}


def _apply(record: dict, path: tuple, value: object) -> None:
    target: object = record
    for step in path[:-1]:
        try:
            target = target[step]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            return  # an earlier mutation replaced the container: nothing to reach
    last = path[-1]
    if isinstance(target, dict):
        if value is ...:
            target.pop(last, None)
        else:
            target[last] = value
    elif isinstance(target, list) and isinstance(last, int) and last < len(target):
        if value is ...:
            del target[last]
        else:
            target[last] = value


def _line(case_id: str, n: int, change: tuple) -> tuple[bytes, bool]:
    """The mutated record's line, and whether its id is still ``case_id`` (so the store can be asked for it)."""
    record = _good(case_id, n)
    kind, edits = change
    if kind == "fields":
        for path, value in edits:
            _apply(record, path, value)
        return json.dumps(record).encode("ascii"), record.get("id") == case_id  # ASCII: lone surrogates as \ud800
    data = bytearray(json.dumps(record, ensure_ascii=False).encode("utf-8"))
    for edit, at, byte in edits:
        if not data:
            break
        at = min(at, len(data) - 1)
        if edit == "cut":
            del data[at:]
        elif edit == "flip":
            data[at] = byte
        else:
            data.insert(at, byte)
    return bytes(data) if bytes(data).strip() else b"{", False  # a blank line would not be a record at all


def _drawn(strategy: st.SearchStrategy, count: int) -> list:
    """``count`` values drawn by hypothesis, derandomized (the same on every run)."""
    drawn: list = []

    @settings(max_examples=-(-count // PER_EXAMPLE), derandomize=True, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), deadline=None)
    @given(st.lists(strategy, min_size=PER_EXAMPLE, max_size=PER_EXAMPLE))
    def collect(batch: list) -> None:
        drawn.extend(batch)

    collect()
    return drawn


def _changes(count: int) -> list[tuple]:
    """``count`` record changes: hypothesis draws the hostile mutations and byte edits, a seeded choice combines
    one to three of them per record (drawing every record from hypothesis would cost the suite minutes)."""
    mutations, edits = _drawn(_mutation, ATOMS), _drawn(_byte_edit, ATOMS // 4)
    choose = random.Random(16)
    changes = []
    for _ in range(count):
        if choose.random() < 0.1:
            changes.append(("bytes", choose.sample(edits, choose.randint(1, 2))))
        else:
            changes.append(("fields", choose.sample(mutations, choose.choice((1, 1, 2, 3)))))
    return changes


class Corpus:
    """The corpus written into files: each line a good record or a mutated one, with what is known of it."""

    def __init__(self, folder: Path, changes: list[tuple], files: int, prefix: str):
        self.paths: list[Path] = []
        self.good: dict[str, tuple[str, int]] = {}  # id -> (file, line) of the unmutated records
        self.known: dict[tuple[str, int], str] = {}  # (file, line) -> id, for mutated records that kept theirs
        self.lines = 0
        per_file = -(-len(changes) // files)
        for f in range(files):
            path = folder / f"{prefix}{f + 1}.jsonl"
            lines = []
            for k, change in enumerate(changes[f * per_file:(f + 1) * per_file]):
                n = f * per_file + k
                if k % 2 == 0:  # a good record between every other pair of mutated ones
                    good_id = f"{prefix}G{n}"
                    lines.append(json.dumps(_good(good_id, n), ensure_ascii=False).encode("utf-8"))
                    self.good[good_id] = (path.name, len(lines))
                case_id = f"{prefix}M{n}"
                line, kept_id = _line(case_id, n, change)
                lines.append(line)
                if kept_id:
                    self.known[(path.name, len(lines))] = case_id
            path.write_bytes(b"\n".join(lines) + b"\n")
            self.paths.append(path)
            self.lines += len(lines)


def _check(corpus: Corpus, store, rejects: list[dict], read: int) -> None:
    """Every line read; every reject named with file, line and field; every good record stored whole;
    every mutated record that kept its id either stored from its own line or rejected."""
    assert read == corpus.lines
    rejected = {(r["source"], r["line"]) for r in rejects}
    assert len(rejected) == len(rejects)
    unnamed = [r for r in rejects if not r["errors"] or not all(e["field"] and e["message"] for e in r["errors"])
               or not all(m.startswith(f"{r['source']}:{r['line']}") for m in r["messages"])]
    assert unnamed == []
    internal = [m for r in rejects for m in r["messages"] if "内部错误" in m]
    assert internal == []  # a bug caught per record is still a bug
    stored = store.get_many(list(corpus.good))
    assert sorted(stored) == sorted(corpus.good)
    assert all(stored[i].text.startswith("海澄村") and len(stored[i].parties) == 2 for i in corpus.good)
    assert not rejected & set(corpus.good.values())
    sources = dict(store.conn.execute("SELECT id, source FROM cases"))
    lost = [(where, case_id) for where, case_id in corpus.known.items()
            if where not in rejected and sources.get(case_id) != f"{where[0]}:{where[1]}"]
    assert lost == []


@pytest.fixture(scope="module")
def changes() -> list[tuple]:
    return _changes(MUTATED)


def _leian(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*LEIAN, "--home", str(home), *args], capture_output=True, text=True, env=ENV, timeout=900)


def _rejects(home: Path) -> list[dict]:
    # split on newlines only: str.splitlines would also split inside strings holding \x1c, \x85 or \u2028
    return [json.loads(line) for path in sorted((home / "rejects").glob("*.jsonl"))
            for line in path.read_text(encoding="utf-8").split("\n") if line]


def test_ten_thousand_mutated_records_through_the_cli(tmp_path, changes):
    corpus = Corpus(tmp_path, changes, FILES, "C")
    run = _leian(tmp_path / "home", "ingest", *map(str, corpus.paths), "--no-index", "--json", "--no-progress")
    assert "Traceback" not in run.stderr and run.returncode == 1, run.stderr[-3000:]
    report = json.loads(run.stdout)
    rejects = _rejects(tmp_path / "home")
    assert report["rejected"] == len(rejects) > 0 and report["file_errors"] == []
    assert report["inserted"] + report["updated"] + report["unchanged"] + report["rejected"] == report["read"]
    with Home.resolve(tmp_path / "home").open_store(readonly=True) as store:
        _check(corpus, store, rejects, report["read"])


# -- broken files ----------------------------------------------------------------------------------------------

_GOOD = json.dumps(_good("B1", 1), ensure_ascii=False)
#: Files whose records are read one by one: name -> (content, the (line, field) of each reject).
BROKEN_RECORDS = {
    "坏行.jsonl": (f"{_GOOD}\n{{not json\n[1, 2]\n\"字符串\"\n".encode(), [(2, "record"), (3, "record"), (4, "record")]),
    "截断.jsonl": (f'{_GOOD}\n{{"id": "B2", "text": "漏'.encode(), [(2, "record")]),
    "字节.jsonl": (_GOOD.encode() + b"\n" + bytes(b for b in range(256) if b != 10) + b"\n", [(2, "record")]),
    "拉丁.ndjson": (_GOOD.encode() + b'\n{"id": "B3", "text": "caf\xe9"}\n', [(2, "record")]),
    "空字节.json": (_GOOD.encode() + b"\n\x00\x00\n", [(2, "record")]),
    "数组.json": (json.dumps([_good("B4", 4)], ensure_ascii=False, indent=1).encode(), None),
    "引号未闭合.csv": ('id,text\nB5,"楼上漏水\nB6,漏水\n'.encode(), [(2, "record")]),
    "超长单元格.csv": (("id,text\nB7," + "漏" * 140_000 + "\nB8,楼上漏水\n").encode(), [(2, "text")]),
    "GBK.csv": ("id,text\nB9,楼上漏水\n".encode("gbk"), [(2, "record")]),
}
#: Files that cannot be read at all (exit 2): name -> content.
BROKEN_FILES = {
    "无表头.csv": "B1,楼上漏水\n".encode(),
    "缺正文列.csv": "id,title\nB1,漏水\n".encode(),
    "不是压缩包.xlsx": b"not a zip",
    "空工作簿.xlsx": b"",
    "坏压缩包.xlsx": b"PK\x03\x04garbage",
}


def _write(folder: Path, files: dict[str, bytes]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_bytes(content)
    return [folder / name for name in files]


def test_every_broken_file_kind_through_the_cli(tmp_path):
    readable = _write(tmp_path / "records", {name: content for name, (content, _) in BROKEN_RECORDS.items()})
    run = _leian(tmp_path / "home", "ingest", *map(str, readable), "--no-index", "--json", "--no-progress")
    assert "Traceback" not in run.stderr and run.returncode == 1, run.stderr[-3000:]
    rejects = _rejects(tmp_path / "home")
    for name, (_, expected) in BROKEN_RECORDS.items():
        named = [(r["line"], r["errors"][0]["field"]) for r in rejects if r["source"] == name]
        assert named and (expected is None or named == expected), (name, named)
    unreadable = _write(tmp_path / "files", BROKEN_FILES)
    run = _leian(tmp_path / "home", "ingest", *map(str, unreadable), str(readable[0]), "--no-index", "--json", "--no-progress")
    assert "Traceback" not in run.stderr and run.returncode == 2, run.stderr[-3000:]
    errors = json.loads(run.stdout)["file_errors"]
    assert [next(e for e in errors if e.startswith(p.name)) for p in unreadable]  # each file named
    assert len(errors) == len(unreadable)
    (tmp_path / "文档.pdf").write_bytes(b"%PDF-1.4")
    for missing_or_foreign in (tmp_path / "不存在.jsonl", tmp_path / "文档.pdf"):
        run = _leian(tmp_path / "home", "ingest", str(missing_or_foreign), "--no-index", "--no-progress")
        assert "Traceback" not in run.stderr and run.returncode == 2 and missing_or_foreign.name in run.stderr, run.stderr


# -- the same through the web upload ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def admin():
    home = Home.resolve(tempfile.mkdtemp(prefix="leian-fuzz-upload-"))
    with home.open_store() as store:
        Accounts(store).add("chief", "admin", PASSWORD)
    app = create_app(home, testing=True)
    client = app.test_client()
    client.csrf = client.post("/api/login", json={"username": "chief", "password": PASSWORD}).get_json()["csrf_token"]
    client.home = home
    return client


def _upload(client, path: Path) -> dict:
    started = client.post("/api/ingest", headers={"X-CSRF-Token": client.csrf}, content_type="multipart/form-data",
                          data={"file": (io.BytesIO(path.read_bytes()), path.name)})
    assert started.status_code == 202, started.get_json()
    for _ in range(3000):
        job = client.get(f"/api/ingest/{started.get_json()['id']}").get_json()
        if job["status"] != "running":
            assert job["status"] == "done" and "Traceback" not in json.dumps(job, ensure_ascii=False), job
            return job
        time.sleep(0.2)
    raise AssertionError(f"the upload did not finish: {job}")


def _downloaded_rejects(client, job: dict) -> list[dict]:
    if not job["report"]["rejects_file"]:
        return []
    answer = client.get(f"/api/ingest/rejects/{job['report']['rejects_file']}")
    assert answer.status_code == 200
    return [json.loads(line) for line in answer.get_data(as_text=True).split("\n") if line]


def test_mutated_records_through_the_upload(tmp_path, changes, admin):
    corpus = Corpus(tmp_path, changes[:UPLOADED], 1, "W")
    job = _upload(admin, corpus.paths[0])
    rejects = _downloaded_rejects(admin, job)
    assert job["report"]["rejected"] == len(rejects) > 0 and job["written"] == job["report"]["stored"]
    with admin.home.open_store(readonly=True) as store:
        _check(corpus, store, rejects, job["report"]["read"])


def test_every_broken_file_kind_through_the_upload(tmp_path, admin):
    for path in _write(tmp_path / "records", {name: content for name, (content, _) in BROKEN_RECORDS.items()}):
        job = _upload(admin, path)
        named = [(r["line"], r["errors"][0]["field"]) for r in _downloaded_rejects(admin, job)]
        expected = BROKEN_RECORDS[path.name][1]
        assert named and (expected is None or named == expected), (path.name, named)
        assert all(m.startswith(f"{path.name}:") for m in job["report"]["reject_messages"])
    for path in _write(tmp_path / "files", BROKEN_FILES):
        job = _upload(admin, path)
        assert job["report"]["read"] == 0 and path.name in job["report"]["file_errors"][0], job
    refused = admin.post("/api/ingest", headers={"X-CSRF-Token": admin.csrf}, content_type="multipart/form-data",
                         data={"file": (io.BytesIO(b"%PDF-1.4"), "文档.pdf")})
    assert refused.status_code == 400 and "不支持的文件类型" in refused.get_json()["error"]["detail"]
