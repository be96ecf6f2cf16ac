"""Users of an area see the cases of that area only, in every query path of the web app and the API.

The test home (tests/web_support.py) holds cases in three towns of 金湾区. A
mediator of 红旗镇 and an analyst of 平沙镇 ask every page and API route; each
answer must name no case of another town. An admin sees every case whatever
area the account names, and the admin sets areas in the users page (audited).
"""
from __future__ import annotations

import re

import pytest
from leian.data.areas import Area, area_choices
from leian.web.accounts import AccountError, Accounts
from leian.web.app import create_app, services
from web_support import PASSWORD, ROLES_USERS, cases, indexed_home, web_home

AREA_USERS = {"area-med": ("mediator", "金湾区/红旗镇"), "area-ana": ("analyst", "金湾区/平沙镇"),
              "area-tra": ("trainer", "金湾区/红旗镇"), "area-adm": ("admin", "金湾区/红旗镇")}
LIBRARY = "辖区测试库"
TOWN_OF = {r["id"]: r["location"]["town"] for r in cases()}
CASE_ID = re.compile(r"\b(?:T\d{4}|L\d{3}|S\d{3}|R\d{3}|DOG1|XSS1)\b")


@pytest.fixture(scope="module")
def app():
    app = create_app(web_home(), testing=True)
    with app.app_context():
        accounts = services().accounts
        for username, (role, area) in AREA_USERS.items():
            if accounts.get(username) is None:
                accounts.add(username, role, PASSWORD, area=area)
        libs = services().libraries()
        if LIBRARY not in [lib.name for lib in libs.list()]:
            libs.create(LIBRARY)
            libs.add_cases(LIBRARY, ["R000", "DOG1", "T0001"], editor="tra")
    return app


def login(app, username: str):
    client = app.test_client()
    answer = client.post("/api/login", json={"username": username, "password": PASSWORD})
    assert answer.status_code == 200, answer.get_json()
    client.csrf = answer.get_json()["csrf_token"]
    return client


@pytest.fixture(scope="module")
def clients(app):
    return {username: login(app, username) for username in AREA_USERS}


def towns_named(text: str) -> set[str]:
    """The towns of the cases whose ids ``text`` names."""
    return {TOWN_OF[case_id] for case_id in CASE_ID.findall(text) if case_id in TOWN_OF}


def test_an_area_is_checked_against_the_store_and_admins_see_everything(app):
    with app.app_context():
        accounts = services().accounts
        with pytest.raises(AccountError, match="没有区域 金湾区 › 金鼎镇"):
            accounts.add("typo-area", "mediator", PASSWORD, area="金湾区/金鼎镇")
        with pytest.raises(AccountError, match="区县/镇街"):
            accounts.add("deep-area", "mediator", PASSWORD, area="金湾区/红旗镇/三板村")
        assert accounts.get("area-med").scope == Area("金湾区", "红旗镇")
        assert accounts.get("area-adm").scope is None  # the admin role grants every area
        choices = area_choices(services().store)
        assert [d["name"] for d in choices] == ["金湾区"]
        assert {t["name"] for t in choices[0]["towns"]} == {"三灶镇", "红旗镇", "平沙镇"}


def test_search_finds_only_the_cases_of_the_users_area(clients):
    for username, town in (("area-med", "红旗镇"), ("area-ana", "平沙镇")):
        answer = clients[username].get("/api/search", query_string={"q": "楼上漏水渗到楼下天花板", "top_k": 30}).get_json()
        assert answer["results"], username
        assert towns_named(" ".join(r["id"] for r in answer["results"])) == {town}
        page = clients[username].get("/?q=楼上漏水渗到楼下天花板").get_data(as_text=True)
        assert towns_named(page) == {town}
    everything = clients["area-adm"].get("/api/search", query_string={"q": "楼上漏水渗到楼下天花板", "top_k": 30}).get_json()
    assert len(towns_named(" ".join(r["id"] for r in everything["results"]))) == 3


def test_a_party_name_search_and_its_alert_stay_in_the_area(clients):
    # 王建国's four cases are all in 平沙镇: the 红旗镇 mediator finds none of them, and no alert.
    answer = clients["area-med"].get("/api/search", query_string={"party": "王建国"}).get_json()
    assert not [r for r in answer["results"] if r["id"].startswith("R")]
    assert not answer["repeat_alert"]["parties"]


def test_cases_outside_the_area_are_not_found(clients):
    med = clients["area-med"]
    assert med.get("/api/cases/DOG1").status_code == 200
    for url in ("/api/cases/S000", "/cases/S000", "/api/cases/S000/neighbors", "/api/chains/R000", "/chains/R000",
                "/api/graph/neighbors?node=case:S000"):
        answer = med.get(url)
        assert answer.status_code == 404, url
        assert "三灶镇" not in answer.get_data(as_text=True) and "王建国" not in answer.get_data(as_text=True), url


def test_case_page_similar_cases_and_graph_show_only_the_area(clients):
    med = clients["area-med"]
    page = med.get("/cases/DOG1").get_data(as_text=True)
    assert towns_named(page) == {"红旗镇"}
    graph = med.get("/api/cases/L000/neighbors", query_string={"hops": 2}).get_json()
    case_nodes = [n for n in graph["nodes"] if n["label"] == "Case"]
    assert len(case_nodes) > 1
    assert {TOWN_OF[n["case_id"]] for n in case_nodes} == {"红旗镇"}
    assert all(n.get("cases") is None for n in graph["nodes"] if n["label"] == "Party")
    # Reaching out from the town node itself: only its own cases.
    town = med.get("/api/graph/neighbors", query_string={"node": next(n["id"] for n in graph["nodes"] if n["label"] == "Location")})
    assert town.status_code == 200


def test_browsing_and_drill_downs_list_only_the_area(clients):
    page = clients["area-ana"].get("/?type=邻里").get_data(as_text=True)
    assert towns_named(page) == {"平沙镇"}
    assert "三灶镇" not in page.split('id="results"')[1].split("</ol>")[0]


def test_the_dashboard_counts_only_the_area(clients):
    ana = clients["area-ana"]
    heat = ana.get("/api/heat").get_json()
    assert {row["where"] for row in heat["places"]} == {"平沙镇"}
    hotspots = ana.get("/api/hotspots").get_json()
    assert hotspots["hotspots"]
    assert {TOWN_OF[c] for spot in hotspots["hotspots"] for c in spot["case_ids"]} <= {"平沙镇"}
    assert "三灶镇" not in str(hotspots) and "红旗镇" not in str(hotspots)  # the planted spike lies in another town
    for party in hotspots["repeats"]["parties"]:
        assert {TOWN_OF[c] for c in party["case_ids"]} == {"平沙镇"}
    clusters = ana.get("/api/clusters").get_json()["clusters"]
    assert clusters and {TOWN_OF[c] for cluster in clusters for c in cluster["case_ids"]} == {"平沙镇"}
    date_of = {r["id"]: r["occurred_on"] for r in cases()}
    for cluster in clusters:  # its size, trend, types and places count the area's cases alone
        assert cluster["size"] == len(cluster["case_ids"])
        assert cluster["trend"] == {month: sum(date_of[c].startswith(month) for c in cluster["case_ids"]) for month in cluster["trend"]}
        assert sum(t["cases"] for t in cluster["types"]) <= cluster["size"]
        assert all("平沙镇" in p["place"] for p in cluster["places"])
    everyone = {c["id"]: c for c in clients["area-adm"].get("/api/clusters").get_json()["clusters"]}
    assert any(sum(c["trend"].values()) < sum(everyone[c["id"]]["trend"].values()) for c in clusters)
    page = ana.get("/dashboard").get_data(as_text=True)
    assert "三灶镇" not in page and "红旗镇" not in page
    everyone = clients["area-adm"].get("/api/heat").get_json()
    assert {row["where"] for row in everyone["places"]} == {"三灶镇", "红旗镇", "平沙镇"}


def test_repeats_risk_register_and_party_pages_keep_to_the_area(clients):
    ana, med = clients["area-ana"], clients["area-med"]
    chains = ana.get("/api/repeats").get_json()["chains"]
    assert chains and all({TOWN_OF[c] for c in chain["case_ids"]} == {"平沙镇"} for chain in chains)
    assert med.get("/api/repeats").get_json()["chains"] == []  # 王建国's chain lies in 平沙镇
    for item in med.get("/api/risk").get_json()["parties"]:
        assert {TOWN_OF[c] for c in item["case_ids"]} == {"红旗镇"}
    party_id = next(p for p in ana.get("/api/chains/R000").get_json()["parties"] if p["count"] == 4)["party_id"]
    assert ana.get(f"/api/parties/{party_id}").status_code == 200
    assert med.get(f"/api/parties/{party_id}").status_code == 404
    assert med.get(f"/parties/{party_id}").status_code == 404
    refused = med.post(f"/api/parties/{party_id}/followups", json={"note": "电话回访"}, headers={"X-CSRF-Token": med.csrf})
    assert refused.status_code == 404


def test_libraries_and_their_exports_hold_only_the_areas_entries(app, clients):
    tra = clients["area-tra"]
    with app.app_context():
        library_id = services().libraries().get(LIBRARY).id
    detail = tra.get(f"/api/libraries/{library_id}").get_json()
    assert [e["case_id"] for e in detail["entries"]] == ["DOG1"]
    assert {TOWN_OF[s["case_id"]] for s in detail["suggestions"]} <= {"红旗镇"}
    export = tra.get(f"/api/libraries/{library_id}/export", query_string={"format": "jsonl", "drafts": "1"})
    assert export.status_code == 200
    assert CASE_ID.findall(export.get_data(as_text=True)) and towns_named(export.get_data(as_text=True)) == {"红旗镇"}
    assert tra.get(f"/libraries/{library_id}/entries/R000").status_code == 404
    added = tra.post(f"/api/libraries/{library_id}/cases", json={"case_ids": ["L001", "S001"]},
                     headers={"X-CSRF-Token": tra.csrf}).get_json()
    assert added["added"] == ["L001"] and added["missing"] == ["S001"]


def test_the_search_forms_choices_count_the_areas_cases(clients):
    page = clients["area-med"].get("/").get_data(as_text=True)
    mine = [r for r in cases() if r["location"]["town"] == "红旗镇"]
    for outcome in {r["outcome"] for r in mine}:
        assert f'>{outcome}（{sum(r["outcome"] == outcome for r in mine)}）</option>' in page
    assert ">12345热线（" not in page  # 王建国's channel: his cases lie in 平沙镇
    everyone = clients["area-adm"].get("/").get_data(as_text=True)
    assert f'>调解成功（{sum(r["outcome"] == "调解成功" for r in cases())}）</option>' in everyone


def test_a_librarys_coverage_counts_the_areas_entries(app, clients):
    with app.app_context():
        library_id = services().libraries().get(LIBRARY).id
    everything = clients["area-adm"].get(f"/api/libraries/{library_id}").get_json()
    ours = [e["case_id"] for e in everything["entries"] if TOWN_OF[e["case_id"]] == "红旗镇"]
    mine = clients["area-tra"].get(f"/api/libraries/{library_id}").get_json()["coverage"]
    assert everything["coverage"]["entries"] > len(ours) and mine["entries"] == len(ours)
    assert {(c["category"], c["subtype"]) for c in mine["cells"]} == {tuple(r["type"].split("/")) for r in cases() if r["id"] in ours}
    page = clients["area-tra"].get(f"/libraries/{library_id}").get_data(as_text=True)
    assert "婚姻家庭" not in page.split('id="coverage"')[1].split("</table>")[0]  # T0001 (三灶镇) is not counted


def _day(days_ago: int) -> str:
    import datetime as dt

    from leian.graph.followups import local_today

    return (local_today() - dt.timedelta(days=days_ago)).isoformat()


def _spanning_records() -> list[dict]:
    """周大勇 threatens his wife in three recent 平沙镇 cases and has one plain noise case in 红旗镇; 钱多多 has three
    cases in 平沙镇 and three in 红旗镇's spike of 漏水 cases in 2025-05."""
    def case(case_id, town, date, kind, text, party, phone):
        return {"id": case_id, "title": text[:8], "text": text, "type": kind, "occurred_on": date, "outcome": "调解成功",
                "location": {"province": "广东省", "city": "珠海市", "district": "金湾区", "town": town},
                "parties": [{"name": party, "role": "申请人", "phone": phone}, {"name": f"邻居{case_id}", "role": "被申请人"}]}

    found = [case(f"V{i}", "平沙镇", _day(90 - 30 * i), "婚姻家庭/家庭暴力", f"周大勇酒后动刀威胁妻子，扬言要报复（第{i}次）",
                  "周大勇", "13800009999") for i in range(3)]
    found.append(case("V3", "红旗镇", _day(5), "邻里/噪音", "周大勇反映楼上夜间噪音", "周大勇", "13800009999"))
    months = [f"{2024 + m // 12}-{m % 12 + 1:02d}" for m in range(16)]  # 2024-01 .. 2025-04
    found += [case(f"H{m:02d}", "红旗镇", f"{month}-10", "邻里/漏水", f"楼上卫生间漏水（{month}）", f"孙{m}号", None)
              for m, month in enumerate(months)]
    found += [case(f"Q{k}", "平沙镇", f"2024-0{k + 3}-08", "邻里/漏水", f"钱多多家楼上漏水（{k}）", "钱多多", "13700008888")
              for k in range(3)]
    found += [case(f"X{k}", "红旗镇", f"2025-05-{k + 2:02d}", "邻里/漏水", f"楼上漏水渗到楼下（{k}）",
                   "钱多多" if k < 3 else f"赵{k}号", "13700008888" if k < 3 else None) for k in range(8)]
    for record in found:
        record["parties"][0] = {k: v for k, v in record["parties"][0].items() if v is not None}
    return found


@pytest.fixture(scope="module")
def spanning():
    """An app over :func:`_spanning_records`, with an admin and two users of 红旗镇 (mediator, analyst)."""
    home = indexed_home(_spanning_records(), "leian-areas-")
    with home.open_store() as store:
        accounts = Accounts(store)
        accounts.add("adm", "admin", PASSWORD)
        accounts.add("hq-med", "mediator", PASSWORD, area="金湾区/红旗镇")
        accounts.add("hq-ana", "analyst", PASSWORD, area="金湾区/红旗镇")
    app = create_app(home, testing=True)
    return {username: login(app, username) for username in ("adm", "hq-med", "hq-ana")}


def test_a_partys_risk_level_weighs_the_areas_cases_alone(spanning):
    adm, med = spanning["adm"], spanning["hq-med"]
    party = next(p for p in adm.get("/api/risk").get_json()["parties"] if "V3" in p["case_ids"])
    assert party["level"] == "高" and len(party["case_ids"]) == 4
    mine = med.get(f"/api/parties/{party['party_id']}").get_json()
    assert mine["cases"] == 1 and mine["risk"]["level"] != "高"
    assert not any("家庭暴力" in r or "威胁" in r for r in mine["risk"]["reasons"])
    page = med.get(f"/parties/{party['party_id']}").get_data(as_text=True)
    assert "家庭暴力" not in page and "高风险" not in page
    assert all(p["level"] != "高" for p in med.get("/api/risk").get_json()["parties"] if p["party_id"] == party["party_id"])
    alert = med.get("/api/search", query_string={"q": "周大勇又来反映噪音"}).get_json()["repeat_alert"]
    assert [(p["cases"], p.get("level")) for p in alert["parties"]] == [(1, mine["risk"]["level"])]
    assert "已有1件纠纷" in alert["text"] and not alert["parties"][0]["chains"]


def test_party_totals_in_hotspot_reasons_count_the_areas_cases(spanning):
    query = {"at": "2025-05", "min_count": "5"}
    whole = next(s for s in spanning["adm"].get("/api/hotspots", query_string=query).get_json()["hotspots"]
                 if s["place"].endswith("红旗镇") and s["risk"] == "红")
    assert "（累计6件）" in whole["why"]
    mine = next(s for s in spanning["hq-ana"].get("/api/hotspots", query_string=query).get_json()["hotspots"]
                if s["risk"] == "红")
    assert "（累计3件）" in mine["why"] and "累计6件" not in mine["why"]


def test_the_admin_sets_an_area_and_the_user_sees_the_change_after_logging_in_again(app, clients):
    with app.app_context():
        if services().accounts.get("area-move") is None:
            services().accounts.add("area-move", "mediator", PASSWORD)
    mover = login(app, "area-move")
    assert mover.get("/api/cases/S000").status_code == 200  # no area yet: every case
    admin = login(app, ROLES_USERS["admin"])
    users_page = admin.get("/admin/users").get_data(as_text=True)
    assert "金湾区 › 平沙镇" in users_page and "全部区域" in users_page
    token = re.search(r'name="csrf_token" value="([^"]+)"', users_page).group(1)
    admin.post("/admin/users/area-move", data={"csrf_token": token, "role": "mediator", "active": "1", "area": "金湾区/平沙镇"})
    assert mover.get("/api/me").status_code == 401  # the old session ended with the change of area
    mover = login(app, "area-move")
    answer = mover.get("/api/search", query_string={"q": "装修噪音扰民", "top_k": 20}).get_json()
    assert towns_named(" ".join(r["id"] for r in answer["results"])) == {"平沙镇"}
    audit = admin.get("/api/audit", query_string={"action": "user_update", "username": ROLES_USERS["admin"]}).get_json()
    assert any(e["target"] == "area-move" and "金湾区/平沙镇" in e["detail"] for e in audit["entries"])
    admin.post("/admin/users/area-move", data={"csrf_token": token, "role": "mediator", "active": "1", "area": "金湾区/金鼎镇"})
    with app.app_context():
        assert services().accounts.get("area-move").area == "金湾区/平沙镇"  # a typo changes nothing


def test_audit_log_filters_by_user_action_and_date_and_pages(app, clients):
    with app.app_context():
        accounts = services().accounts
        for i in range(60):
            accounts.audit("area-ana", "view", target=f"T{i:04d}")
        zone = services().home.timezone
    admin = login(app, ROLES_USERS["admin"])
    answer = admin.get("/api/audit", query_string={"username": "area-ana", "action": "view", "limit": 25}).get_json()
    assert answer["total"] >= 60 and len(answer["entries"]) == 25
    assert {(e["username"], e["action"]) for e in answer["entries"]} == {("area-ana", "view")}
    second = admin.get("/api/audit", query_string={"username": "area-ana", "action": "view", "limit": 25, "offset": 25}).get_json()
    assert not {e["target"] for e in second["entries"]} & {e["target"] for e in answer["entries"]}
    from leian.clock import today

    day = today(zone)
    assert admin.get("/api/audit", query_string={"since": day, "until": day, "username": "area-ana"}).get_json()["total"] >= 60
    assert admin.get("/api/audit", query_string={"until": "2000-01-01"}).get_json()["total"] == 0
    bad = admin.get("/api/audit", query_string={"since": "2024-13-01"})
    assert bad.status_code == 400 and "起始日期" in bad.get_json()["error"]["detail"]
    page = admin.get("/admin/audit", query_string={"username": "area-ana", "action": "view"}).get_data(as_text=True)
    assert "查看案件" in page and 'id="audit-next"' in page and "（已筛选）" in page
    assert "第 1 / " in page
    page2 = admin.get("/admin/audit", query_string={"username": "area-ana", "action": "view", "page": 2}).get_data(as_text=True)
    assert 'id="audit-prev"' in page2


def test_an_areas_cases_are_read_again_once_the_store_changes(tmp_path):
    from leian.data.record import validate
    from leian.home import Home

    def case(case_id: str, town: str) -> dict:
        return {"id": case_id, "text": "邻居装修噪音扰民", "occurred_on": "2025-03-01",
                "location": {"province": "广东省", "city": "珠海市", "district": "金湾区", "town": town}}

    with Home.resolve(tmp_path).open_store() as store:
        store.upsert_batch([validate(case("A1", "红旗镇")), validate(case("A2", "平沙镇"))])
        area = Area.parse("金湾区/红旗镇")
        area.case_ids(store).add("not-a-case")  # each caller gets its own set
        assert area.case_ids(store) == {"A1"}
        store.upsert_batch([validate(case("A2", "红旗镇"))])  # moved into the area
        assert area.case_ids(store) == {"A1", "A2"}
        store.delete(["A1"])
        assert area.case_ids(store) == {"A2"} and Area.parse("金湾区").case_ids(store) == {"A2"}
