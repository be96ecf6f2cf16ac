"""Case libraries on a real home: the ProMediConv sample plus a few cases with real-looking personal data."""
from __future__ import annotations

import json
import os
from collections import Counter

import docx
import pytest
from click.testing import CliRunner

from leian.cli import cli
from leian.data.ingest import ingest
from leian.data.normalize import mask_name
from leian.data.record import RESOLVED_OUTCOMES
from leian.data.taxonomy import Taxonomy
from leian.embeddings.encoder import load_encoder
from leian.home import Home
from leian.library.calibrate import PARAPHRASES
from leian.library.case_ids import case_ids_in
from leian.library.curation import UNKNOWN, coverage, near_duplicates, suggest
from leian.library.export import DOCX_FONT, export_library
from leian.library.store import SECTIONS, Libraries, LibraryError

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SAMPLE = os.path.join(os.path.dirname(__file__), "..", "data", "samples", "promediconv.jsonl")
PHONE, ID_NUMBER = "13800001111", "11010519491231002X"
EXTRA = [
    {
        "id": "T-LEAK-1",
        "title": "王建国与李秀英楼上漏水纠纷",
        "text": f"王建国（电话{PHONE}，身份证{ID_NUMBER}）家住三灶镇海澄村，楼上李秀英家卫生间漏水，"
        "导致王建国家天花板发霉，双方多次争吵，王建国拨打12345求助。",
        "type": "邻里/漏水",
        "location": {"district": "金湾区", "town": "三灶镇"},
        "parties": [
            {"name": "王建国", "role": "申请人", "phone": "138-0000-1111", "id_number": ID_NUMBER},
            {"name": "李秀英", "role": "被申请人", "phone": "0756-7654321"},
        ],
        "handling": "调解员组织王建国与李秀英（电话0756-7654321）现场查看漏水点，请物业出具维修意见。",
        "outcome": "调解成功",
        "agreement": "李秀英承担维修费4000元，三日内付给王建国。",
        "amount": 4000,
    },
    {"id": "T-PARA-050", "text": PARAPHRASES["PMC-050"], "type": "交通事故纠纷", "outcome": "调解成功"},
]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    root = tmp_path_factory.mktemp("library-home")
    extra = root / "extra.jsonl"
    extra.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in EXTRA) + "\n", encoding="utf-8")
    resolved = Home.resolve(root)
    with resolved.open_store() as store:
        report = ingest(store, [SAMPLE, extra], rejects_dir=resolved.rejects_dir)
    assert report.ok and report.stored == 99
    return resolved


@pytest.fixture(scope="module")
def libs(home):
    store = home.open_store()
    yield Libraries(store)
    store.close()


@pytest.fixture(scope="module")
def encoder():
    return load_encoder()


def run(home, *args, input=None):
    return CliRunner().invoke(cli, ["--home", str(home.root), "library", *args], input=input)


def raw_person_names(libs, case_ids):
    """Every party name the masking must hide (persons whose masked form differs)."""
    names = set()
    for case in libs.store.get_many(case_ids).values():
        for party in case.parties:
            name = party.name.split("（")[0].split("(")[0]
            if party.kind == "person" and mask_name(name) != name:
                names.add(name)
    return names


def test_library_from_search_exports_masked_docx(home, libs, tmp_path):
    assert run(home, "create", "漏水典型案例", "--description", "邻里漏水纠纷培训").exit_code == 0
    result = run(home, "add-search", "漏水典型案例", "楼上卫生间漏水 天花板发霉", "--top-k", "6", "--editor", "李梅")
    assert result.exit_code == 0, result.output
    ids = libs.case_ids("漏水典型案例")
    assert len(ids) == 6 and "T-LEAK-1" in ids
    # A sample case whose parties have full names: masking must hide them too.
    libs.add_cases("漏水典型案例", ["PMC-024", "PMC-033"])
    ids = libs.case_ids("漏水典型案例")
    hidden = raw_person_names(libs, ids)
    assert {"王建国", "李秀英"} <= hidden and len(hidden) > 2

    out = tmp_path / "漏水.docx"
    published_only = run(home, "export", "漏水典型案例", "--format", "docx", "--out", str(out))
    assert published_only.exit_code == 0 and "已导出 0 件" in published_only.output and "--drafts" in published_only.output
    assert run(home, "export", "漏水典型案例", "--format", "docx", "--out", str(out), "--drafts").exit_code == 0
    document = docx.Document(str(out))
    styled = [(p.style.name, p.text) for p in document.paragraphs]
    assert [text for style, text in styled if style == "Title"] == ["漏水典型案例"]
    cover, body = document.sections
    assert (round(cover.page_width.cm, 1), round(cover.page_height.cm, 1)) == (21.0, 29.7)  # A4
    assert "PAGE" in body.footer._element.xml and not body.footer.is_linked_to_previous  # page numbers
    page_breaks = document.element.body.xml.count('w:type="page"')
    assert page_breaks == len(ids) - 1  # each case starts a page; the first one starts the body section
    cover_text = "\n".join(text for _, text in styled[: styled.index(next(s for s in styled if s[0] == "Heading 1"))])
    assert f"共 {len(ids)} 件典型案例" in cover_text and "已脱敏" in cover_text and "目录" in cover_text
    entry_titles = [text for style, text in styled if style == "Heading 1"]
    assert len(entry_titles) == len(ids)
    assert [text for style, text in styled if style == "Heading 2"] == list(SECTIONS) * len(ids)
    assert "王某某与李某某楼上漏水纠纷" in " ".join(entry_titles)
    everything = "\n".join(text for _, text in styled)
    for raw in [*hidden, PHONE, ID_NUMBER, "7654321"]:
        assert raw not in everything
    assert "138****1111" in everything and "李某某（电话075****4321）" in everything
    rpr = document.styles["Normal"].element.rPr
    assert rpr.rFonts.get("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}eastAsia") == DOCX_FONT

    unmasked = tmp_path / "unmasked.docx"
    assert run(home, "export", "漏水典型案例", "--format", "docx", "--out", str(unmasked), "--unmasked", "--drafts").exit_code == 0
    assert "王建国" in "\n".join(p.text for p in docx.Document(str(unmasked)).paragraphs)


def test_markdown_and_jsonl_exports_are_masked(home, libs, tmp_path):
    libs.create("导出")
    libs.add_cases("导出", ["T-LEAK-1", "PMC-024"])
    libs.edit("导出", "T-LEAK-1", "经验启示", "王建国一方先行垫付维修费，化解了僵局。")
    assert export_library(libs, "导出", "jsonl", tmp_path / "out.jsonl") == 2
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["case_id"] for r in records] == ["T-LEAK-1", "PMC-024"]
    assert records[0]["经验启示"] == "王某某一方先行垫付维修费，化解了僵局。"
    assert records[0]["parties"] == ["王某某", "李某某"] and records[0]["masked"] is True
    assert export_library(libs, "导出", "md", tmp_path / "out.md") == 2
    markdown = (tmp_path / "out.md").read_text(encoding="utf-8")
    assert markdown.count("### 基本案情") == 2
    for raw in raw_person_names(libs, ["T-LEAK-1", "PMC-024"]) | {PHONE, ID_NUMBER}:
        assert raw not in markdown
    assert export_library(libs, "导出", "jsonl", tmp_path / "none.jsonl", status="published") == 0


def test_near_duplicate_warning_fires_for_paraphrase_not_for_different_case(home, libs, encoder):
    libs.create("交通事故")
    libs.add_cases("交通事故", ["PMC-050", "PMC-001"])
    found = near_duplicates(libs, "交通事故", ["T-PARA-050", "PMC-005", "PMC-049", "PMC-051"], encoder=encoder)
    assert {(d.case_id, d.similar_to) for d in found} == {("T-PARA-050", "PMC-050"), ("PMC-005", "PMC-001")}
    result = run(home, "add", "交通事故", "T-PARA-050", "PMC-049")
    assert result.exit_code == 0
    assert "T-PARA-050 与库中 PMC-050 疑似重复" in result.stderr and "PMC-049" not in result.stderr
    assert libs.case_ids("交通事故") == ["PMC-050", "PMC-001", "T-PARA-050", "PMC-049"]


def test_coverage_counts_match_entries(libs):
    libs.create("覆盖")
    chosen = ["PMC-001", "PMC-009", "PMC-010", "PMC-024", "T-LEAK-1", "PMC-050"]
    libs.add_cases("覆盖", chosen)
    report = coverage(libs, "覆盖")
    cases = libs.store.get_many(chosen)
    expected = Counter(
        (c.category or UNKNOWN, c.subtype or UNKNOWN, c.location.get("district") or UNKNOWN) for c in cases.values()
    )
    assert {(c["category"], c["subtype"], c["district"]): c["entries"] for c in report["cells"]} == expected
    assert report["entries"] == len(chosen) == sum(report["by_category"].values())
    categories = {c.category for c in cases.values()}
    assert report["missing_categories"] == [c for c in Taxonomy.default().categories if c not in categories]
    assert "漏水" not in report["missing_subtypes"]["邻里"] and "噪音" in report["missing_subtypes"]["邻里"]
    assert "劳动" not in report["missing_subtypes"] or "工伤" in report["missing_subtypes"]["劳动"]


def test_suggestions_fill_gaps_with_resolved_documented_cases(home, libs):
    libs.create("补缺")
    libs.add_cases("补缺", ["PMC-001", "PMC-024", "T-LEAK-1"])
    suggestions = suggest(libs, "补缺", per_gap=2)
    gaps = set(coverage(libs, "补缺")["missing_categories"])
    cases = libs.store.get_many([s["case_id"] for s in suggestions])
    in_library = set(libs.case_ids("补缺"))
    assert suggestions and {s["gap"] for s in suggestions} <= gaps | {
        f"{c} › {s}" for c, subs in coverage(libs, "补缺")["missing_subtypes"].items() for s in subs
    }
    for item in suggestions:
        case = cases[item["case_id"]]
        assert case.outcome in RESOLVED_OUTCOMES and case.id not in in_library
        assert item["gap"].split(" › ")[0] == case.category
    # Within a gap, the best documented resolved case comes first.
    def documented(case):
        return min(len(case.search_text), 1000) / 1000 + 0.5 * (bool(case.handling) + bool(case.agreement))

    first = suggestions[0]
    candidates = [c for c in libs.store.iter_cases()
                  if c.category == first["gap"] and c.outcome in RESOLVED_OUTCOMES and c.id not in in_library]
    assert documented(cases[first["case_id"]]) == max(documented(c) for c in candidates)
    result = run(home, "suggest", "补缺", "--json")
    assert result.exit_code == 0 and json.loads(result.output)["suggestions"][0]["case_id"] == first["case_id"]
    # As text each suggestion names its case (title, else opening words), not its id alone.
    case = cases[first["case_id"]]
    assert f"{first['gap']}：{first['case_id']} {case.heading}（" in run(home, "suggest", "补缺").output.splitlines()[0]


def test_status_transitions_and_history(libs):
    libs.create("审核")
    libs.add_cases("审核", ["PMC-010"], editor="李梅")
    with pytest.raises(LibraryError, match="尚未审核"):
        libs.publish("审核", "PMC-010", reviewer="张审")
    with pytest.raises(LibraryError, match="须由另一人审核"):
        libs.review("审核", "PMC-010", reviewer="李梅")  # who added the entry is one of its authors
    assert libs.review("审核", "PMC-010", reviewer="张审").status == "reviewed"
    with pytest.raises(LibraryError, match="当前为「已审核」"):
        libs.review("审核", "PMC-010", reviewer="张审")
    with pytest.raises(LibraryError, match="经验启示尚未填写"):
        libs.publish("审核", "PMC-010", reviewer="王主任")  # an empty required section blocks publishing
    libs.edit("审核", "PMC-010", "经验启示", "工伤纠纷先固定证据", editor="李梅")
    libs.review("审核", "PMC-010", reviewer="张审")
    published = libs.publish("审核", "PMC-010", reviewer="王主任")
    assert (published.status, published.reviewer) == ("published", "王主任") and published.published_at
    assert libs.set_tags("审核", "PMC-010", ["工伤", "典型"], editor="李梅").status == "published"
    edited = libs.edit("审核", "PMC-010", "法律依据", "《人民调解法》第二十二条", editor="李梅")
    assert (edited.status, edited.reviewer, edited.published_at) == ("draft", None, None)
    assert edited.sections["法律依据"] == "《人民调解法》第二十二条"
    unchanged = libs.edit("审核", "PMC-010", "法律依据", "《人民调解法》第二十二条", editor="李梅")
    assert unchanged.status == "draft"
    history = [(h.field, h.old, h.new, h.editor) for h in libs.history("审核", "PMC-010")]
    assert history == [
        ("条目", None, "加入", "李梅"),
        ("状态", "draft", "reviewed", "张审"),
        ("经验启示", "", "工伤纠纷先固定证据", "李梅"),
        ("状态", "reviewed", "draft", "李梅"),
        ("状态", "draft", "reviewed", "张审"),
        ("状态", "reviewed", "published", "王主任"),
        ("标签", "", "工伤、典型", "李梅"),
        ("法律依据", "", "《人民调解法》第二十二条", "李梅"),
        ("状态", "published", "draft", "李梅"),
    ]
    with pytest.raises(LibraryError, match="未知状态 'done'"):
        libs.entries("审核", status="done")


def test_bad_input_stores_nothing_and_delete_keeps_cases(home, libs):
    libs.create("临时")
    with pytest.raises(LibraryError, match="NO-SUCH"):
        libs.add_cases("临时", ["PMC-020", "NO-SUCH"])
    assert libs.case_ids("临时") == []
    libs.add_cases("临时", ["PMC-020", "PMC-021"])
    with pytest.raises(LibraryError, match="'心得'"):
        libs.edit("临时", "PMC-020", "心得", "x")
    with pytest.raises(LibraryError, match="PMC-022"):
        libs.remove_cases("临时", ["PMC-021", "PMC-022"])
    assert libs.case_ids("临时") == ["PMC-020", "PMC-021"]
    libs.create("临时副本")
    with pytest.raises(LibraryError, match="已存在"):
        libs.rename("临时", "临时副本")
    libs.remove_cases("临时", ["PMC-021"])
    assert libs.store.get("PMC-021") is not None
    before = libs.store.count()
    assert run(home, "delete", "临时", input="n\n").exit_code != 0
    assert libs.case_ids("临时") == ["PMC-020"]
    assert run(home, "delete", "临时", "--yes").exit_code == 0
    assert "临时" not in [lib.name for lib in libs.list()] and libs.store.count() == before
    assert libs.store.get("PMC-020") is not None
    assert libs.conn.execute("SELECT COUNT(*) FROM library_entries WHERE case_id = 'PMC-020'").fetchone()[0] == 0


@pytest.fixture(scope="module")
def error_library(libs):
    libs.create("错误")
    libs.add_cases("错误", ["PMC-010"])
    return "错误"


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["show", "没有这个库"], "没有这个库"),
        (["edit", "错误", "PMC-010", "--field", "心得", "--value", "x"], "心得"),
        (["edit", "错误", "PMC-999", "--field", "经验启示", "--value", "x"], "PMC-999"),
        (["review", "错误", "PMC-010", "--reviewer", "张审", "--publish"], "尚未审核"),
        (["create", "错误"], "错误"),
        (["export", "错误", "--format", "md", "--out", "/no/such/dir/x.md"], "/no/such/dir"),
    ],
)
def test_cli_errors_are_one_plain_line(home, libs, error_library, args, named):
    history_before = len(libs.history("错误"))
    result = run(home, *args)
    lines = result.output.strip().splitlines()
    assert result.exit_code != 0 and len(lines) == 1 and lines[0].startswith("错误：") and named in lines[0]
    assert "Traceback" not in result.output and len(libs.history("错误")) == history_before


def test_cli_lifecycle(home, libs, tmp_path):
    assert run(home, "create", "流程").exit_code == 0
    ids_file = tmp_path / "cluster.json"
    clusters = {"clusters": [{"id": "c1", "case_ids": ["PMC-040"]}, {"id": "c2", "case_ids": ["PMC-030", "PMC-031"]}]}
    ids_file.write_text(json.dumps(clusters), encoding="utf-8")
    unpicked = run(home, "add", "流程", "--ids-from", str(ids_file), "--no-check")
    assert unpicked.exit_code != 0 and "--item" in unpicked.output and libs.case_ids("流程") == []
    assert run(home, "add", "流程", "--ids-from", str(ids_file), "--item", "c2", "--no-check").exit_code == 0
    assert libs.case_ids("流程") == ["PMC-030", "PMC-031"]
    assert run(home, "edit", "流程", "PMC-030", "--field", "经验启示", "--value", "耐心倾听", "--tag", "债务",
               "--editor", "李梅").exit_code == 0
    assert run(home, "review", "流程", "PMC-030", "--reviewer", "张审").exit_code == 0
    assert run(home, "review", "流程", "PMC-030", "--reviewer", "张审", "--publish").exit_code == 0
    assert run(home, "rename", "流程", "债务案例").exit_code == 0
    assert run(home, "describe", "债务案例", "借贷纠纷").exit_code == 0
    shown = json.loads(run(home, "show", "债务案例", "--json").output)
    assert shown["description"] == "借贷纠纷" and shown["by_status"] == {"draft": 1, "reviewed": 0, "published": 1}
    entry = next(e for e in shown["items"] if e["case_id"] == "PMC-030")
    assert (entry["经验启示"], entry["tags"], entry["status"]) == ("耐心倾听", ["债务"], "published")
    listed = json.loads(run(home, "list", "--json").output)["libraries"]
    assert "债务案例" in [lib["name"] for lib in listed] and "流程" not in [lib["name"] for lib in listed]
    assert run(home, "remove", "债务案例", "PMC-031").exit_code == 0
    covered = json.loads(run(home, "coverage", "债务案例", "--json").output)
    assert covered["entries"] == 1
    assert case_ids_in({"results": [{"id": "PMC-030"}]}) == ["PMC-030"]


def test_deleting_a_case_from_the_store_removes_its_entries(tmp_path):
    from leian.data.record import validate
    from leian.data.store import Store

    with Store(tmp_path / "cases.sqlite") as store:
        store.upsert_batch([validate({"id": "K1", "text": "邻居噪音扰民"}), validate({"id": "K2", "text": "拖欠工资"})])
        libs = Libraries(store)
        libs.create("样本")
        libs.add_cases("样本", ["K1", "K2"], editor="李梅")
        store.delete(["K1"])
        assert libs.case_ids("样本") == ["K2"] and libs.get("样本").entries == 1
        assert [h.case_id for h in libs.history("样本")] == ["K1", "K2"]
        store.upsert_batch([validate({"id": "K2", "text": "拖欠工资三个月"})])
        assert libs.entry("样本", "K2").sections["基本案情"] == "拖欠工资"


def test_a_small_centre_may_let_the_author_review(libs):
    from leian.library.store import Libraries

    libs.create("单人中心")
    libs.add_cases("单人中心", ["PMC-011"], editor="李梅")
    assert libs.authors("单人中心", "PMC-011") == {"李梅"}
    solo = Libraries(libs.store, self_review=True)
    assert solo.review("单人中心", "PMC-011", reviewer="李梅").status == "reviewed"


def test_cli_add_with_bad_ids_adds_the_good_ones_and_names_the_bad(home, libs):
    libs.create("部分加入")
    result = run(home, "add", "部分加入", "PMC-012", "NO-SUCH", "PMC-013", "--no-check")
    assert result.exit_code == 1 and "已加入 2 件" in result.output and "NO-SUCH" in result.output.splitlines()[-1]
    assert libs.case_ids("部分加入") == ["PMC-012", "PMC-013"]
