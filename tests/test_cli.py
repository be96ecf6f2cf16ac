"""The `leian` command line on a real home: contracts, plain errors, documented options."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import click
import pytest
from click.testing import CliRunner

from leian.cli import cli
from leian.data.store import SCHEMA_VERSION

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import cli_docs  # noqa: E402


def leian(*args: str, home: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from leian.cli import main; main()", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("demo") / "home"
    result = CliRunner().invoke(cli, ["--home", str(home), "ingest", "--no-index", str(ROOT / "data/samples/promediconv.jsonl")])
    assert result.exit_code == 0, result.output
    return home


def test_stats_json(demo_home):
    result = CliRunner().invoke(cli, ["--home", str(demo_home), "stats", "--json"])
    data = json.loads(result.output)
    assert data["cases"] == 97 and data["schema_version"] == SCHEMA_VERSION
    assert sum(data["by_category"].values()) == 97


def test_show_json_keeps_the_original(demo_home):
    data = json.loads(CliRunner().invoke(cli, ["--home", str(demo_home), "show", "PMC-001", "--json"]).output)
    assert data["case"]["category"] == "劳动" and data["original"]["type"] == "劳资劳动纠纷"


def test_show_in_chinese(demo_home):
    output = CliRunner().invoke(cli, ["--home", str(demo_home), "show", "PMC-001"]).output
    assert "类型：劳动" in output and "纠纷经过：" in output


@pytest.mark.parametrize(
    "args, message",
    [
        (["show", "NOPE"], "错误：没有编号为 'NOPE' 的案件"),
        (["ingest", "missing.jsonl"], "错误：文件不存在：missing.jsonl"),
        (["export", "out.txt"], "错误：out.txt：不支持的文件类型（请用 .jsonl、.csv 或 .xlsx）"),
    ],
)
def test_user_mistakes_are_one_plain_line(demo_home, args, message):
    result = leian(*args, home=demo_home)
    assert result.returncode != 0
    assert result.stderr.strip() == message
    assert "Traceback" not in result.stderr


def test_a_file_option_naming_no_file_says_so_in_chinese(demo_home):
    result = leian("library", "add", "库", "--ids-from", "nope.txt", home=demo_home)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == "错误：'--ids-from' 的值无效：文件 'nope.txt' 不存在。"  # not "File 'nope.txt'"


def test_serve_on_a_busy_port_says_so_before_claiming_to_have_started(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = leian("serve", "--port", str(port), home=tmp_path / "home")
    assert result.returncode == 1 and "已启动" not in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"错误：端口 {port} 已被占用（另一个 LeiAn 或其他程序正在使用）：请换一个 --port，或先停止那个程序"


def test_no_store_yet_is_a_plain_error(tmp_path):
    result = leian("stats", home=tmp_path / "empty")
    assert result.returncode == 1
    assert result.stderr.startswith("错误：") and "中还没有案件库" in result.stderr


def test_ingest_with_rejects_exits_1_and_names_them(tmp_path):
    path = tmp_path / "cases.jsonl"
    path.write_text('{"id": "A1", "text": "漏水"}\n{"id": "A2", "text": "噪音", "amount": "abc"}\n', encoding="utf-8")
    hour = lambda: dt.datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y%m%d-%H")  # noqa: E731
    before = hour()
    result = leian("ingest", "--no-index", str(path), home=tmp_path / "home")
    after = hour()
    assert result.returncode == 1
    assert "读取 2 条，入库 1 件" in result.stdout
    assert "拒收：cases.jsonl:2 id=A2 amount（金额）：不是数字：'abc'" in result.stderr
    rejects = list((tmp_path / "home" / "rejects").glob("*.jsonl"))
    assert len(rejects) == 1
    assert rejects[0].name[:11] in {before, after}  # named by the time in 北京时间, as the ingest log shows it


def test_ingest_names_a_misspelt_or_chinese_field_name_and_keeps_its_value(tmp_path):
    # A column LeiAn does not read is kept as given; one that looks meant for a field it reads would
    # otherwise lose its values without a word (no date, no outcome), so ingest names it once per file.
    sheet = tmp_path / "网格上报.csv"
    sheet.write_text("id,text,occured_on,location.twon,备注\nC1,楼上漏水,2024-03-11,三灶镇,无\nC2,隔壁噪音,2024-04-02,红旗镇,无\n",
                     encoding="utf-8")
    lines = tmp_path / "cases.jsonl"
    lines.write_text('{"id": "J1", "text": "欠薪三个月", "调解结果": "调解成功"}\n{"id": "J2", "txet": "字段拼错"}\n', encoding="utf-8")
    result = leian("ingest", "--no-index", str(sheet), str(lines), home=tmp_path / "home")
    assert result.returncode == 1  # J2 has no text: rejected, and the hint says why
    assert "读取 4 条，入库 3 件" in result.stdout
    for line in ("注意：网格上报.csv：字段 'occured_on' 未读入（第 2 行起 2 条）：是否应为 occurred_on（发生日期）？",
                 "注意：网格上报.csv：字段 'location.twon' 未读入（第 2 行起 2 条）：是否应为 location.town（地点的镇街）？",
                 "注意：cases.jsonl：字段 '调解结果' 未读入（第 1 行起 1 条）：是否应为 outcome（调解结果）？",
                 "注意：cases.jsonl：字段 'txet' 未读入（第 2 行起 1 条）：是否应为 text（纠纷经过）？"):
        assert line in result.stderr.splitlines()
    assert "备注" not in result.stderr  # a register's own column resembles no field: not named
    shown = json.loads(leian("show", "C1", "--json", home=tmp_path / "home").stdout)
    assert shown["original"]["occured_on"] == "2024-03-11" and shown["case"]["occurred_on"] is None
    report = json.loads(leian("ingest", "--no-index", "--json", str(lines), home=tmp_path / "home").stdout)
    assert {(m["field"], m["meant"], m["first_line"], m["records"]) for m in report["misnamed_fields"]} == \
        {("调解结果", "outcome", 1, 1), ("txet", "text", 2, 1)}


def test_the_server_log_is_in_the_homes_time_zone_without_faiss_loader_chatter():
    # What `leian serve` sets up before waitress starts, then a real faiss import (which tells at INFO
    # which CPU builds it could not load) and waitress's first line.
    script = ("import logging; from leian.web.cli import _configure_logging; _configure_logging('Asia/Urumqi'); "
              "import faiss; logging.getLogger('waitress').info('Serving on http://127.0.0.1:5000')")
    hour = lambda: dt.datetime.now(ZoneInfo("Asia/Urumqi")).strftime("%Y-%m-%d %H")  # noqa: E731
    before = hour()
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    after = hour()
    assert done.returncode == 0, done.stderr
    assert "faiss.loader" not in done.stderr and "ModuleNotFoundError" not in done.stderr
    serving = [line for line in done.stderr.splitlines() if line.endswith("INFO waitress: Serving on http://127.0.0.1:5000")]
    assert len(serving) == 1 and serving[0][:13] in {before, after}  # Urumqi's hour, not the machine's UTC


def test_an_empty_risk_register_reads_as_a_whole_sentence(demo_home):
    result = CliRunner().invoke(cli, ["--home", str(demo_home), "risk", "--today", "2026-01-01", "--where", "不存在镇"])
    assert result.exit_code == 0 and result.output == "风险台账（2026-01-01）：0 人/户/单位\n"  # no dangling "；"


def test_export_round_trips(demo_home, tmp_path):
    for suffix in (".jsonl", ".csv", ".xlsx"):
        out = tmp_path / f"all{suffix}"
        assert leian("export", str(out), home=demo_home).returncode == 0
        again = leian("ingest", "--no-index", "--json", str(out), home=tmp_path / f"home{suffix}")
        assert json.loads(again.stdout)["inserted"] == 97, again.stderr


def test_every_option_has_help_text():
    undocumented = []
    for path in cli_docs.walk(cli):
        command = cli
        for name in path:
            command = command.commands[name]
        for param in command.params:
            if isinstance(param, click.Option) and not param.help:
                undocumented.append(f"leian {' '.join(path)} {param.opts[0]}")
        if not command.help:
            undocumented.append(f"leian {' '.join(path)}")
    assert undocumented == []


def test_cli_reference_is_up_to_date():
    assert (ROOT / "docs" / "cli.md").read_text(encoding="utf-8") == cli_docs.render(), (
        "docs/cli.md is out of date: run python tools/cli_docs.py"
    )


def test_demo_loads_sample_and_generated_cases_and_creates_logins(tmp_path):
    home = tmp_path / "demo"
    result = leian("demo", "--generated", "60", "--no-serve", home=home)
    assert result.returncode == 0, result.stderr
    password = (home / "demo-login.txt").read_text(encoding="utf-8").strip()
    assert f"演示账号（密码均为 {password}）" in result.stdout
    assert result.stdout.index("demo-mediator") < result.stdout.index("读取")  # the logins come first
    assert "正在为 157 件案件建立检索索引和知识图谱（仅首次运行需要" in result.stdout
    stats = json.loads(leian("stats", "--json", home=home).stdout)
    assert stats["cases"] == 97 + 60
    users = json.loads(leian("user", "list", "--json", home=home).stdout)["users"]
    assert sorted(u["role"] for u in users) == ["admin", "analyst", "mediator", "trainer"]
    found = json.loads(leian("search", "--json", "--top-k", "3", "拖欠工资不给", home=home).stdout)
    assert len(found["results"]) == 3
    again = leian("demo", "--generated", "60", "--no-serve", home=home)
    assert "入库 0 件（新增 0，更新 0），未变 157 件" in again.stdout
    assert "仅首次运行需要" not in again.stdout
