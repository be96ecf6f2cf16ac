"""The web upload does what ``leian ingest`` does, through the real app on a real store, index and graph.

A bad record deep in a file costs only itself; the job counts committed cases; the run is audited and
the graph updated; ``.json``/``.ndjson`` are read like the CLI reads them; upload folders do not
outlive their job (nor a killed server); earlier runs stay listed after a restart, with their
rejects file to download, masked.
"""
from __future__ import annotations

import io
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from leian.web.accounts import Accounts
from leian.web.app import create_app
from leian.web.jobs import UPLOAD_PREFIX
from web_support import PASSWORD

from leian.home import Home

TOTAL = 700
POISONED = {601: "amount", 650: "text"}  # line -> the field that cannot be stored


def _record(n: int) -> dict:
    return {"id": f"U{n:03d}", "title": "楼上漏水纠纷", "text": f"海澄村{n}栋楼上卫生间漏水，楼下住户天花板受损（第{n}号）",
            "type": "邻里/漏水", "occurred_on": f"2025-0{n % 6 + 1}-1{n % 9}",
            "location": {"province": "广东省", "city": "珠海市", "district": "金湾区", "town": "三灶镇", "community": "海澄村"},
            "parties": [{"name": f"吴{n}号", "role": "申请人"}, {"name": "恒达物业有限公司", "role": "被申请人"}]}


def _upload_lines() -> bytes:
    lines = []
    for n in range(1, TOTAL + 1):
        line = json.dumps(_record(n), ensure_ascii=False)
        if n == 601:  # an integer no float can hold (OverflowError in the engines)
            line = line[:-1] + ', "amount": 1' + "0" * 400 + "}"
        elif n == 650:  # a lone surrogate (UnicodeEncodeError at the store write), from a person's name
            line = json.dumps({**_record(n), "text": "梁小红漏水\ud800", "parties": [{"name": "梁小红", "id_number": "110105194912310021"}]})
        lines.append(line)
    return ("\n".join(lines) + "\n").encode("utf-8")


@pytest.fixture(scope="module")
def home():
    home = Home.resolve(tempfile.mkdtemp(prefix="leian-upload-test-"))
    with home.open_store() as store:
        Accounts(store).add("chief", "admin", PASSWORD)
    return home


def _admin(app):
    client = app.test_client()
    client.csrf = client.post("/api/login", json={"username": "chief", "password": PASSWORD}).get_json()["csrf_token"]
    return client


def _upload(client, body: bytes, filename: str) -> dict:
    started = client.post("/api/ingest", headers={"X-CSRF-Token": client.csrf}, content_type="multipart/form-data",
                          data={"file": (io.BytesIO(body), filename)})
    assert started.status_code == 202, started.get_json()
    for _ in range(1500):
        job = client.get(f"/api/ingest/{started.get_json()['id']}").get_json()
        if job["status"] != "running":
            return job
        time.sleep(0.2)
    raise AssertionError(f"the upload did not finish: {job}")


@pytest.fixture(scope="module")
def uploaded(home):
    """The 700-record upload with two poisoned lines, done once."""
    app = create_app(home, testing=True)
    return app, _upload(_admin(app), _upload_lines(), "上传.ndjson")


def test_a_bad_record_deep_in_an_upload_costs_only_itself(home, uploaded):
    app, job = uploaded
    report = job["report"]
    assert job["status"] == "done" and job["error"] is None and report["index_error"] is None
    assert (report["read"], report["inserted"], report["rejected"]) == (TOTAL, TOTAL - 2, 2)
    for line, field in POISONED.items():
        assert any(m.startswith(f"上传.ndjson:{line} id=U{line}") and f" {field}（" in m for m in report["reject_messages"]), report
    assert job["written"] == report["stored"] == TOTAL - 2  # committed cases, as the store has them
    with home.open_store(readonly=True) as store:
        assert store.count() == TOTAL - 2 and store.get("U601") is None and store.get("U700") is not None
    admin = _admin(app)
    entry = next(e for e in admin.get("/api/audit").get_json()["entries"] if e["action"] == "ingest")
    assert entry["target"] == "上传.ndjson" and entry["detail"] == f"读取 {TOTAL}，入库 {TOTAL - 2}，拒收 2"
    graph = admin.get("/api/cases/U700/neighbors").get_json()  # the graph caught up with the last good record
    assert graph["center"].endswith("U700") and any(n["label"] == "Party" for n in graph["nodes"])


def test_json_files_are_read_like_the_cli_reads_them(uploaded):
    app, _ = uploaded
    job = _upload(_admin(app), json.dumps(_record(901), ensure_ascii=False).encode("utf-8"), "一件.json")
    assert job["status"] == "done" and job["report"]["inserted"] == 1 and job["written"] == 1
    again = _upload(_admin(app), json.dumps(_record(901), ensure_ascii=False).encode("utf-8"), "一件.json")
    assert again["report"]["unchanged"] == 1 and again["written"] == 0


def test_a_file_that_cannot_be_read_is_named_not_a_traceback(uploaded):
    app, _ = uploaded
    job = _upload(_admin(app), "编号,内容\nX1,漏水\n".encode("utf-8"), "无表头.csv")
    assert job["status"] == "done" and job["report"]["file_errors"] and "无表头.csv" in job["report"]["file_errors"][0]
    assert "Traceback" not in json.dumps(job, ensure_ascii=False)


def test_earlier_runs_stay_listed_after_a_restart_with_their_rejects_masked(home, uploaded):
    restarted = _admin(create_app(home, testing=True))  # a new server process on the same home
    runs = restarted.get("/api/ingest").get_json()["runs"]
    run = next(r for r in runs if r["files"] == ["上传.ndjson"])
    assert (run["read"], run["inserted"], run["rejected"]) == (TOTAL, TOTAL - 2, 2) and run["rejects_file"]
    assert str(home.root) not in json.dumps(runs, ensure_ascii=False)  # no server path leaves the server
    page = restarted.get("/ingest").get_data(as_text=True)
    assert 'id="ingest-runs"' in page and "上传.ndjson" in page and f"/api/ingest/rejects/{quote(run['rejects_file'])}" in page
    download = restarted.get(f"/api/ingest/rejects/{run['rejects_file']}")
    assert download.status_code == 200
    rejects = [json.loads(line) for line in download.get_data(as_text=True).splitlines()]
    assert [(r["line"], r["errors"][0]["field"]) for r in rejects] == list(POISONED.items())
    text = download.get_data(as_text=True)
    assert "梁小红" not in text and "梁某某" in text and "110105194912310021" not in text
    assert restarted.get("/api/ingest/rejects/..%2Fcases.sqlite").status_code == 404


def test_upload_folders_end_with_their_job_and_a_killed_servers_on_start(home, uploaded):
    uploads = Path(home.root) / "uploads"
    assert list(uploads.glob(f"{UPLOAD_PREFIX}*")) == []
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    living = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        left = [uploads / f"{UPLOAD_PREFIX}{gone.stdout.strip()}-abc", uploads / f"{UPLOAD_PREFIX}{living.pid}-def"]
        for folder in left:
            folder.mkdir()
            (folder / "上传.jsonl").write_text("{}\n", encoding="utf-8")
        create_app(home, testing=True)
        assert [folder.exists() for folder in left] == [False, True]  # a live server's upload is not touched
    finally:
        living.kill()
        living.wait()
