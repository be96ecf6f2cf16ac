"""The web app through Flask's test client, on a real store, search index and model.

Covers every route for every role (allowed and refused), CSRF, escaping of
hostile record text, masking by role, JSON errors, the OpenAPI document, the
audit log, ingest upload and the ``leian user`` commands.
"""
from __future__ import annotations

import datetime as dt
import io
import json
import re
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jsonschema_rs
import pytest
from click.testing import CliRunner
from leian.data.ingest import ingest
from leian.search.fusion import relevance_label
from leian.web.app import create_app, services
from leian.web.openapi import openapi_document
from leian.web.security import PUBLIC, ROUTE_ROLES, SECURITY_HEADERS
from web_support import PASSWORD, ROLES_USERS, indexed_home, web_home

from leian.cli import cli
from leian.home import Home
from leian.indexers import sync_all

LIBRARY = "培训/案例库 #1?"  # a name that must never be part of a URL
#: Values for the variable parts of every rule, so each route is called for real.
PATH_VALUES = {"case_id": "T0001", "username": "med", "filename": "app.css", "job_id": "no-such-job", "party_id": "P0000001",
               "rejects_file": "no-such-rejects.jsonl"}
ROLES = list(ROLES_USERS)


@pytest.fixture(scope="module")
def app():
    app = create_app(web_home(), testing=True)
    with app.app_context():
        libs = services().libraries()
        if LIBRARY not in [lib.name for lib in libs.list()]:
            libs.create(LIBRARY)
            libs.add_cases(LIBRARY, ["R000", "DOG1"], editor="tra")
        PATH_VALUES["library_id"] = str(libs.get(LIBRARY).id)
    return app


def login(app, role: str):
    client = app.test_client()
    answer = client.post("/api/login", json={"username": ROLES_USERS[role], "password": PASSWORD})
    assert answer.status_code == 200, answer.get_json()
    client.csrf = answer.get_json()["csrf_token"]
    return client


@pytest.fixture(scope="module")
def clients(app):
    return {role: login(app, role) for role in ROLES}


def _routes(app):
    """(endpoint, method, url) for every rule of the app, with real values in the URL."""
    for rule in app.url_map.iter_rules():
        url = rule.rule
        for name in rule.arguments:
            url = re.sub(rf"<(?:\w+:)?{name}>", PATH_VALUES[name], url)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, url


def test_route_table_names_exactly_the_apps_endpoints(app):
    assert {endpoint for endpoint, _, _ in _routes(app)} == set(ROUTE_ROLES)


def test_every_route_allows_exactly_its_roles(app, clients):
    mismatches = []
    for endpoint, method, url in _routes(app):
        roles = ROUTE_ROLES[endpoint]
        for role in ROLES:
            # Logging out ends the session: it gets a session of its own.
            client = login(app, role) if endpoint.endswith("logout") else clients[role]
            headers = {"X-CSRF-Token": client.csrf}
            status = client.open(url, method=method, headers=headers, data={"csrf_token": client.csrf}).status_code
            if roles is PUBLIC:  # a wrong password on the login routes is a 401, never a 403
                refused = status == 403
            else:
                refused = status in (401, 403)
            if refused == (roles is PUBLIC or role in roles) or (refused and status != 403):
                mismatches.append((endpoint, method, role, status))
    assert mismatches == []


def test_anonymous_users_are_sent_to_login_or_get_401(app):
    client = app.test_client()
    for endpoint, method, url in _routes(app):
        if ROUTE_ROLES[endpoint] is PUBLIC or method != "GET":
            continue
        answer = client.get(url)
        if url.startswith("/api/"):
            assert answer.status_code == 401 and answer.get_json()["error"]["message"] == "请先登录", url
        else:
            assert answer.status_code == 302 and answer.headers["Location"].startswith("/login"), url


def test_login_rejects_wrong_passwords_and_never_follows_offsite_next(app):
    client = app.test_client()
    assert client.post("/api/login", json={"username": "med", "password": "wrong-password"}).status_code == 401
    client.get("/login")
    with client.session_transaction() as session:
        token = session["csrf"]
    answer = client.post("/login?next=//evil.example/x", data={"username": "med", "password": PASSWORD, "csrf_token": token})
    assert answer.status_code == 302 and answer.headers["Location"] == "/"


def test_logout_and_idle_time_end_the_session_on_the_server(app):
    client = login(app, "mediator")
    stolen = client.get_cookie("leian_session").value
    assert client.post("/api/logout", headers={"X-CSRF-Token": client.csrf}).status_code == 200
    replay = app.test_client()
    replay.set_cookie("leian_session", stolen)
    assert replay.get("/api/me").status_code == 401
    idle = login(app, "mediator")
    with app.app_context():
        with services().store.transaction() as conn:  # the newest session is this client's
            conn.execute("UPDATE web_sessions SET last_seen = '2020-01-01T00:00:00+00:00' WHERE rowid = (SELECT MAX(rowid) FROM web_sessions)")
    assert idle.get("/api/me").status_code == 401


def test_repeated_wrong_passwords_lock_the_username_for_a_while(app):
    with app.app_context():
        services().accounts.add("guessme", "analyst", PASSWORD)
    client = app.test_client()
    for _ in range(5):
        assert client.post("/api/login", json={"username": "guessme", "password": "wrong-guess"}).status_code == 401
    assert client.post("/api/login", json={"username": "guessme", "password": PASSWORD}).status_code == 401
    assert client.post("/api/login", json={"username": "ana", "password": PASSWORD}).status_code == 200


def test_state_changing_requests_need_the_session_csrf_token(app, clients):
    client = clients["trainer"]
    for headers in ({}, {"X-CSRF-Token": "forged"}):
        answer = client.post("/api/libraries", json={"name": "不应创建"}, headers=headers)
        assert answer.status_code == 400 and "CSRF" in answer.get_json()["error"]["detail"]
    assert client.post("/libraries", data={"name": "不应创建"}).status_code == 400
    assert "不应创建" not in json.dumps(client.get("/api/libraries").get_json(), ensure_ascii=False)
    login_page = app.test_client()
    assert login_page.post("/login", data={"username": "med", "password": PASSWORD}).status_code == 400
    created = client.post("/api/libraries", json={"name": "CSRF 通过"}, headers={"X-CSRF-Token": client.csrf})
    assert created.status_code == 201 and created.get_json()["library"]["name"] == "CSRF 通过"


def test_hostile_record_text_is_escaped_everywhere(clients):
    client = clients["mediator"]
    pages = [client.get("/cases/XSS1"), client.get("/?q=恶意标题 document title pwned"), client.get("/cases/R003")]
    for page in pages:
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert "<script>document" not in html and "<img src=x" not in html
    assert "&lt;script&gt;document.title=" in pages[0].get_data(as_text=True)
    assert "XSS1" in pages[1].get_data(as_text=True)


def test_pages_and_answers_carry_the_security_headers(app, clients):
    for answer in (clients["mediator"].get("/"), clients["mediator"].get("/api/me"), app.test_client().get("/api/nope"),
                   app.test_client().get("/login")):
        for name, value in SECURITY_HEADERS.items():
            assert answer.headers[name] == value
    assert "'unsafe-inline'" not in SECURITY_HEADERS["Content-Security-Policy"]
    assert clients["mediator"].get("/cases/T0001").headers["Cache-Control"] == "no-store"


def test_party_data_is_masked_by_role(clients):
    for role, client in clients.items():
        case = client.get("/api/cases/R000").get_json()["case"]
        text = json.dumps(case, ensure_ascii=False)
        assert "11010519491231002X" not in text and "110105***********X" in text
        if role == "mediator":
            assert case["parties"][0]["name"] == "王建国" and case["parties"][0]["phone"] == "13800001111"
        else:
            assert "王建国" not in text and "赵小红" not in text and "13800001111" not in text
            assert case["parties"][0]["name"] == "王某某" and case["parties"][0]["phone"] == "138****1111"
            assert case["text"].startswith("王某某反映")
        page = client.get("/cases/R000").get_data(as_text=True)
        assert ("王建国" in page) == (role == "mediator")


def test_a_page_asked_for_without_a_session_says_why_the_login_comes_first(app):
    anonymous = app.test_client()
    asked = anonymous.get("/dashboard", follow_redirects=True).get_data(as_text=True)
    assert "请先登录（未登录或登录已过期），登录后回到刚才的页面" in asked
    assert "请先登录" not in anonymous.get("/login").get_data(as_text=True)  # the login page opened directly says nothing


def test_a_refused_page_says_who_may_use_it_and_the_users_role(clients):
    # A mediator opening an analyst's link (the dashboard) is told why, on the page and in the API.
    page = clients["mediator"].get("/dashboard")
    assert page.status_code == 403 and "此页面或操作仅限分析员、管理员使用；您登录的角色是调解员。" in page.get_data(as_text=True)
    answer = clients["trainer"].get("/api/risk")
    assert answer.status_code == 403 and answer.get_json()["error"]["detail"] == "此页面或操作仅限调解员、分析员、管理员使用；您登录的角色是培训师。"


def test_search_results_and_hotspots_are_masked_for_analysts(clients):
    found = clients["analyst"].get("/api/search", query_string={"q": "王建国邻居装修噪音", "party": "王建国"}).get_json()
    assert found["results"] and "王建国" not in json.dumps(found["results"], ensure_ascii=False)
    hotspots = json.dumps(clients["analyst"].get("/api/hotspots").get_json(), ensure_ascii=False)
    assert "王某某" in hotspots and "王建国" not in hotspots
    mediator = clients["mediator"].get("/api/search", query_string={"q": "王建国邻居装修噪音"}).get_json()
    assert mediator["results"][0]["id"].startswith("R")


def test_graph_neighbourhood_expands_and_is_masked_by_role(clients):
    graph = clients["analyst"].get("/api/cases/R001/neighbors").get_json()
    parties = [n for n in graph["nodes"] if n["label"] == "Party"]
    assert sorted(p["name"] for p in parties) == ["王某某", "赵某某"]
    assert "王建国" not in json.dumps(graph, ensure_ascii=False)
    assert {"R000", "R002"} <= set(graph["summary"]["repeat_of"] + graph["summary"]["repeated_by"])
    wang = next(p for p in parties if p["name"] == "王某某")
    expanded = clients["analyst"].get("/api/graph/neighbors", query_string={"node": wang["id"]}).get_json()
    assert {n.get("case_id") for n in expanded["nodes"]} >= {"R000", "R001", "R002", "R003"}
    mediator = clients["mediator"].get("/api/cases/R001/neighbors").get_json()
    assert "王建国" in [n["name"] for n in mediator["nodes"]]
    assert clients["mediator"].get("/api/graph/neighbors", query_string={"node": "nonsense"}).status_code == 400
    assert clients["mediator"].get("/api/graph/neighbors", query_string={"node": "case:NOPE"}).status_code == 404
    chains = clients["analyst"].get("/api/repeats").get_json()["chains"]
    chain = next(c for c in chains if "R000" in c["case_ids"])
    assert chain["case_ids"] == ["R000", "R001", "R002", "R003"] and "王建国" not in json.dumps(chains, ensure_ascii=False)


def test_search_page_facets_set_a_filter_and_keep_the_query(clients):
    html = clients["mediator"].get("/?q=装修噪音&parties=王建国").get_data(as_text=True)
    links = [parse_qs(urlsplit(href.replace("&amp;", "&")).query) for href in re.findall(r'href="(/\?[^"]+)"', html)]
    town = next(link for link in links if link.get("where") == ["平沙镇"])
    assert town["q"] == ["装修噪音"] and town["parties"] == ["王建国"]
    assert 'id="repeat-alert"' in html
    at_address = clients["analyst"].get("/api/search", query_string={"q": "装修噪音", "address": "东街12号"}).get_json()
    assert [c["id"] for c in at_address["address_history"]] == ["R000", "R001", "R002", "R003"]
    assert "王建国" not in json.dumps(at_address, ensure_ascii=False)


def _tree_links(html: str, facet: str) -> dict[str, dict[str, list[str]]]:
    """The links of one facet tree on the search page: node text -> the query its link sets."""
    block = html[html.index(f'id="facet-{facet}"'):]
    block = block[:block.index("</div>")]
    return {text: parse_qs(urlsplit(href.replace("&amp;", "&")).query)
            for href, text in re.findall(r'<a href="(/\?[^"]+)"[^>]*>([^<]+)</a>', block)}


def test_search_page_place_and_date_trees_link_to_matching_filters(clients):
    client = clients["mediator"]
    answer = client.get("/api/search", query_string={"q": "漏水"}).get_json()
    document = openapi_document()
    schema = document["paths"]["/api/search"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    jsonschema_rs.validate({**schema, "components": document["components"]}, answer)
    city = answer["facets"]["place"][0]
    assert (city["name"], city["level"]) == ("珠海市", "city")
    assert sum(town["count"] for town in city["children"][0]["children"]) == city["count"]
    assert {town["name"]: town["count"] for town in city["children"][0]["children"]} == answer["facets"]["town"]
    html = client.get("/?q=漏水").get_data(as_text=True)
    places, dates = _tree_links(html, "place"), _tree_links(html, "date")
    assert places["三灶镇"] == {"q": ["漏水"], "where": ["三灶镇"]} and "海澄村" in places
    link = next(query for text, query in dates.items() if text.endswith("月"))
    last_day = dt.date.fromisoformat(link["until"][0])
    assert link["since"][0] == f"{last_day:%Y-%m}-01" and (last_day + dt.timedelta(days=1)).day == 1
    for query in (places["三灶镇"], link):
        results = client.get("/api/search", query_string={**query, "top_k": 20}).get_json()["results"]
        assert results
        assert all("三灶镇" in r["place"] for r in results) if "where" in query else \
            all(link["since"][0] <= r["date"] <= link["until"][0] for r in results)
    chosen = client.get("/", query_string={"q": "漏水", "where": "三灶镇"}).get_data(as_text=True)
    assert re.search(r'<details open><summary><a href="/\?q=[^"]+" title="镇街" class="chosen">三灶镇</a>', chosen)
    assert _tree_links(chosen, "place")["三灶镇"] == {"q": ["漏水"]}  # clicking the chosen place clears it


def test_search_api_answers_the_engine_contract(clients):
    answer = clients["mediator"].get("/api/search", query_string={"q": "养的狗半夜一直叫，吵得睡不着", "top_k": 3}).get_json()
    assert answer["results"][0]["id"] == "DOG1" and len(answer["results"]) == 3
    assert {"summary", "facets", "query"} <= set(answer)
    filtered = clients["mediator"].get("/api/search", query_string={"q": "漏水", "where": "三灶镇", "top_k": 20}).get_json()
    assert filtered["results"] and all("三灶镇" in r["place"] for r in filtered["results"])


def test_search_page_writes_relevance_as_the_cli_does(clients):
    # What a mediator reads: the level with its probability in steps of 5%, 低 alone (never "0%" for a listed case).
    shown = {}
    for q in ("养的狗半夜一直叫，吵得睡不着", "asdfgh 12345"):
        answer = clients["mediator"].get("/api/search", query_string={"q": q}).get_json()
        html = clients["mediator"].get("/", query_string={"q": q}).get_data(as_text=True)
        shown[q] = re.findall(r'<span class="score" title="[^"]*">相关度 ([^<]+)</span>', html)
        results = [r for r in answer["results"] if r["relevance"] != "low"] + [r for r in answer["results"] if r["relevance"] == "low"]
        assert shown[q] == [relevance_label(r["relevance_probability"]) for r in results]
        # 语义相近 N% (the raw cosine) beside 相关度 低 would contradict it: the chip is left out there.
        cards = re.findall(r'<li class="result card relevance-(\w+)">(.*?)</li>', html, flags=re.S)
        assert [level for level, _ in cards] == [r["relevance"] for r in results]
        assert [("语义相近" in card) for level, card in cards] == [level != "low" and bool(r["why"]["dense"]) for (level, _), r in zip(cards, results)]
        assert not re.search(r'相似之处</span>\s*</div>', html)  # no 相似之处 row left with nothing in it
        # The count of cases above the floor, or nothing where there are none (the summary says so: never "约 0 件").
        assert (f"相关案例约 {answer['total']} 件" in html) == (answer["total"] > 0) and "约 0 件" not in html
    assert re.fullmatch(r"[高中]（约\d?[05]%）", shown["养的狗半夜一直叫，吵得睡不着"][0])
    assert shown["asdfgh 12345"] and set(shown["asdfgh 12345"]) == {"低"}
    assert clients["mediator"].get("/api/search", query_string={"q": "养的狗半夜一直叫，吵得睡不着"}).get_json()["total"] > 0


def test_search_page_outcome_counts_say_which_results_they_count(clients):
    # The outcome pills count the results above the relevance floor (as the summary does), not the whole page.
    partial = 0
    for q in ("养的狗半夜一直叫，吵得睡不着", "楼上卫生间漏水，我家天花板发霉了"):
        answer = clients["mediator"].get("/api/search", query_string={"q": q}).get_json()
        html = clients["mediator"].get("/", query_string={"q": q}).get_data(as_text=True)
        bar = re.search(r'<div class="outcome-bar"><span class="small muted">本页(相关的)? ?(\d+) 件中：</span>(.*?)</div>', html, flags=re.S)
        pills = [int(n) for n in re.findall(r'class="pill outcome-\w+">[^<]* (\d+) 件<', bar.group(3))]
        assert int(bar.group(2)) == answer["summary"]["count"] and sum(pills) == sum(answer["summary"]["outcomes"].values())
        assert bool(bar.group(1)) == (answer["summary"]["count"] < len(answer["results"]))
        partial += answer["summary"]["count"] < len(answer["results"])
    assert partial  # a page with results below the floor was among them
    assert 'id="no-cases"' not in clients["mediator"].get("/").get_data(as_text=True)  # a store with cases says nothing of it


def test_search_on_an_empty_store_says_there_are_no_cases_yet_and_who_can_add_them(tmp_path):
    # A first install: "没有找到案件，换一种说法" would send the mediator rephrasing a search that cannot find anything.
    app = create_app(Home.resolve(tmp_path / "home"), testing=True)
    with app.app_context():
        for role in ("mediator", "admin"):
            services().accounts.add(ROLES_USERS[role], role, PASSWORD)
    mediator, admin = login(app, "mediator"), login(app, "admin")
    for client in (mediator, admin):
        for query in ({}, {"q": "楼上漏水，天花板发霉"}):
            html = client.get("/", query_string=query).get_data(as_text=True)
            assert 'id="no-cases"' in html and "案件库中还没有案件" in html and 'id="no-results"' not in html
            assert ('id="no-facets"' in html) == bool(query)  # the facet panel of an empty answer says why it is empty
    assert "请联系管理员导入案件登记" in mediator.get("/").get_data(as_text=True)
    assert 'href="/ingest"' in admin.get("/").get_data(as_text=True)


def test_dashboard_names_a_period_it_has_no_data_for_before_showing_the_latest(clients):
    analyst = clients["analyst"]
    shown = analyst.get("/dashboard", query_string={"at": "2030-01"}, follow_redirects=True).get_data(as_text=True)
    assert re.search(r'class="flash flash-warn"[^>]*>[^<]*2030-01[^<]*不在数据范围内[^<]*；下面是最近一个完整周期<', shown)
    # A week label left in the form after switching to months just gives way, without a warning.
    switched = analyst.get("/dashboard", query_string={"at": "2025-W11", "period": "month"}, follow_redirects=True)
    assert switched.status_code == 200 and "flash-warn" not in switched.get_data(as_text=True)


def test_search_page_writes_the_predicted_type_as_the_api_text(clients):
    # A calibrated probability never reads 100%: the page shows the API's text, which keeps the raw probability beside it.
    q = "楼上卫生间漏水，我家天花板发霉了"
    guess = clients["mediator"].get("/api/search", query_string={"q": q}).get_json()["predicted_type"]
    assert guess["probability"] > 0.995 and guess["text"] == "邻里 › 漏水（99%以上）"
    html = clients["mediator"].get("/", query_string={"q": q}).get_data(as_text=True)
    assert re.search(r'id="predicted-type">推测类型：邻里 › 漏水（99%以上）<', html) and "100%" not in html


def test_an_api_body_missing_a_field_is_told_in_chinese(clients):
    trainer = clients["trainer"]
    answer = trainer.post("/api/libraries", headers={"X-CSRF-Token": trainer.csrf}, json={"name": "  "})
    assert answer.status_code == 400 and answer.get_json()["error"]["detail"] == "缺少字段 name（须为非空的字符串）"
    admin = clients["admin"]
    answer = admin.post("/api/users", headers={"X-CSRF-Token": admin.csrf}, json={"username": "x1", "role": "boss", "password": "long-enough-1"})
    assert answer.get_json()["error"]["detail"] == "role 可选：mediator（调解员）、analyst（分析员）、trainer（培训师）、admin（管理员）"


def test_search_api_pages_with_top_k(clients):
    ask = lambda **extra: clients["mediator"].get("/api/search", query_string={"q": "漏水", **extra}).get_json()
    first, second, whole = ask(top_k=2), ask(top_k=2, page=2), ask(top_k=4)
    assert (first["page"], second["page"], first["top_k"]) == (1, 2, 2)
    assert [r["id"] for r in first["results"] + second["results"]] == [r["id"] for r in whole["results"]]
    assert clients["mediator"].get("/api/search", query_string={"q": "漏水", "page": 0}).status_code == 400


@pytest.mark.parametrize(("method", "url", "status"), [
    ("GET", "/api/search", 400),
    ("GET", "/api/search?q=漏水&top_k=abc", 400),
    ("GET", "/api/search?q=漏水&top_k=0", 400),
    ("GET", "/api/search?q=漏水&since=2024-13-01", 400),
    ("GET", "/api/hotspots?level=planet", 400),
    ("GET", "/api/cases/NOPE", 404),
    ("GET", "/api/libraries/999999", 404),
    ("GET", "/api/libraries/{library_id}/export?format=pdf", 400),
    ("GET", "/api/no/such/route", 404),
    ("DELETE", "/api/search", 405),
])
def test_errors_are_json_with_a_chinese_message(app, clients, method, url, status):
    answer = clients["admin"].open(url.format(**PATH_VALUES), method=method, headers={"X-CSRF-Token": clients["admin"].csrf})
    assert answer.status_code == status
    error = answer.get_json()["error"]
    assert error["code"] == status and re.search(r"[\u4e00-\u9fff]", error["message"])


def test_a_server_error_is_a_json_500_without_a_traceback():
    home = Home.resolve(tempfile.mkdtemp(prefix="leian-web-500-"))
    app = create_app(home, testing=True)
    with app.app_context():
        services().accounts.add("adm", "admin", PASSWORD)
        with services().store.transaction() as conn:
            conn.execute(
                "INSERT INTO cases (id, record, raw, search_text, content_hash, created_at, updated_at)"
                " VALUES ('BROKEN', 'not json', '{}', '', '', '', '')"
            )
    app.config["PROPAGATE_EXCEPTIONS"] = False
    client = login(app, "admin")
    answer = client.get("/api/cases/BROKEN")
    assert answer.status_code == 500
    error = answer.get_json()["error"]
    assert (error["code"], error["message"]) == (500, "服务器内部错误") and re.fullmatch(r"[0-9a-f]{8}", error["log_id"])
    assert error["detail"] == f"内部错误（编号 {error['log_id']}），已记入服务器错误日志；报告时请附上编号。"
    page = client.get("/cases/BROKEN")
    assert page.status_code == 500 and "Traceback" not in page.get_data(as_text=True)


def test_openapi_document_describes_every_api_route(app):
    document = app.test_client().get("/api/openapi.json").get_json()
    assert document == openapi_document()
    described = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    served = {(re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", url_rule.rule), method)
              for url_rule in app.url_map.iter_rules() if url_rule.rule.startswith("/api/") and url_rule.endpoint != "api.openapi"
              for method in url_rule.methods - {"HEAD", "OPTIONS"}}
    assert described == served


def test_library_workflow_through_the_api_and_masked_export(clients):
    trainer, admin = clients["trainer"], clients["admin"]
    base = f"/api/libraries/{PATH_VALUES['library_id']}"
    detail = trainer.get(base).get_json()
    assert detail["library"]["name"] == LIBRARY and [e["case_id"] for e in detail["entries"]] == ["R000", "DOG1"]
    assert "王建国" not in json.dumps(detail, ensure_ascii=False)
    edited = trainer.patch(f"{base}/entries/DOG1", headers={"X-CSRF-Token": trainer.csrf},
                           json={"sections": {"经验启示": "先固定证据"}, "tags": ["噪音"]})
    assert edited.status_code == 200 and edited.get_json()["entry"]["status"] == "draft"
    own = trainer.patch(f"{base}/entries/DOG1", headers={"X-CSRF-Token": trainer.csrf}, json={"action": "review"})
    assert own.status_code == 400 and "须由另一人审核" in own.get_json()["error"]["detail"]  # the author may not review
    for action, status in (("review", "reviewed"), ("publish", "published")):
        answer = admin.patch(f"{base}/entries/DOG1", headers={"X-CSRF-Token": admin.csrf}, json={"action": action})
        assert answer.get_json()["entry"]["status"] == status
    exported = trainer.get(f"{base}/export?format=jsonl")
    assert exported.status_code == 200 and "attachment" in exported.headers["Content-Disposition"]
    assert exported.headers["Content-Type"] == "application/x-ndjson; charset=utf-8"  # one charset, not two
    table = clients["analyst"].get("/dashboard/export", query_string={"table": "heat", "format": "csv"})
    assert table.status_code == 200 and table.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "%2F" in exported.headers["Content-Disposition"] or "_" in exported.headers["Content-Disposition"]
    lines = [json.loads(line) for line in exported.get_data(as_text=True).splitlines()]
    assert [line["case_id"] for line in lines] == ["DOG1"]  # published only, unless drafts are asked for
    assert lines[0]["经验启示"] == "先固定证据" and "刘芳" not in exported.get_data(as_text=True)
    with_drafts = trainer.get(f"{base}/export?format=jsonl&drafts=1").get_data(as_text=True).splitlines()
    assert [json.loads(line)["case_id"] for line in with_drafts] == ["R000", "DOG1"]
    docx = trainer.get(f"/libraries/{PATH_VALUES['library_id']}/export?format=docx")
    assert docx.status_code == 200 and docx.data[:2] == b"PK"
    added = trainer.post(f"{base}/cases", headers={"X-CSRF-Token": trainer.csrf},
                         json={"case_ids": ["T0003", "NOPE-1", "DOG1"]}).get_json()
    assert (added["added"], added["present"], added["missing"]) == (["T0003"], ["DOG1"], ["NOPE-1"])


def test_library_suggestions_name_each_case_as_the_lists_do(clients):
    from markupsafe import escape

    trainer = clients["trainer"]
    suggestions = trainer.get(f"/api/libraries/{PATH_VALUES['library_id']}").get_json()["suggestions"]
    assert suggestions and all(s["title"] for s in suggestions)
    page = trainer.get(f"/libraries/{PATH_VALUES['library_id']}").get_data(as_text=True)
    for s in suggestions:  # the title (masked for a trainer) is the link, the id beside it
        assert f'{escape(s["title"])}</a> <span class="case-id small">{s["case_id"]}</span>' in page


def test_audit_log_records_searches_views_and_exports(app, clients):
    # Every audited action happens here, so the test does not depend on what earlier tests did.
    assert app.test_client().post("/api/login", json={"username": "med", "password": "not-the-password"}).status_code == 401
    assert clients["mediator"].get("/api/search", query_string={"q": "邻居家的狗咬人"}).status_code == 200
    clients["mediator"].get("/cases/DOG1")
    clients["trainer"].get(f"/api/libraries/{PATH_VALUES['library_id']}/export?format=md")
    clients["mediator"].get("/risk")
    clients["mediator"].get("/risk", query_string={"level": "红", "where": "平沙镇"})
    entries = clients["admin"].get("/api/audit").get_json()["entries"]
    seen = {(e["username"], e["action"], e["target"]) for e in entries}
    assert ("med", "view", "DOG1") in seen and ("tra", "export", LIBRARY) in seen
    assert any(e["action"] == "search" and e["username"] == "med" for e in entries)
    assert any(e["action"] == "login_failed" for e in entries)
    # What the admin reads on 审计日志 says what was asked in words, not as query keys (level=红 where=…).
    risk_views = [e["detail"] for e in entries if e["action"] == "view_risk" and e["username"] == "med"]
    assert risk_views[:2] == ["等级 红，地点 平沙镇", "全部"]


def test_admin_manages_users_and_a_disabled_user_loses_access(app, clients):
    admin = clients["admin"]
    created = admin.post("/api/users", headers={"X-CSRF-Token": admin.csrf},
                         json={"username": "newmed", "role": "mediator", "password": "long-enough-1"})
    assert created.status_code == 201
    assert admin.post("/api/users", headers={"X-CSRF-Token": admin.csrf},
                      json={"username": "short", "role": "mediator", "password": "x"}).status_code == 400
    newcomer = app.test_client()
    assert newcomer.post("/api/login", json={"username": "newmed", "password": "long-enough-1"}).status_code == 200
    assert newcomer.get("/api/me").status_code == 200
    answer = admin.post("/admin/users/newmed", data={"csrf_token": admin.csrf, "role": "mediator", "active": "0"})
    assert answer.status_code == 302
    assert newcomer.get("/api/me").status_code == 401
    assert newcomer.post("/api/login", json={"username": "newmed", "password": "long-enough-1"}).status_code == 401


def test_ingest_upload_reports_rejects_and_makes_new_cases_searchable(clients):
    admin = clients["admin"]
    records = [
        {"id": "UP1", "text": "网格员上报：小区电梯长期故障，业主与物业公司因维修费用分摊争执不下", "type": "物业"},
        {"id": "UP2", "text": "金额写错的记录", "amount": "很多", "occured_on": "2025-05-01"},
    ]
    body = "\n".join(json.dumps(r, ensure_ascii=False) for r in records).encode("utf-8")
    answer = admin.post("/ingest", data={"csrf_token": admin.csrf, "file": (io.BytesIO(body), "上报.jsonl")},
                        content_type="multipart/form-data")
    assert answer.status_code == 302
    job_id = parse_qs(urlsplit(answer.headers["Location"]).query)["job"][0]
    job = _finished(admin, job_id)
    assert job["status"] == "done" and job["written"] == 1
    # The index steps told the job their count, rate and ETA, the last one finished.
    assert job["progress"]["step"] == "图谱相似案件" and job["progress"]["done"] == job["progress"]["total"] == 1
    assert job["report"]["inserted"] == 1 and job["report"]["rejected"] == 1
    assert any(m.startswith("上报.jsonl:2") and "amount" in m for m in job["report"]["reject_messages"])
    html = admin.get(f"/ingest?job={job_id}").get_data(as_text=True)
    assert 'id="ingest-report"' in html and "上报.jsonl" in html and "amount" in html
    # A key that looks meant for a field LeiAn reads is named with the field, as `leian ingest` names it.
    assert job["report"]["misnamed_messages"] == ["上报.jsonl：字段 'occured_on' 未读入（第 2 行起 1 条）：是否应为 occurred_on（发生日期）？"]
    assert 'id="ingest-misnamed"' in html and "是否应为 occurred_on（发生日期）" in html
    found = admin.get("/api/search", query_string={"q": "电梯坏了物业不修", "top_k": 3}).get_json()
    assert found["results"][0]["id"] == "UP1"
    wrong = admin.post("/ingest", data={"csrf_token": admin.csrf, "file": (io.BytesIO(b"x"), "cases.pdf")},
                       content_type="multipart/form-data", follow_redirects=True)
    assert "不支持的文件类型" in wrong.get_data(as_text=True)
    assert admin.get("/api/ingest/no-such-job").status_code == 404
    gone = admin.get("/ingest", query_string={"job": "no-such-job"}).get_data(as_text=True)  # e.g. after a restart
    assert "找不到这次导入任务" in gone and 'id="ingest-runs"' in gone
    started = admin.post("/api/ingest", headers={"X-CSRF-Token": admin.csrf}, content_type="multipart/form-data",
                         data={"file": (io.BytesIO(json.dumps(records[0], ensure_ascii=False).encode("utf-8")), "again.jsonl")})
    assert started.status_code == 202 and started.headers["Location"] == f"/api/ingest/{started.get_json()['id']}"
    assert _finished(admin, started.get_json()["id"])["report"]["unchanged"] == 1
    refused = admin.post("/api/ingest", headers={"X-CSRF-Token": admin.csrf}, content_type="multipart/form-data",
                         data={"file": (io.BytesIO(b"%PDF"), "cases.pdf")})
    assert refused.status_code == 400 and "不支持的文件类型" in refused.get_json()["error"]["detail"]


def _finished(client, job_id: str) -> dict:
    """Poll an ingest job until it is no longer running (the server does the work in a thread)."""
    for _ in range(600):
        job = client.get(f"/api/ingest/{job_id}").get_json()
        if job["status"] != "running":
            return job
        time.sleep(0.2)
    raise AssertionError(f"ingest job still running: {job}")


def test_cases_ingested_by_another_process_show_up_in_search_and_graph(clients):
    home = web_home()
    source = Path(tempfile.mkdtemp(prefix="leian-cli-ingest-")) / "cli.jsonl"
    source.write_text(json.dumps({"id": "CLI1", "text": "村里的鱼塘承包到期后，承包人拒不交还鱼塘，村委会多次催告无果",
                                  "type": "土地", "parties": [{"name": "何大勇", "role": "被申请人"}]},
                                 ensure_ascii=False) + "\n", encoding="utf-8")
    mediator = clients["mediator"]
    assert mediator.get("/api/search", query_string={"q": "鱼塘承包到期不还", "top_k": 1}).status_code == 200
    with home.open_store() as store:  # a second connection, as `leian ingest` would open
        ingest(store, [source], rejects_dir=home.rejects_dir)
        sync_all(home, store)
    found = mediator.get("/api/search", query_string={"q": "鱼塘承包到期不还", "top_k": 1}).get_json()
    assert found["results"][0]["id"] == "CLI1"
    graph = mediator.get("/api/cases/CLI1/neighbors").get_json()
    assert "何大勇" in [n["name"] for n in graph["nodes"]]


def test_user_commands_create_and_list_accounts():
    home = tempfile.mkdtemp(prefix="leian-web-cli-")
    runner = CliRunner()
    added = runner.invoke(cli, ["--home", home, "user", "add", "chief", "--role", "admin", "--name", "主任", "--password-stdin"],
                          input="a-strong-password\n")
    assert added.exit_code == 0, added.output
    listed = runner.invoke(cli, ["--home", home, "user", "list", "--json"])
    assert [(u["username"], u["role"], u["display_name"]) for u in json.loads(listed.output)["users"]] == [("chief", "admin", "主任")]
    again = runner.invoke(cli, ["--home", home, "user", "add", "chief", "--role", "admin", "--password-stdin"], input="another-pass\n")
    assert again.exit_code == 1 and "已存在" in again.output
    short = runner.invoke(cli, ["--home", home, "user", "add", "tiny", "--role", "mediator", "--password-stdin"], input="abc\n")
    assert short.exit_code == 1 and "密码至少" in short.output


def test_times_are_stored_in_utc_and_shown_in_local_time(app, clients):
    with app.app_context(), services().store.transaction() as conn:
        conn.execute(
            "INSERT INTO web_audit (at, username, action, target) VALUES ('2026-03-01T23:30:05+00:00', 'med', 'view', 'T0002')")
    page = clients["admin"].get("/admin/audit").get_data(as_text=True)
    assert "2026-03-02 07:30:05" in page and "2026-03-01 23:30" not in page
    entries = clients["admin"].get("/api/audit").get_json()["entries"]
    assert "2026-03-01T23:30:05+00:00" in [e["at"] for e in entries]  # the API gives the stored time


def test_a_case_without_a_title_is_headed_by_its_opening_words_masked_by_role():
    text = "王建国反映楼上卫生间漏水，楼下天花板大面积发霉，多次找楼上住户协商维修均被拒绝"
    app = create_app(indexed_home([{"id": "U1", "text": text, "parties": [{"name": "王建国", "role": "申请人"}]}],
                                  "leian-untitled-"), testing=True)
    with app.app_context():
        for role in ("mediator", "analyst"):
            services().accounts.add(ROLES_USERS[role], role, PASSWORD)
    headings = {role: re.search(r"<h1>([^<]*)</h1>", login(app, role).get("/cases/U1").get_data(as_text=True)).group(1)
                for role in ("mediator", "analyst")}
    assert headings == {"mediator": text[:30] + "…", "analyst": "王某某" + text[3:30] + "…"}


def test_each_similar_case_is_listed_once(clients):
    graph = clients["mediator"].get("/api/cases/S001/neighbors").get_json()
    similar = [s["case_id"] for s in graph["summary"]["similar"]]
    assert similar and len(similar) == len(set(similar))
    pairs = [tuple(sorted((e["source"], e["target"]))) for e in graph["edges"] if e["type"] == "SIMILAR_TO"]
    assert pairs and len(pairs) == len(set(pairs))
    # On the case page each similar case's number says what it measures, as the search page's chip does.
    html = clients["mediator"].get("/cases/S001").get_data(as_text=True)
    listed = re.search(r'<ol class="similar-list" id="similar">(.*?)</ol>', html, flags=re.S).group(1)
    scores = re.findall(r'<span class="score"[^>]*>([^<]*)</span>', listed)
    assert scores and all(re.fullmatch(r"语义相近 \d{1,3}%", score) for score in scores)


def test_web_answers_are_the_python_apis(app, clients):
    """The web layer asks the same LeiAn methods as the CLI and scripts: for a mediator (every name, every area)
    the search results and the repeat chains, and for an analyst the dashboard's table, are byte for byte what
    ``leian.open(home)`` answers."""
    import leian

    text = "楼上漏水把天花板泡坏了"
    web_search = clients["mediator"].get("/api/search", query_string={"q": text, "top_k": 5}).get_json()
    web_chains = clients["mediator"].get("/api/repeats").get_json()
    web_heat = clients["analyst"].get("/api/heat", query_string={"period": "week"}).get_json()
    with leian.open(app.extensions["leian"].home.root) as home:
        own_search = json.loads(json.dumps(home.search(text, top_k=5, alert=False).to_dict()))
        own_chains = json.loads(json.dumps({"chains": [chain.to_dict() for chain in home.repeats().chains]}))
        own_heat = json.loads(json.dumps(home.heat(period="week")))
    assert web_search["results"] and web_chains["chains"]
    assert json.dumps({k: v for k, v in web_search.items() if k != "repeat_alert"}, ensure_ascii=False) == \
        json.dumps(own_search, ensure_ascii=False)
    assert json.dumps(web_chains, ensure_ascii=False) == json.dumps(own_chains, ensure_ascii=False)
    assert web_heat["places"] and json.dumps(web_heat, ensure_ascii=False) == json.dumps(own_heat, ensure_ascii=False)


def test_web_views_of_a_chain_a_party_an_address_and_a_chart_are_the_python_apis(app, clients):
    """The chain page (its chains and parties), a party's page (spellings, reasons, revisits, risk entry) and graph drawing, a search's address
    history and the case list behind a chart ask the LeiAn methods a script asks (for a mediator, who sees every name
    and area: the same answers)."""
    import leian

    client = clients["mediator"]
    chain = client.get("/api/chains/R001").get_json()
    party_id = next(p["party_id"] for p in chain["parties"] if p["name"] == "王建国")
    party = client.get(f"/api/parties/{party_id}").get_json()
    drawn = client.get("/api/graph/neighbors", query_string={"node": f"party:{party_id}", "hops": 2}).get_json()
    searched = client.get("/api/search", query_string={"q": "装修噪音", "address": "平塘社区东街12号"}).get_json()
    listing = client.get("/", query_string={"where": "三灶镇", "outcome": "调解成功"}).get_data(as_text=True)
    with leian.open(app.extensions["leian"].home.root) as home:
        own_chains = json.loads(json.dumps([c.to_dict() for c in home.chains_of("R001").chains]))
        own_parties = [(r.party_id, r.name, len({c.case_id for c in r.cases})) for r in home.case_parties("R001").parties]
        own_risk = json.loads(json.dumps(home.assess(party_id).to_dict()))
        own_party = json.loads(json.dumps(home.party(party_id).parties[0].to_dict()))
        own_address = home.address_cases("平塘社区东街12号")
        own_list = home.case_list({"where": "三灶镇", "outcome": "调解成功"})
        own_nodes, own_edges = home.graph_neighborhood(f"party:{party_id}", hops=2)
    assert own_chains and [{k: v for k, v in c.items() if k != "cases"} for c in chain["chains"]] == own_chains
    assert [(p["party_id"], p["name"], p["count"]) for p in chain["parties"]] == [p for p in own_parties if p[2] > 1]
    assert party["risk"] == {k: own_risk[k] for k in party["risk"]} and own_risk["case_ids"]
    assert (party["names"], party["reasons"], party["followups"], party["cases"]) == (
        own_party["names"], own_party["reasons"], own_party["followups"], len({c["case_id"] for c in own_party["cases"]}))
    assert [c["id"] for c in searched["address_history"]] == own_address == ["R000", "R001", "R002", "R003"]
    assert {n["id"] for n in drawn["nodes"]} == set(own_nodes) and {"case:R000", "case:R003"} <= set(own_nodes)
    assert {(e["source"], e["type"], e["target"]) for e in drawn["edges"] if e["type"] != "SIMILAR_TO"} == \
        {(e.src, e.type, e.dst) for e in own_edges if e.type != "SIMILAR_TO"}
    shown = re.findall(r'class="result-title" href="/cases/([^"?]+)', listing)
    assert len(own_list) > 1 and shown == own_list[:len(shown)]
