"""Personal data stays masked: in every written form, for every role, on every page and answer
(the routes come from ``security.ROUTE_ROLES``, so a new route is scanned without a change here),
in the audit log, the reject files and the exports; the files holding it are the owner's only."""
from __future__ import annotations

import io
import json
import os
import re
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from urllib.parse import quote_plus

import pytest
from leian.data.ingest import ingest
from leian.data.normalize import Pseudonyms, mask_numbers
from leian.data.record import validate
from leian.library.masking import Masker
from leian.web.app import create_app, services
from leian.web.privacy import case_view
from leian.web.security import PUBLIC, ROUTE_ROLES
from privacy_support import ID_NUMBERS, NAMES, TEXT_PHONES, leaks, records
from web_support import PASSWORD, ROLES_USERS, indexed_home

from leian.home import Home

LIBRARY = "隐私测试库"


@pytest.mark.parametrize("digits, written", [*TEXT_PHONES.items(), *ID_NUMBERS.items(),
                                             ("13800001111", "电话:138 - 0000 - 1111。"), ("11010519491231002X", "1101 0519 4912 3100 2X"),
                                             ("6222021234567890123", "账号6222 0212 3456 7890 123"), ("13800001111", "tel 13800001111x")])
def test_numbers_are_masked_however_they_are_written(digits, written):
    masked = mask_numbers(f"联系方式：{written}，谢谢")
    assert not leaks(masked, sees_names=True) and digits not in re.sub(r"\D", "", masked.translate({0xFF10 + i: 0x30 + i for i in range(10)}))
    assert "*" in masked


@pytest.mark.parametrize("text", ["借款 13800 元，2024-03-11 签订", "（2024）粤0404民初1234号", "金额1.5万元", "第3网格 12 户"])
def test_amounts_dates_and_case_numbers_stay_as_written(text):
    assert mask_numbers(text) == text


def test_persons_in_groups_shop_like_and_spaced_names_are_masked_everywhere():
    cases = [validate(r) for r in records()]
    for case in cases:
        view = json.dumps(case_view(case, "analyst"), ensure_ascii=False)
        assert leaks(view, sees_names=False) == [], (case.id, view)
    p1 = case_view(cases[0], "trainer")
    assert p1["parties"][0]["name"] == "刘某某等42人" and p1["parties"][1]["name"] == "恒达物业有限公司"
    assert [p["name"] for p in case_view(cases[1], "admin")["parties"]] == ["王某某", "刘某某"]
    assert case_view(cases[2], "analyst")["text"].startswith("陈某某（电话")
    assert [p.kind for p in cases[1].parties] == ["person", "person"]  # 王小店 and 刘大队 are people


def test_a_company_under_its_short_name_keeps_it_beside_a_masked_person():
    # 卓越物流 and 华鑫化工 begin with surname characters (卓, 华) and are four characters long, as a name can be;
    # their trade says they are companies, so hotspot reasons and texts name them while people are masked.
    case = validate({"id": "C1", "text": "许红娟反映卓越物流拖欠运费，华鑫化工作证", "parties": [
        {"name": "许红娟", "role": "申请人"}, {"name": "卓越物流", "role": "被申请人", "kind": "organization"},
        {"name": "华鑫化工", "role": "第三人", "kind": "organization"}]})
    view = case_view(case, "analyst")
    assert view["text"] == "许某某反映卓越物流拖欠运费，华鑫化工作证"
    assert [p["name"] for p in view["parties"]] == ["许某某", "卓越物流", "华鑫化工"]
    assert Masker.for_case(case).mask("同一当事人反复发案：许红娟3件、卓越物流3件") == "同一当事人反复发案：许某某3件、卓越物流3件"


def test_two_people_of_one_surname_are_told_apart_and_keep_their_label():
    case = validate(records()[3])
    view = case_view(case, "analyst")
    assert [p["name"] for p in view["parties"]] == ["梁某甲", "梁某乙"]
    assert view["text"].startswith("梁某甲与梁某乙因楼上漏水争执，梁某乙身份证")
    later = validate(records()[4])
    masker = Masker.for_cases([case, later])
    assert masker.party_names(later) == ["梁某甲", "刘某某"] and masker.mask("梁小红") == "梁某乙"
    names = Pseudonyms()
    assert [names.mask(n) for n in ("梁建业", "梁小红", "梁建业")] == ["梁某某", "梁某乙", "梁某某"]


def test_rejects_never_hold_a_full_id_number(tmp_path):
    source = tmp_path / "bad.jsonl"
    bad = [{"id": "B1", "text": "身份证 110105 19491231 002X 漏水", "amount": "很多"},
           {"id": "B2", "text": "漏水", "parties": [{"name": "王五", "id_number": "110105194912310021", "phone": "13912345678"}]}]
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in bad), encoding="utf-8")
    with Home.resolve(tmp_path / "home").open_store() as store:
        report = ingest(store, [source], rejects_dir=tmp_path / "home" / "rejects")
    assert report.rejected == 2
    kept = Path(report.rejects_path).read_text(encoding="utf-8") + "\n".join(report.reject_messages)
    assert "110105194912310021" not in re.sub(r"\D", "", kept) and "1949123100" not in re.sub(r"\s", "", kept)
    assert "parties[0].id_number" in kept and "110105***********1" in kept


def _modes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): oct(stat.S_IMODE(p.stat().st_mode)) for p in [root, *root.rglob("*")]}


def test_files_holding_personal_data_are_created_owner_only(tmp_path):
    home = tmp_path / "home"
    source = tmp_path / "cases.jsonl"
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records())
                      + '{"id": "BAD", "text": "身份证110105194912310021", "amount": "很多"}\n', encoding="utf-8")
    leian = [sys.executable, "-c", "from leian.cli import main; main()", "--home", str(home)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    run = subprocess.run(["sh", "-c", 'umask 022; exec "$@"', "sh", *leian, "ingest", str(source), "--no-progress"],
                         capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 1, run.stderr
    users = subprocess.run(["sh", "-c", 'umask 022; exec "$@"', "sh", *leian, "user", "add", "chief", "--role", "admin",
                            "--password-stdin"], input="long-enough-pw\n", capture_output=True, text=True, env=env, timeout=120)
    assert users.returncode == 0, users.stderr
    exports = home / "exports"
    for command in (["export", str(exports / "cases.csv")], ["export", str(exports / "cases.xlsx")],
                    ["graph", "export", "--format", "graphml", str(exports / "graph.graphml")],
                    ["graph", "export", "--format", "neo4j-csv", str(exports / "neo4j")],
                    ["library", "create", "导出库"], ["library", "add", "导出库", "P1"],
                    ["library", "export", "导出库", "--format", "md", "--drafts", "--out", str(exports / "lib.md")]):
        done = subprocess.run(["sh", "-c", 'umask 022; exec "$@"', "sh", *leian, *command],
                              capture_output=True, text=True, env=env, timeout=600)
        assert done.returncode == 0, (command, done.stderr)
    modes = _modes(home)
    assert {"cases.sqlite", "rejects", "index", "graph", "exports"} <= {name.split("/")[0] for name in modes}
    assert {"exports/cases.csv", "exports/cases.xlsx", "exports/graph.graphml", "exports/lib.md"} <= set(modes)
    wrong = {name: mode for name, mode in modes.items()
             if mode != ("0o700" if (home / name).is_dir() or name == "." else "0o600")}
    assert wrong == {}
    from leian.cli import _demo_logins

    os.umask(0o022)
    with Home.resolve(home).open_store() as store:
        _demo_logins(Home.resolve(home), store)
    assert oct(stat.S_IMODE((home / "demo-login.txt").stat().st_mode)) == "0o600"


# -- every page and answer, for every role ----------------------------------------------------------------


@pytest.fixture(scope="module")
def app():
    app = create_app(indexed_home(records(), "leian-privacy-"), testing=True)
    with app.app_context():
        for role, username in ROLES_USERS.items():
            services().accounts.add(username, role, PASSWORD)
        libs = services().libraries()
        libs.create(LIBRARY)
        libs.add_cases(LIBRARY, [r["id"] for r in records()])
    return app


def _login(app, role: str):
    client = app.test_client()
    answer = client.post("/api/login", json={"username": ROLES_USERS[role], "password": PASSWORD})
    assert answer.status_code == 200
    client.csrf = answer.get_json()["csrf_token"]
    return client


@pytest.fixture(scope="module")
def clients(app):
    return {role: _login(app, role) for role in ROLES_USERS}


@pytest.fixture(scope="module")
def job(clients):
    """An upload whose reject holds an ID number, a phone and a person's name, and whose good record is stored."""
    admin = clients["admin"]
    body = (json.dumps({"id": "P9", "text": "梁建业第三次反映漏水", "parties": [{"name": "梁建业"}]}, ensure_ascii=False) + "\n"
            + json.dumps({"id": "P10", "text": "梁小红身份证 110105 19491231 002X，电话 139 1234 5678", "amount": "很多",
                          "parties": [{"name": "梁小红", "id_number": "110105194912310021"}]},
                         ensure_ascii=False) + "\n").encode("utf-8")
    started = admin.post("/api/ingest", headers={"X-CSRF-Token": admin.csrf}, content_type="multipart/form-data",
                         data={"file": (io.BytesIO(body), "上报.jsonl")})
    assert started.status_code == 202
    for _ in range(600):
        job = admin.get(f"/api/ingest/{started.get_json()['id']}").get_json()
        if job["status"] != "running":
            assert job["status"] == "done" and job["report"]["rejects_file"], job
            return job
        time.sleep(0.2)
    raise AssertionError("the upload did not finish")


def _text(answer) -> str:
    if answer.data[:2] == b"PK":  # a Word document: its text is in the XML parts
        with zipfile.ZipFile(io.BytesIO(answer.data)) as document:
            return re.sub(r"<[^>]+>", "", "".join(document.read(n).decode("utf-8") for n in document.namelist() if n.endswith(".xml")))
    text = answer.get_data(as_text=True)
    if answer.is_json:  # \uXXXX escapes would hide names from the scan
        text += json.dumps(answer.get_json(), ensure_ascii=False)
    return text


def _queries(app, clients) -> dict[str, list[dict[str, str]]]:
    """Query strings that make each endpoint show personal data (one call without, for the others)."""
    admin = clients["admin"]
    graph = admin.get("/api/cases/P4/neighbors").get_json()
    nodes = [n["id"] for n in graph["nodes"]]
    searches = [{"q": "楼上漏水"}, {"q": "梁建业 刘梦英 王小店 陈国强 漏水"}, {"q": "漏水 电话13912345678", "parties": "梁建业"}]
    return {
        "pages.home": searches,
        "api.search": [{**s, "party": s.get("parties", "梁建业")} for s in searches] + [{"q": "漏水", "address": "丽景华庭"}],
        "api.graph_neighbors": [{"node": node, "hops": "2"} for node in nodes],
        "api.case_neighbors": [{"hops": "2"}],
        "api.hotspots": [{}, {"min_count": "1", "level": "community"}],
        "pages.dashboard": [{}, {"level": "community"}],
        "api.library_export": [{"format": f, "drafts": "1"} for f in ("md", "jsonl", "docx")],
        "pages.library_export": [{"format": f, "drafts": "1"} for f in ("md", "jsonl", "docx")],
        "pages.dashboard_export": [{"table": t, "format": "csv"} for t in ("hotspots", "heat", "trend")],
    }


def test_no_page_or_answer_shows_a_role_what_it_may_not_see(app, clients, job):
    clients["mediator"].get("/api/search", query_string={"q": "梁建业 身份证110105194912310021 电话 139 1234 5678"})
    app.test_client().post("/api/login", json={"username": "13822224444", "password": "x"})  # a phone typed as user name
    home = str(app.extensions["leian"].home.root)
    with app.app_context():
        library_id = str(services().libraries().get(LIBRARY).id)
    values = {"case_id": [r["id"] for r in records()], "library_id": [library_id], "username": ["med"],
              "filename": ["app.css"], "job_id": [job["id"]], "rejects_file": [job["report"]["rejects_file"]],
              "party_id": sorted({r[0] for r in app.extensions["leian"].store.conn.execute("SELECT entity_id FROM graph_mentions")})}
    queries = _queries(app, clients)
    found, called = [], set()
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        urls = [rule.rule]
        for argument in rule.arguments:
            urls = [re.sub(rf"<(?:\w+:)?{argument}>", value, url) for url in urls for value in values[argument]]
        roles = ROUTE_ROLES[rule.endpoint]
        for role, client in clients.items():
            if roles is not PUBLIC and role not in roles:
                continue
            for url in urls:
                for query in queries.get(rule.endpoint, [{}]):
                    answer = client.get(url, query_string=query)
                    assert answer.status_code in (200, 302), (url, query, role, answer.status_code)
                    called.add(rule.endpoint)
                    text = _text(answer)
                    for typed in query.values():  # what the user typed is echoed back to them (the search box, links)
                        text = text.replace(typed, "").replace(quote_plus(typed), "")
                    leaked = leaks(text, sees_names=role == "mediator", home=home)
                    if leaked:
                        spots = [text[max(0, m.start() - 60):m.end() + 20] for n in leaked for m in re.finditer(re.escape(n), text)]
                        found.append((role, url, query, leaked, spots[:2]))
    assert found == [], "\n".join(map(str, found))
    assert called == {e for e, roles in ROUTE_ROLES.items() if e != "static" and any(
        "GET" in r.methods for r in app.url_map.iter_rules() if r.endpoint == e)}


def test_masked_names_are_told_apart_on_a_page_and_shared_terms_tell_no_party(clients):
    page = clients["analyst"].get("/api/cases/P4").get_json()["case"]
    assert [p["name"] for p in page["parties"]] == ["梁某甲", "梁某乙"]
    found = clients["analyst"].get("/api/search", query_string={"q": "梁建业 漏水", "top_k": 5}).get_json()
    terms = [t for r in found["results"] for t in r["why"]["shared_terms"]]
    assert "漏水" in terms and not any("梁" in t for t in terms)
    mediator = clients["mediator"].get("/api/search", query_string={"q": "梁建业 漏水", "top_k": 5}).get_json()
    assert any(any("梁" in t or "建业" in t for t in r["why"]["shared_terms"]) for r in mediator["results"]), mediator["results"]


def test_the_audit_log_keeps_no_typed_name_phone_id_or_failed_user_name(app, clients):
    clients["mediator"].get("/api/search", query_string={"q": "梁小红 身份证110105194912310021 电话 139 1234 5678"})
    app.test_client().post("/api/login", json={"username": "my-Secret-pw!", "password": "x"})
    log = json.dumps(clients["admin"].get("/api/audit").get_json(), ensure_ascii=False)
    assert not leaks(log, sees_names=False) and "my-Secret-pw!" not in log
    assert "梁某某" in log and "未知用户#" in log
    assert all(name not in log for name in NAMES)



# -- docs/web.md's privacy table, cell by cell --------------------------------------------------------------

#: What a cell of the table says a role sees, by its first words.
_SAYS = (("full", "full"), ("shown", "full"), ("yes", "full"), ("not shown", "hidden"), ("ignored", "hidden"),
         ("masked", "masked"), ("without house numbers", "masked"), ("王某某", "masked"), ("138****", "masked"),
         ("110105***", "masked"))


def _privacy_table() -> tuple[list[list[str]], list[dict[str, str]]]:
    """The roles of each column of the table under "Roles and personal data", and each row as {role: cell}."""
    section = (Path(__file__).parents[1] / "docs" / "web.md").read_text(encoding="utf-8").split("## Roles and personal data")[1]
    lines = [line for line in section.split("\n## ")[0].splitlines() if line.startswith("|")]
    cells = [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines]
    columns = [[role for role in ROLES_USERS if role in header] for header in cells[0][1:]]
    rows = [{"kind": row[0], **{role: cell for roles, cell in zip(columns, row[1:]) for role in roles}} for row in cells[2:]]
    return columns, rows


def _said(cell: str) -> str:
    return next(meaning for start, meaning in _SAYS if cell.startswith(start))


def _seen(text: str, full: str, masked: str) -> str:
    """full when ``text`` shows ``full``, masked when it shows only ``masked``, hidden when it shows neither."""
    return "full" if full in text else "masked" if masked in text else "hidden"


def _case(client, case_id: str) -> dict:
    return client.get(f"/api/cases/{case_id}").get_json()["case"]


def _party_names(client, role: str) -> str:
    shown = {_seen(_text(client.get(url)), "王小店", "王某某") for url in ("/api/cases/P2", "/cases/P2", "/?q=卫生间漏水")}
    return shown.pop() if len(shown) == 1 else f"mixed {sorted(shown)}"


def _organisations(client, role: str) -> str:
    return _seen(json.dumps(_case(client, "P1")["parties"], ensure_ascii=False), "恒达物业有限公司", "恒达物业")


def _phones(client, role: str) -> str:
    return _seen(json.dumps(_case(client, "P2")["parties"]), "13600001111", "136****1111")


def _id_numbers(client, role: str) -> str:
    return _seen(json.dumps(_case(client, "P2")["parties"]), "11010519491231002X", "110105***********X")


def _numbers_in_text(client, role: str) -> str:
    text = " ".join(_case(client, case_id)["text"] for case_id in ("P1", "P2", "P3", "P4"))
    return "full" if leaks(text, sees_names=True) else "masked" if "*" in text else "hidden"


def _party_addresses(client, role: str) -> str:
    return _seen(json.dumps(_case(client, "P2")["parties"], ensure_ascii=False), "海澄村东街18号", "海澄村东街")


def _case_address(client, role: str) -> str:
    case = _case(client, "P1")
    return _seen(json.dumps(case.get("location", {}), ensure_ascii=False) + _text(client.get("/cases/P1")), "丽景华庭22-2802", "丽景华庭**")


def _addresses_in_texts(client, role: str) -> str:
    """The case text (P4 names 丽景华庭22-2802), the repeat chains' reasons and, where the role may, the hotspots'
    repeat addresses: each must show the same."""
    texts = [_case(client, "P4")["text"], json.dumps([c["reasons"] for c in client.get("/api/repeats").get_json()["chains"]],
                                                   ensure_ascii=False)]
    if role in ROUTE_ROLES["api.hotspots"]:
        texts.append(json.dumps(client.get("/api/hotspots").get_json()["repeats"]["addresses"], ensure_ascii=False))
    shown = {_seen(text, "丽景华庭22-2802", "丽景华庭**-**") for text in texts}
    return shown.pop() if len(shown) == 1 else f"mixed {sorted(shown)}"


def _party_search(client, role: str) -> str:
    """``party=`` raises the party's cases (it is not a strict filter): compare P2's score with and without it."""
    def scores(**extra):
        answer = client.get("/api/search", query_string={"q": "楼上漏水", "top_k": 20, **extra}).get_json()
        return {r["id"]: r["score"] for r in answer["results"]}

    plain, named = scores(), scores(party="王小店")
    assert set(plain) == set(named)  # every case is still found
    return "full" if named["P2"] > plain["P2"] else "hidden" if named == plain else f"changed {named}"


#: Row of the table (its first words) -> what a role sees of that data, read through pages and the API.
PROBES = {
    "party names (persons)": _party_names,
    "organisations": _organisations,
    "phone numbers": _phones,
    "resident ID numbers": _id_numbers,
    "phone/ID/account numbers inside free text": _numbers_in_text,
    "party addresses": _party_addresses,
    "the case's address": _case_address,
    "addresses in texts, repeat lists and reasons": _addresses_in_texts,
    "searching by party name": _party_search,
}


def test_chain_and_merge_reasons_lose_the_house_number_and_keep_their_counts():
    # One property company against three owners at one address within a month: a 同一被申请人 chain whose reason
    # counts days, claimants and cases, and a 同一地址 chain whose reason names the address (a house number).
    place = {"province": "广东省", "city": "珠海市", "district": "金湾区", "town": "三灶镇", "community": "海澄村",
             "address": "海澄村幸福路88号"}
    records = [{"id": f"H{i}", "title": f"电梯停运纠纷（第{i + 1}件）", "text": f"业主{i + 1}号反映电梯长期停运，物业公司不维修",
                "type": "物业", "occurred_on": f"2025-03-{3 * i + 1:02d}", "location": place,
                "parties": [{"name": f"业主{i + 1}号", "role": "申请人"},
                            {"name": "珠海市恒通物业服务有限公司", "role": "被申请人", "phone": "0756-7771234"}]}
               for i in range(3)]
    app = create_app(indexed_home(records, "leian-reasons-"), testing=True)
    with app.app_context():
        for role in ("mediator", "analyst"):
            services().accounts.add(ROLES_USERS[role], role, PASSWORD)
    reasons = {}
    for role in ("mediator", "analyst"):
        client = _login(app, role)
        chains = client.get("/api/chains/H0").get_json()["chains"]
        party_id = chains[0]["party_ids"][0]
        reasons[role] = [r for chain in chains for r in chain["reasons"]] + client.get(f"/api/parties/{party_id}").get_json()["reasons"]
    counted = [r for r in reasons["mediator"] if "方申请人" in r]
    assert counted and all(r in reasons["analyst"] for r in counted)  # 被3方申请人提起3件纠纷 is no address
    assert any("同一地址（" in r and "88" in r for r in reasons["mediator"])
    assert any("同一地址（" in r and "**" in r for r in reasons["analyst"]) and not any("88" in r for r in reasons["analyst"])


def test_the_privacy_table_in_docs_says_what_each_role_sees(clients):
    columns, rows = _privacy_table()
    assert sorted(role for roles in columns for role in roles) == sorted(ROLES_USERS)
    kinds = {row["kind"]: next((k for k in PROBES if row["kind"].startswith(k)), None) for row in rows}
    assert None not in kinds.values() and sorted(kinds.values()) == sorted(PROBES), kinds  # every row checked, each once
    said, seen = {}, {}
    for row in rows:
        for role in ROLES_USERS:
            said[(kinds[row["kind"]], role)] = _said(row[role])
            seen[(kinds[row["kind"]], role)] = PROBES[kinds[row["kind"]]](clients[role], role)
    assert {key: (said[key], seen[key]) for key in said if said[key] != seen[key]} == {}
