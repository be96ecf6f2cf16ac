"""User mistakes are one plain line (CLI, exit 1) or a 4xx JSON answer; bugs are a short id and the home's error log.

No traceback reaches a person either way; a bug's traceback is in ``<home>/logs/errors.log`` under its id.
"""
from __future__ import annotations

import json
import re
import tempfile

from click.testing import CliRunner

from leian.cli import cli
from leian.errorlog import BUG_EXIT, log_path
from leian.home import Home
from leian.web.app import create_app, services
from web_support import PASSWORD

_BUG_LINE = re.compile(r"^内部错误（编号 ([0-9a-f]{8})）：这是 LeiAn 的问题，不是您的操作有误。详情已记入 (\S+)，报告时请附上编号。$")


def _sample_home(tmp_path) -> str:
    source = tmp_path / "cases.jsonl"
    source.write_text(json.dumps({"id": "C1", "text": "楼上漏水，天花板发霉", "occurred_on": "2025-03-01",
                                  "parties": [{"name": "王建国", "role": "申请人"}]}, ensure_ascii=False) + "\n",
                      encoding="utf-8")
    home = str(tmp_path / "home")
    assert CliRunner().invoke(cli, ["--home", home, "ingest", "--no-index", str(source)]).exit_code == 0
    return home


def test_a_user_mistake_is_one_plain_line_and_exit_1(tmp_path):
    home = _sample_home(tmp_path)
    for args, expected in ((["risk", "--level", "紫"], "错误：未知风险等级 紫"),
                           (["followup", "record", "无此人", "--note", "回访"], "错误：没有名为或编号为")):
        result = CliRunner().invoke(cli, ["--home", home, *args])
        assert result.exit_code == 1, result.output
        assert len(result.output.strip().splitlines()) == 1 and result.output.startswith(expected), result.output
        assert "Traceback" not in result.output


def test_a_path_the_system_refuses_is_one_plain_line_naming_it_not_a_bug(tmp_path):
    # An output under a file (it cannot be a folder): the person mistyped a path, LeiAn has no bug to log.
    home = _sample_home(tmp_path)
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    for args in (["export", str(tmp_path / "notes.txt" / "all.csv")], ["report", "--out", str(tmp_path / "notes.txt" / "r"),
                                                                        "--no-clusters"]):
        result = CliRunner().invoke(cli, ["--home", home, *args])
        assert result.exit_code == 1, result.output
        [line] = result.output.strip().splitlines()
        assert line.startswith(f"错误：无法读写 {tmp_path / 'notes.txt'}") and "内部错误" not in line, line
    assert not log_path(Home.resolve(home).root).exists()


def test_a_bug_prints_its_id_and_the_log_and_the_log_holds_the_traceback(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "cases.sqlite").write_bytes(b"this is not a database, but LeiAn finds it where its store should be" * 100)
    result = CliRunner().invoke(cli, ["--home", str(home), "stats"])
    assert result.exit_code == BUG_EXIT
    [line] = result.output.strip().splitlines()
    bug_id, path = _BUG_LINE.match(line).groups()
    assert path == str(log_path(home)) and "Traceback" not in result.output
    log = log_path(home).read_text(encoding="utf-8")
    entry = log[log.index(f"[{bug_id}]"):]
    assert "leian stats" in entry.splitlines()[0] and "Traceback (most recent call last)" in entry and "DatabaseError" in entry
    assert oct(log_path(home).stat().st_mode & 0o777) == "0o600"
    # A second bug gets an id of its own, appended to the same log.
    again = CliRunner().invoke(cli, ["--home", str(home), "stats"])
    second_id = _BUG_LINE.match(again.output.strip()).group(1)
    assert second_id != bug_id and f"[{bug_id}]" in log_path(home).read_text(encoding="utf-8")


def _web_client(home: Home):
    app = create_app(home, testing=True)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    with app.app_context():
        services().accounts.add("adm", "admin", PASSWORD)
    client = app.test_client()
    answer = client.post("/api/login", json={"username": "adm", "password": PASSWORD})
    assert answer.status_code == 200
    return client


def test_web_user_mistakes_are_4xx_json_with_their_message():
    client = _web_client(Home.resolve(tempfile.mkdtemp(prefix="leian-web-4xx-")))
    for url, status, detail in (("/api/risk?level=紫", 400, "未知风险等级 紫"),
                                ("/api/heat?at=2030-01", 400, "案件库中还没有同时带日期、地点和类型的案件"),
                                ("/api/cases/NOPE", 404, "没有编号为 NOPE 的案件")):
        answer = client.get(url)
        assert answer.status_code == status, (url, answer.get_json())
        error = answer.get_json()["error"]
        assert error["code"] == status and detail in error["detail"] and "log_id" not in error


def test_a_bug_behind_a_search_is_a_500_with_a_log_id_not_a_400():
    """A corrupt index manifest makes json raise ValueError inside the search: LeiAn's fault, never 请求有误."""
    home = Home.resolve(tempfile.mkdtemp(prefix="leian-web-500-"))
    client = _web_client(home)
    home.index_dir.mkdir(parents=True, exist_ok=True)
    (home.index_dir / "manifest.json").write_text("{not json", encoding="utf-8")
    answer = client.get("/api/search?q=楼上漏水")
    assert answer.status_code == 500
    error = answer.get_json()["error"]
    assert error["message"] == "服务器内部错误" and re.fullmatch(r"[0-9a-f]{8}", error["log_id"])
    assert error["log_id"] in error["detail"] and "Traceback" not in answer.get_data(as_text=True)
    log = log_path(home.root).read_text(encoding="utf-8")
    assert f"[{error['log_id']}]" in log and "GET /api/search" in log and "JSONDecodeError" in log
