"""Ingest on the real SQLite store: every bad-record kind is rejected with a named error
while the good records of the same file are stored, and nothing is duplicated."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from leian.data.ingest import ingest
from leian.data.readers import write_records
from leian.data.record import RecordError, validate
from leian.data.store import Store

GOOD = [
    {
        "id": "JW-2024-000123",
        "text": "楼上卫生间漏水导致楼下天花板发霉，双方多次协商未果。",
        "title": "三灶镇海澄村楼上漏水纠纷",
        "type": "邻里纠纷",
        "occurred_on": "2024-03-11",
        "reported_on": "2024-03-12",
        "closed_on": "2024-03-20",
        "location": {"province": "广东省", "city": "珠海市", "district": "金湾区", "town": "三灶镇",
                     "community": "海澄村", "grid": "海澄村第3网格", "address": "三灶镇海澄村东街12号"},
        "parties": [
            {"name": "王建国", "role": "申请人", "kind": "person", "phone": "138-0000-1111", "id_number": None},
            {"name": "珠海市恒达建筑劳务有限公司", "role": "被申请人", "kind": "organization"},
        ],
        "mediators": [{"name": "李梅", "org": "三灶镇人民调解委员会"}],
        "channel": "网格员排查",
        "handling": "调解员组织双方现场查看，确认漏水点。",
        "outcome": "调解成功",
        "agreement": "楼上住户承担维修费4000元。",
        "amount": 4000,
        "tags": ["典型案例"],
        "note_from_centre": "kept as an extra field",
    },
    {"id": "JW-2024-000124", "text": "拖欠工资三个月，工人多次讨要未果。", "type": "劳资纠纷",
     "location": "广东省珠海市金湾区红旗镇广安村", "parties": [{"name": "陈志强等20人"}]},
]

#: (name, bad record, expected field path, expected words in the message)
BAD = [
    ("missing id", {"text": "漏水"}, "id", "缺少或为空"),
    ("empty id", {"id": "  ", "text": "漏水"}, "id", "缺少或为空"),
    ("numeric id", {"id": 17, "text": "漏水"}, "id", "须为字符串"),
    ("missing text", {"id": "B1"}, "text", "缺少或为空"),
    ("empty text", {"id": "B1", "text": ""}, "text", "缺少或为空"),
    ("bad date", {"id": "B1", "text": "漏水", "occurred_on": "2024-02-30"}, "occurred_on", "不是有效日期"),
    ("closed before occurred", {"id": "B1", "text": "漏水", "occurred_on": "2024-03-11", "closed_on": "2024-03-01"},
     "closed_on", "早于发生日期"),
    ("non-numeric amount", {"id": "B1", "text": "漏水", "amount": "四千"}, "amount", "不是数字"),
    ("parties not a list", {"id": "B1", "text": "漏水", "parties": "王建国"}, "parties", "须为列表"),
    ("title not text", {"id": "B1", "text": "漏水", "title": 12}, "title", "须为字符串"),
    ("tags wrong type", {"id": "B1", "text": "漏水", "tags": [1]}, "tags[0]", "须为字符串"),
    ("unknown role", {"id": "B1", "text": "漏水", "parties": [{"name": "王", "role": "法官"}]}, "parties[0].role", "未知身份"),
    ("unknown kind", {"id": "B1", "text": "漏水", "parties": [{"name": "王", "kind": "robot"}]}, "parties[0].kind", "未知类别"),
    ("bad phone", {"id": "B1", "text": "漏水", "parties": [{"name": "王"}, {"name": "李", "phone": "12345"}]},
     "parties[1].phone", "不是电话号码"),
    ("bad id number", {"id": "B1", "text": "漏水", "parties": [{"name": "王", "id_number": "110105194912310021"}]},
     "parties[0].id_number", "校验位"),
    ("over-long text", {"id": "B1", "text": "漏" * 20_001}, "text", "过长"),
    ("not an object", ["B1", "漏水"], "record", "JSON 对象"),
]


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "home" / "cases.sqlite") as store:
        yield store


def run(store: Store, tmp_path: Path, *paths: Path, **kwargs):
    return ingest(store, paths, rejects_dir=tmp_path / "home" / "rejects", **kwargs)


def read_rejects(report) -> list[dict]:
    return [json.loads(line) for line in Path(report.rejects_path).read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("name, bad, field, words", BAD, ids=[b[0] for b in BAD])
def test_bad_record_is_rejected_and_good_ones_stored(store, tmp_path, name, bad, field, words):
    path = write_jsonl(tmp_path / "cases.jsonl", [GOOD[0], bad, GOOD[1]])
    report = run(store, tmp_path, path)
    assert (report.inserted, report.rejected) == (2, 1)
    assert sorted(store.ids()) == ["JW-2024-000123", "JW-2024-000124"]
    [reject] = read_rejects(report)
    assert reject["line"] == 2 and reject["source"] == "cases.jsonl"
    assert any(e["field"] == field and words in e["message"] for e in reject["errors"]), reject["errors"]
    message = next(m for m in reject["messages"] if f" {field}（" in m)
    assert message.startswith("cases.jsonl:2 ")
    if isinstance(bad, dict) and isinstance(bad.get("id"), str) and bad["id"].strip():
        assert f"id={bad['id']}" in message
    if name == "bad id number":  # the rejects file keeps no full ID number
        assert reject["record"]["parties"][0]["id_number"] == "110105***********1"
    else:
        assert reject["record"] == (bad if isinstance(bad, dict) else None)


def test_error_message_names_file_line_id_and_field(store, tmp_path):
    good = [{"id": f"G{i}", "text": f"第{i}个案件"} for i in range(16)]
    bad = {"id": "JW-3", "text": "漏水", "parties": [{"name": "王"}, {"name": "李", "phone": "call me"}]}
    report = run(store, tmp_path, write_jsonl(tmp_path / "cases.jsonl", good + [bad]))
    assert report.reject_messages == ["cases.jsonl:17 id=JW-3 parties[1].phone（第2位当事人的电话）：不是电话号码：'call me'"]
    assert store.count() == 16


def test_duplicate_id_inside_one_file(store, tmp_path):
    changed = dict(GOOD[0], text="另一段经过")
    path = write_jsonl(tmp_path / "cases.jsonl", [GOOD[0], GOOD[1], changed])
    report = run(store, tmp_path, path)
    assert (report.inserted, report.rejected) == (2, 1)
    assert "本文件中编号重复（首次出现在第 1 行）" in report.reject_messages[0]
    assert store.get("JW-2024-000123").text == GOOD[0]["text"]


def test_broken_utf8_bom_and_truncated_last_line(store, tmp_path):
    lines = [json.dumps(r, ensure_ascii=False).encode() for r in GOOD]
    broken = b'{"id": "B2", "text": "\xe6\xbc\x8f\xff"}'
    truncated = json.dumps({"id": "B3", "text": "截断的记录"}, ensure_ascii=False).encode()[:-9]
    path = tmp_path / "cases.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + lines[0] + b"\n" + broken + b"\n" + lines[1] + b"\n" + truncated)
    report = run(store, tmp_path, path)
    assert (report.inserted, report.rejected) == (2, 2)
    messages = "\n".join(report.reject_messages)
    assert "cases.jsonl:2 record（记录）：该行第" in messages
    assert "cases.jsonl:4 record（记录）：记录不完整" in messages


def test_a_json_line_that_stops_short_is_told_as_such_and_a_bad_one_by_its_column(store, tmp_path):
    path = tmp_path / "cases.jsonl"
    path.write_text('{"id": "B4", "text": \n{"id": "B5" "text": "漏水"}\n' + json.dumps(GOOD[1], ensure_ascii=False) + "\n",
                    encoding="utf-8")
    report = run(store, tmp_path, path)
    assert (report.inserted, report.rejected) == (1, 2)
    assert report.reject_messages == ["cases.jsonl:1 record（记录）：不是有效的 JSON（记录在行尾没有写完：此处应为一个值）",
                                      "cases.jsonl:2 record（记录）：不是有效的 JSON（第 13 列：缺少逗号）"]


def test_csv_missing_required_column_is_a_file_error(store, tmp_path):
    path = tmp_path / "cases.csv"
    path.write_text("id,title\nA1,漏水\n", encoding="utf-8")
    report = run(store, tmp_path, path)
    assert report.file_errors == ["cases.csv：缺少必需的列：text"]
    assert store.count() == 0 and not report.ok


def test_csv_with_chinese_headings_is_told_which_field_each_is(store, tmp_path):
    # A register exported from a spreadsheet with its own headings: the file cannot be read, and the error
    # says what to rename each heading to rather than only which columns are missing.
    path = tmp_path / "台账.csv"
    path.write_text("编号,纠纷经过,发生日期,调解结果,备注\nZ1,楼上漏水,2024-03-11,调解成功,无\n", encoding="utf-8")
    report = run(store, tmp_path, path)
    assert report.file_errors == ["台账.csv：缺少必需的列：id、text（表头须用字段名，可改为：编号 → id，纠纷经过 → text，"
                                  "发生日期 → occurred_on，调解结果 → outcome）"]
    assert store.count() == 0
    # A right dotted column is not "meant" for another field; a misspelt one is named with its level.
    path.write_text("编号,纠纷经过,location.town,location.twon\nZ1,楼上漏水,三灶镇,三灶镇\n", encoding="utf-8")
    assert run(store, tmp_path, path).file_errors == ["台账.csv：缺少必需的列：id、text（表头须用字段名，可改为：编号 → id，"
                                                      "纠纷经过 → text，location.twon → location.town）"]


def test_a_flat_registers_place_columns_are_named_with_their_place_under_location(store, tmp_path):
    # 镇街 / town / 地址 at the top are kept as given (not read as the place): the ingest says where they belong.
    path = tmp_path / "台账.csv"
    path.write_text("id,text,镇街,town,地址,备注\nF1,楼上漏水,三灶镇,三灶镇,西街75号,无\n", encoding="utf-8")
    report = run(store, tmp_path, path)
    assert [(m["field"], m["meant"]) for m in report.misnamed_fields] == \
        [("镇街", "location.town"), ("town", "location.town"), ("地址", "location.address")]
    assert "台账.csv：字段 '镇街' 未读入（第 2 行起 1 条）：是否应为 location.town（地点的镇街）？" in report.misnamed_messages
    assert store.get("F1").location == {}


def test_a_gbk_csv_and_an_xls_renamed_say_how_to_save_them(store, tmp_path):
    # What Excel on a Chinese Windows saves as "CSV" is GBK; an old .xls renamed .xlsx is no zip at all.
    sheet = tmp_path / "台账.csv"
    sheet.write_bytes("id,text\nB1,楼上漏水\n".encode("gbk") + b"B2,\xff\xfe\xff\n")
    report = run(store, tmp_path, sheet)
    assert report.reject_messages == ["台账.csv:2 record（记录）：该行含有无效的 UTF-8 编码（像是 GBK 编码：请在 Excel 中另存为"
                                      "“CSV UTF-8（逗号分隔）”，或用记事本另存为 UTF-8）",
                                      "台账.csv:3 record（记录）：该行含有无效的 UTF-8 编码"]  # not GBK either: no advice
    old = tmp_path / "台账.xlsx"
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504)  # the start of an OLE2 (.xls) file
    report = run(store, tmp_path, old)
    assert report.file_errors == ["台账.xlsx：不是 .xlsx 工作簿（旧版 .xls 或改了扩展名的文件？请在 Excel 中另存为 .xlsx 或 CSV）"]


def test_csv_row_with_wrong_cell_count(store, tmp_path):
    path = tmp_path / "cases.csv"
    path.write_text("id,text,outcome\nA1,漏水,调解成功\nA2,噪音\nA3,欠薪,调解失败\n", encoding="utf-8")
    report = run(store, tmp_path, path)
    assert sorted(store.ids()) == ["A1", "A3"]
    assert report.reject_messages == ["cases.csv:3 record（记录）：该行有 2 个单元格，表头有 3 列"]


def test_csv_list_cells_and_dotted_columns(store, tmp_path):
    path = tmp_path / "cases.csv"
    path.write_text(
        "id,text,location.town,location.grid,parties,mediators,tags\n"
        'A1,漏水,三灶镇,海澄村第3网格,王建国|申请人|150 2222 3333;恒达劳务公司|被申请人,李梅|三灶镇人民调解委员会,典型案例;漏水\n',
        encoding="utf-8",
    )
    assert run(store, tmp_path, path).ok
    case = store.get("A1")
    assert case.location == {"town": "三灶镇", "grid": "海澄村第3网格"}
    assert [(p.name, p.role, p.phone_norm, p.kind) for p in case.parties] == [
        ("王建国", "申请人", "15022223333", "person"),
        ("恒达劳务公司", "被申请人", None, "organization"),
    ]
    assert (case.mediators[0].name, case.mediators[0].org) == ("李梅", "三灶镇人民调解委员会")
    assert case.tags == ["典型案例", "漏水"]


def test_normalised_values_sit_beside_the_original(store, tmp_path):
    record = {
        "id": "N1",
        "title": "樓上漏水糾紛",
        "text": "ＡＢ棟１２號樓上衛生間漏水",
        "type": "社區鄰里糾紛",
        "parties": [
            {"name": "王 建國", "phone": "+86 138-0000-1111", "id_number": "11010519491231002x"},
            {"name": "李強", "phone": "138****1111"},
        ],
    }
    assert run(store, tmp_path, write_jsonl(tmp_path / "n.jsonl", [record])).ok
    case = store.get("N1")
    assert case.raw == record
    assert case.text == record["text"] and case.title == record["title"]
    assert case.search_text == "楼上漏水纠纷 AB栋12号楼上卫生间漏水"
    assert case.category == "邻里"
    first, second = case.parties
    assert (first.name, first.name_norm, first.phone_norm, first.id_number_norm) == (
        "王 建國", "王建国", "13800001111", "11010519491231002X")
    assert second.phone_norm == "138****1111"


def test_unmapped_types_are_kept_and_reported(store, tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [{"id": "T1", "text": "邻居家的鸡飞进院子", "type": "家禽越界纠纷"}])
    report = run(store, tmp_path, path)
    assert report.ok and dict(report.unmapped_types) == {"家禽越界纠纷": 1}
    case = store.get("T1")
    assert (case.type, case.category) == ("家禽越界纠纷", None)
    assert store.stats()["unmapped_types"] == {"家禽越界纠纷": 1}


def test_reingest_is_idempotent_and_updates_keep_created_at(store, tmp_path):
    path = write_jsonl(tmp_path / "cases.jsonl", GOOD)
    first = run(store, tmp_path, path)
    created = dict(store.conn.execute("SELECT id, created_at FROM cases").fetchall())
    again = run(store, tmp_path, path)
    assert (first.inserted, again.inserted, again.updated, again.unchanged) == (2, 0, 0, 2)
    changes_before = store.last_change()

    changed = dict(GOOD[0], outcome="司法确认")
    report = run(store, tmp_path, write_jsonl(tmp_path / "changed.jsonl", [changed]))
    assert (report.inserted, report.updated) == (0, 1)
    assert store.count() == 2
    row = store.conn.execute("SELECT created_at, updated_at FROM cases WHERE id = ?", (changed["id"],)).fetchone()
    assert row["created_at"] == created[changed["id"]] and row["updated_at"] > row["created_at"]
    assert store.get(changed["id"]).outcome == "司法确认"
    assert [c.case_id for c in store.changes_since(changes_before)] == [changed["id"]]
    parties = store.conn.execute("SELECT COUNT(*) FROM case_parties WHERE case_id = ?", (changed["id"],)).fetchone()[0]
    assert parties == 2


@pytest.fixture
def rich_records() -> list[dict]:
    sample = Path(__file__).parents[1] / "data" / "samples" / "promediconv.jsonl"
    records = [json.loads(line) for line in sample.read_text(encoding="utf-8").splitlines()[:30]]
    return [r for r in GOOD] + records


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_csv_and_xlsx_give_the_same_store_as_jsonl(tmp_path, rich_records, suffix):
    def load(name: str, path: Path) -> dict[str, dict]:
        with Store(tmp_path / name / "cases.sqlite") as store:
            assert ingest(store, [path], rejects_dir=tmp_path / name / "rejects").ok
            return {case.id: case.to_dict() for case in store.iter_cases()}

    jsonl = tmp_path / "cases.jsonl"
    other = tmp_path / f"cases{suffix}"
    write_records(rich_records, jsonl)
    write_records(rich_records, other)
    from_jsonl = load("jsonl", jsonl)
    assert len(from_jsonl) == len(rich_records)
    assert load("other", other) == from_jsonl


def test_bundled_sample_ingests_without_rejects(store, tmp_path):
    from leian.cli import sample_path

    report = run(store, tmp_path, sample_path())
    assert report.ok and report.inserted == 97
    assert report.unmapped_types == {}
    assert store.conn.execute("SELECT COUNT(*) FROM cases WHERE category IS NULL").fetchone()[0] == 0


#: One record with six problems: a date, a party with three, another party with one, a mediator.
SIX_WRONG = {"id": "JW-6", "text": "楼上漏水", "occurred_on": "2025-02-30",
             "parties": [{"name": "王建国", "role": "法官", "phone": "call me", "id_number": "110105194912310021"},
                         {"name": "李娟", "kind": "机器人"}],
             "mediators": [{"org": "三灶镇人民调解委员会"}]}
SIX_PATHS = ["occurred_on", "parties[0].role", "parties[0].phone", "parties[0].id_number", "parties[1].kind",
             "mediators[0].name"]


def test_every_problem_of_a_record_is_reported_with_its_field(store, tmp_path):
    with pytest.raises(RecordError) as raised:
        validate(SIX_WRONG)
    assert [e.path for e in raised.value.errors] == SIX_PATHS and raised.value.record_id == "JW-6"
    # Each part of a record is checked field by field: a list of bad tags names each one too.
    with pytest.raises(RecordError) as tags:
        validate({"id": "T", "text": "x", "tags": [1, "漏水", None], "location": {"town": 3, "community": ["x"]}})
    assert [e.path for e in tags.value.errors] == ["location.town", "location.community", "tags[0]", "tags[2]"]
    good = [{"id": f"G{i}", "text": f"第{i}个案件"} for i in range(2)]
    report = run(store, tmp_path, write_jsonl(tmp_path / "cases.jsonl", good + [SIX_WRONG]))
    assert (report.inserted, report.rejected) == (2, 1)
    assert report.reject_messages == [
        "cases.jsonl:3 id=JW-6 occurred_on（发生日期）：不是有效日期（YYYY-MM-DD）：'2025-02-30'",
        "cases.jsonl:3 id=JW-6 parties[0].role（第1位当事人的身份）：未知身份 '法官'（可选：申请人、被申请人、第三人、当事人、代理人、其他）",
        "cases.jsonl:3 id=JW-6 parties[0].phone（第1位当事人的电话）：不是电话号码：'call me'",
        "cases.jsonl:3 id=JW-6 parties[0].id_number（第1位当事人的身份证号）：不是有效的居民身份证号（位数或校验位不符）：'110105***********1'",
        "cases.jsonl:3 id=JW-6 parties[1].kind（第2位当事人的类别）：未知类别 '机器人'（可选：person（个人）、organization（单位）、group（群体））",
        "cases.jsonl:3 id=JW-6 mediators[0].name（第1位调解员的姓名）：缺少或为空",
    ]
    [reject] = read_rejects(report)
    assert [e["field"] for e in reject["errors"]] == SIX_PATHS and reject["line"] == 3
