"""Input that used to crash or lose records: each becomes one named reject (file:line id field),
the rest of the file is stored; a record of the largest accepted size goes through every step;
exports round-trip and escape what they must. Through the real `leian` command and store."""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from leian.data.ingest import ingest
from leian.data.readers import read_records, write_records
from leian.data.record import MAX_PARTIES
from leian.data.store import Store
from leian.graph.export import write_graphml, write_neo4j_csv
from leian.graph.model import Node

LEIAN = [sys.executable, "-c", "from leian.cli import main; main()"]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


def leian(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*LEIAN, "--home", str(home), *args], capture_output=True, text=True, env=ENV, timeout=900)


def good(i: int) -> str:
    return json.dumps({"id": f"G{i}", "text": f"楼上漏水第{i}次，楼下天花板发霉", "parties": [{"name": f"王{i}号"}]},
                      ensure_ascii=False)


#: (the line as written, the field its reject must name)
CRASHERS = [
    ('{"id": "X1", "text": "金额巨大", "amount": 1' + "0" * 309 + "}", "amount"),
    ('{"id": "X2", "text": "孤立代理项\\ud800在正文"}', "text"),
    ('{"id": "X3", "text": "漏水", "parties": [{"name": "王\\udfff建国"}]}', "parties[0].name"),
    ('{"id": "X4", "text": "漏水", "\\ud800备注": 1}', "\\ud800备注"),
    ('{"id": "X5", "text": "漏水", "note": ' + "[" * 1000 + "]" * 1000 + "}", "record"),
    ('{"id": "X6", "text": "漏水", "note": ' + "[" * 50 + "]" * 50 + "}", "note"),
    ('{"id": "X7", "text": "漏水", "amount": ' + "9" * 5000 + "}", "record"),
    (json.dumps({"id": "X8", "text": "群体欠薪", "parties": [{"name": f"工人{i}"} for i in range(1000)]}, ensure_ascii=False),
     "parties"),
    (json.dumps({"id": "a/b", "text": "编号带斜杠"}, ensure_ascii=False), "id"),
    (json.dumps({"id": "..", "text": "编号是点点"}, ensure_ascii=False), "id"),
]


def test_each_crashing_record_is_one_named_reject_and_the_rest_is_stored(tmp_path):
    lines = []
    for i, (line, _) in enumerate(CRASHERS):
        lines += [good(2 * i), line, good(2 * i + 1)]
    source = tmp_path / "cases.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = leian(tmp_path / "home", "ingest", str(source), "--no-index", "--json")
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    assert json.loads(run.stdout)["inserted"] == 2 * len(CRASHERS)
    rejects = [json.loads(line) for line in next((tmp_path / "home" / "rejects").glob("*.jsonl")).read_text().splitlines()]
    assert [r["line"] for r in rejects] == [3 * i + 2 for i in range(len(CRASHERS))]
    for reject, (_, field) in zip(rejects, CRASHERS):
        assert any(e["field"].startswith(field) for e in reject["errors"]), reject["errors"]
        assert all(m.startswith(f"cases.jsonl:{reject['line']} ") for m in reject["messages"])
    assert "上限 200" in rejects[7]["messages"][0] and "嵌套" in rejects[4]["messages"][0]


def test_a_record_with_the_most_parties_allowed_goes_through_every_step(tmp_path):
    record = {"id": "BIG", "text": "工地拖欠两百名工人工资，工人集体讨薪", "type": "劳动/欠薪",
              "parties": [{"name": f"{'赵钱孙李周吴郑王'[i % 8]}工{i}号", "role": "申请人", "phone": f"139{i:08d}"}
                          for i in range(MAX_PARTIES - 1)] + [{"name": "恒达建筑劳务有限公司", "role": "被申请人"}]}
    other = {"id": "BIG2", "text": "同一批工人再次讨薪", "parties": record["parties"][:3]}
    source = tmp_path / "big.jsonl"
    source.write_text(json.dumps(record, ensure_ascii=False) + "\n" + json.dumps(other, ensure_ascii=False) + "\n",
                      encoding="utf-8")
    home = tmp_path / "home"
    run = leian(home, "ingest", str(source), "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["inserted"] == 2
    for command in (["neighbors", "BIG", "--json"], ["repeats", "--json"], ["ingest", str(source)]):
        done = leian(home, *command)
        assert done.returncode == 0 and "Traceback" not in done.stderr, (command, done.stderr)
    assert "BIG2" in leian(home, "repeats", "--json").stdout


def test_csv_long_cells_and_an_unclosed_quote_are_reported_and_the_other_rows_stored(tmp_path):
    rows = [["id", "text"], ["C1", "漏水"], ["C2", "漏" * 131_073], ["C3", "噪音"]]
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    text = buffer.getvalue() + 'C4,"引号没有关上\nC5,邻居噪音\nC6,"正常的""引号"""\nC7,"多行\n文本"\nC8,' + "x" * 1_100_000 + "\nC9,最后一行\n"
    source = tmp_path / "cases.csv"
    source.write_text(text, encoding="utf-8")
    with Store(tmp_path / "home" / "cases.sqlite") as store:
        report = ingest(store, [source], rejects_dir=tmp_path / "home" / "rejects")
        assert sorted(store.ids()) == ["C1", "C3", "C5", "C6", "C7", "C9"]
        assert store.get("C6").text == '正常的"引号"' and store.get("C7").text == "多行\n文本"
    messages = report.reject_messages
    assert messages[0].startswith("cases.csv:3 id=C2 text") and "131073" in messages[0]
    assert messages[1].startswith("cases.csv:5 record") and "引号未闭合" in messages[1]
    assert messages[2].startswith("cases.csv:10 record") and "记录过长" in messages[2]


def test_exit_codes_tell_rejected_records_from_a_file_that_could_not_be_read(tmp_path):
    home = tmp_path / "home"
    (tmp_path / "ok.jsonl").write_text(good(1) + "\n", encoding="utf-8")
    (tmp_path / "bad.jsonl").write_text(good(2) + '\n{"id": "B", "text": ""}\n', encoding="utf-8")
    (tmp_path / "cases.pdf").write_bytes(b"%PDF")
    (tmp_path / "noheader.csv").write_text("", encoding="utf-8")
    codes = {name: leian(home, "ingest", "--no-index", *files).returncode for name, files in {
        "ok": [str(tmp_path / "ok.jsonl")], "rejected": [str(tmp_path / "bad.jsonl")],
        "missing": [str(tmp_path / "nope.jsonl")], "type": [str(tmp_path / "cases.pdf")],
        "empty csv": [str(tmp_path / "noheader.csv")]}.items()}
    assert codes == {"ok": 0, "rejected": 1, "missing": 2, "type": 2, "empty csv": 2}


HOSTILE = [
    {"id": "E1", "text": "=HYPERLINK(\"http://evil.example\")漏水", "title": "[转办]楼上漏水纠纷", "type": "邻里/漏水",
     "handling": "+86 138 0000 1111 来电", "agreement": "-2000元由楼上承担", "note": "@SUM(A1)", "memo": "{不是JSON}",
     "quote": "'=已转义", "ctrl": "名字\x01带控制符_x0041_", "tags": ["=坏标签", "[x]"], "location": {"town": "三灶镇", "address": "'[东街]"},
     "parties": [{"name": "王建国", "phone": "13800001111", "role": "申请人"}], "amount": 4000},
    {"id": "E2", "text": "{\"a\": 1} 像 JSON 的正文", "title": "[1, 2]", "extra": {"nested": "=1+1"}, "flag": True},
]


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_export_round_trips_and_neutralises_formulas(tmp_path, suffix):
    first = tmp_path / f"first{suffix}"
    write_records(HOSTILE, first)
    back = [r.data for r in read_records(first)]
    assert [r.error for r in read_records(first)] == [None, None]
    expected = json.loads(json.dumps(HOSTILE))
    expected[0]["amount"] = "4000"  # a spreadsheet cell has no number type for fields it does not know
    expected[1]["flag"] = "true"
    assert back == expected
    second = tmp_path / f"second{suffix}"
    write_records(back, second)
    assert [r.data for r in read_records(second)] == back
    if suffix == ".csv":
        assert second.read_bytes() == first.read_bytes()
        cells = [cell for row in csv.reader(first.open(encoding="utf-8")) for cell in row]
    else:
        import openpyxl

        sheet = openpyxl.load_workbook(first).worksheets[0]
        cells = [c for row in sheet.iter_rows() for c in row]
        assert all(c.data_type == "s" for c in cells if c.value is not None)  # never a formula
        assert all(c.quotePrefix for c in cells if isinstance(c.value, str) and c.value[:1] in "=+-@")
        cells = [c.value for c in cells if c.value is not None]
    if suffix == ".csv":
        assert not [c for c in cells if c[:1] in ("=", "+", "-", "@")]


def test_cli_export_and_reingest_keep_every_record(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in HOSTILE), encoding="utf-8")
    assert leian(tmp_path / "a", "ingest", "--no-index", str(source)).returncode == 0
    for suffix in (".csv", ".xlsx"):
        out = tmp_path / f"all{suffix}"
        assert leian(tmp_path / "a", "export", str(out)).returncode == 0
        again = leian(tmp_path / f"b{suffix}", "ingest", "--no-index", "--json", str(out))
        assert again.returncode == 0 and json.loads(again.stdout)["inserted"] == 2, again.stdout + again.stderr


def test_graph_exports_escape_control_characters_and_array_delimiters(tmp_path):
    nodes = [Node("party:P1", "Party", {"name": "王\x01建国", "names": ["王建国;王 建国", "王|建国"], "kind": "person"}),
             Node("party:P2", "Party", {"name": "李\x0b梅", "names": ["李梅"], "kind": "person"})]
    write_graphml(nodes, [], tmp_path / "g.graphml")
    root = ElementTree.parse(tmp_path / "g.graphml").getroot()
    assert "王\\x01建国" in ElementTree.tostring(root, encoding="unicode")
    write_neo4j_csv(nodes, [], tmp_path / "csv")
    script = (tmp_path / "csv" / "import.sh").read_text(encoding="utf-8")
    delimiter = script.split("--array-delimiter='")[1][0]
    assert delimiter not in ";|"
    header, *rows = list(csv.reader((tmp_path / "csv" / "nodes_Party.csv").open(encoding="utf-8")))
    column = header.index("names:string[]")
    assert rows[0][column].split(delimiter) == ["王建国;王 建国", "王|建国"]


def test_markdown_library_export_escapes_html(tmp_path):
    from leian.data.record import validate
    from leian.library.export import export_library
    from leian.library.store import Libraries

    with Store(tmp_path / "cases.sqlite") as store:
        store.upsert_batch([validate({"id": "H1", "title": "<img src=x onerror=alert(1)>", "text": "<script>alert(1)</script>漏水"})])
        libs = Libraries(store)
        libs.create("<b>库</b>")
        libs.add_cases("<b>库</b>", ["H1"])
        export_library(libs, "<b>库</b>", "md", tmp_path / "out.md")
    text = (tmp_path / "out.md").read_text(encoding="utf-8")
    assert "<script>" not in text and "<img" not in text and "<b>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;漏水" in text
