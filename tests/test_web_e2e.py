"""End-to-end tests of the web app in real headless Chromium (selenium), served by waitress.

Each test saves a screenshot of its page under ``test-artifacts/web/``.
"""
from __future__ import annotations

import socket
import tempfile
import threading
from pathlib import Path

import pytest
from leian.web.app import create_app
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait
from waitress.server import create_server
from web_support import HOSTILE, PASSWORD, ROLES_USERS, risk_home, web_home

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "web"


def _serve(home):
    app = create_app(home)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    httpd = create_server(app, host="127.0.0.1", port=port, threads=4)
    thread = threading.Thread(target=httpd.run, daemon=True)
    thread.start()
    return httpd, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def server():
    httpd, url = _serve(web_home())
    yield url
    httpd.close()


@pytest.fixture(scope="module")
def risk_server():
    """A second app over a small register: a violent family, 梁颖's five cases at one address."""
    httpd, url = _serve(risk_home())
    yield url
    httpd.close()


@pytest.fixture(scope="module")
def browser():
    downloads = tempfile.mkdtemp(prefix="leian-downloads-")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--window-size=1366,900",
                 f"--user-data-dir={tempfile.mkdtemp(prefix='leian-chromium-')}"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": downloads, "download.prompt_for_download": False})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.downloads = Path(downloads)
    yield driver
    driver.quit()


def _wait(driver, condition, timeout: float = 60):
    return WebDriverWait(driver, timeout).until(condition)


def _shot(driver, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1366, min(max(height, 900), 3000))
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))
    driver.set_window_size(1366, 900)


def _shots(driver, name: str) -> None:
    """Screenshots of what a person sees at 1366×768 (desktop) and 390×844 (phone)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for width, height, size in ((1366, 768, "desktop"), (390, 844, "phone")):
        driver.set_window_size(width, height)
        driver.save_screenshot(str(ARTIFACTS / f"{name}-{size}.png"))
    driver.set_window_size(1366, 900)


def _painted_pixels(driver, selector: str) -> int:
    """How many pixels of the canvases matching ``selector`` are not transparent (something was drawn)."""
    return driver.execute_script(
        "var painted = 0; document.querySelectorAll(arguments[0]).forEach(function (c) {"
        "  if (!c.width || !c.height) return;"
        "  var p = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "  for (var i = 3; i < p.length; i += 4) { if (p[i] > 0) painted++; } });"
        "return painted;", selector)


def _console_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def _login(driver, server: str, role: str) -> None:
    driver.delete_all_cookies()
    driver.get(server + "/login")
    driver.find_element(By.ID, "username").send_keys(ROLES_USERS[role])
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "login-button").click()
    _wait(driver, expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".topbar")))


def test_login_page_then_search_paraphrase_finds_the_dog_case_first(server, browser):
    browser.get(server + "/login")
    _shot(browser, "01-login")
    _login(browser, server, "mediator")
    box = browser.find_element(By.ID, "q")
    box.send_keys("隔壁邻居养的狗一到半夜就叫个不停，吵得我们全家睡不着觉")
    browser.find_element(By.ID, "search-button").click()
    first = _wait(browser, expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "#results .result .result-title")))
    assert first.get_attribute("href").endswith("/cases/DOG1")
    assert browser.find_elements(By.CSS_SELECTOR, ".facet li")
    _shot(browser, "02-search")
    assert _console_errors(browser) == []


def test_clicking_a_place_in_the_tree_filters_the_results(server, browser):
    _login(browser, server, "mediator")
    browser.get(server + "/?q=楼上卫生间漏水把我家天花板泡坏了")
    town = _wait(browser, expected_conditions.element_to_be_clickable((By.CSS_SELECTOR, "#facet-place a[title='镇街']")))
    name = town.text
    town.click()
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#facet-place a.chosen"))
    assert browser.find_element(By.CSS_SELECTOR, "#facet-place a.chosen").text == name
    places = [meta.text for meta in browser.find_elements(By.CSS_SELECTOR, "#results .result .meta")]
    assert places and all(name in place for place in places)
    filtered = browser.current_url
    browser.find_element(By.CSS_SELECTOR, "#facet-date summary").click()  # opens the newest year's months in place
    assert browser.find_element(By.CSS_SELECTOR, "#facet-date li.leaf a").is_displayed() and browser.current_url == filtered
    browser.execute_script("window.scrollTo(0, 0)")
    _shot(browser, "02-search-place")
    assert _console_errors(browser) == []


def test_repeat_party_raises_the_repeat_alert(server, browser):
    _login(browser, server, "mediator")
    browser.get(server + "/?q=邻居装修噪音太大&parties=王建国")
    alert = _wait(browser, expected_conditions.presence_of_element_located((By.ID, "repeat-alert")))
    assert "王建国" in alert.text


def test_case_page_escapes_hostile_text_and_masks_for_analyst(server, browser):
    _login(browser, server, "analyst")
    browser.get(server + "/cases/XSS1")
    text = _wait(browser, expected_conditions.presence_of_element_located((By.ID, "case-text"))).text
    assert "<script>" in text  # shown as text, not run
    assert browser.title != "pwned" and not browser.find_elements(By.CSS_SELECTOR, "#case-text img, #case-text script")
    browser.get(server + "/cases/R001")
    record = _wait(browser, expected_conditions.presence_of_element_located((By.ID, "case-record"))).text
    assert "王某某" in record and "王建国" not in record and "138****1111" in record
    timeline = browser.find_element(By.ID, "timeline").text
    assert "R000" not in timeline and "王某某" in timeline  # titles are shown, ids are links
    assert len(browser.find_elements(By.CSS_SELECTOR, "#timeline a[href$='/cases/R000']")) == 2  # 王 and 赵 both
    assert browser.find_element(By.ID, "repeat-alert").text.startswith("重复纠纷")
    _wait(browser, lambda d: d.find_element(By.ID, "graph").get_attribute("data-drawn") == "true")
    _wait(browser, lambda d: _painted_pixels(d, "#graph canvas") > 500)
    _shot(browser, "03-case")
    assert _console_errors(browser) == []


def test_clicking_a_party_in_the_graph_expands_it(server, browser):
    _login(browser, server, "mediator")
    browser.get(server + "/cases/R003")
    graph = _wait(browser, expected_conditions.presence_of_element_located((By.ID, "graph")))
    _wait(browser, lambda d: graph.get_attribute("data-drawn") == "true")
    count = "return document.getElementById('graph').cy.elements().length"  # new edges and nodes
    before = browser.execute_script(count)
    x, y = browser.execute_script(
        "var cy = document.getElementById('graph').cy;"
        "var p = cy.nodes('[label = \"Party\"]').filter(function (n) { return n.data('name') === '王建国'; })[0].renderedPosition();"
        "return [p.x, p.y];")
    box = graph.rect
    ActionChains(browser).move_to_element_with_offset(graph, int(x - box["width"] / 2), int(y - box["height"] / 2)).click().perform()
    assert "王建国" in _wait(browser, expected_conditions.presence_of_element_located((By.ID, "graph-selection"))).text
    _wait(browser, lambda d: d.execute_script(count) > before)


def test_dashboard_draws_the_trend_chart_and_lists_hotspots(server, browser):
    _login(browser, server, "analyst")
    browser.get(server + "/dashboard")
    _wait(browser, expected_conditions.presence_of_element_located((By.ID, "trend-chart")))
    _wait(browser, lambda d: _painted_pixels(d, "#trend-chart") > 500)
    rows = browser.find_elements(By.CSS_SELECTOR, ".hotspot-table tbody tr")
    assert any("三灶镇" in row.text and "邻里" in row.text for row in rows)
    _shot(browser, "04-dashboard")
    assert _console_errors(browser) == []


def test_trainer_builds_a_library_and_downloads_its_export(server, browser):
    _login(browser, server, "trainer")
    browser.get(server + "/libraries")
    form = browser.find_element(By.ID, "new-library")
    form.find_element(By.NAME, "name").send_keys("邻里纠纷典型案例")
    form.find_element(By.NAME, "description").send_keys("新任调解员培训用")
    form.find_element(By.CSS_SELECTOR, "button").click()
    add = _wait(browser, expected_conditions.presence_of_element_located((By.ID, "add-cases")))
    add.find_element(By.NAME, "case_ids").send_keys("DOG1 R000")
    add.find_element(By.CSS_SELECTOR, "button").click()
    _wait(browser, expected_conditions.presence_of_element_located((By.ID, "entry-table")))
    _shot(browser, "05-library")
    browser.find_element(By.LINK_TEXT, "犬只吠叫扰民纠纷").click()
    form = _wait(browser, expected_conditions.presence_of_element_located((By.ID, "entry-form")))
    lesson = form.find_element(By.NAME, "经验启示")
    lesson.send_keys("夜间噪音纠纷先固定证据，再约定具体时段。")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    _wait(browser, expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".flash")))
    history = browser.find_element(By.CSS_SELECTOR, ".history").text
    assert "经验启示" in history and "基本案情" not in history  # untouched (masked) sections are not rewritten
    _shot(browser, "06-entry")
    browser.find_element(By.LINK_TEXT, "邻里纠纷典型案例").click()
    browser.find_element(By.ID, "export-md").click()
    _wait(browser, lambda d: any(p.suffix == ".md" for p in d.downloads.iterdir()), timeout=30)
    exported = next(p for p in browser.downloads.iterdir() if p.suffix == ".md").read_text(encoding="utf-8")
    assert "夜间噪音纠纷先固定证据" in exported and "刘某某" in exported and "刘芳" not in exported


def test_admin_uploads_cases_and_sees_the_reject_report(server, browser):
    _login(browser, server, "admin")
    browser.get(server + "/ingest")
    upload = Path(tempfile.mkdtemp(prefix="leian-upload-")) / "网格上报.jsonl"
    upload.write_text(
        '{"id": "E2E1", "text": "小区广场舞音响声音过大，附近居民夜间无法休息", "type": "邻里/噪音"}\n'
        '{"id": "E2E2", "text": "日期写错的记录", "occurred_on": "2025-02-30"}\n', encoding="utf-8")
    browser.find_element(By.CSS_SELECTOR, "#ingest-form input[type=file]").send_keys(str(upload))
    browser.find_element(By.ID, "ingest-button").click()
    report = _wait(browser, expected_conditions.presence_of_element_located((By.ID, "ingest-report"))).text
    assert "网格上报.jsonl:2" in report and "occurred_on" in report  # rejects name the uploaded file and line
    _shot(browser, "08-ingest")
    for path, name in (("/admin/users", "07-users"), ("/admin/audit", "09-audit")):
        browser.get(server + path)
        _wait(browser, expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "main .card")))
        _shot(browser, name)
    assert HOSTILE not in browser.page_source
    assert _console_errors(browser) == []


QUERY = "邻居梁颖又拉闸断电，我们家冰箱里的东西都坏了。她住在三灶镇中心村西街75号"


def test_a_name_and_an_address_in_the_description_raise_the_alert_and_lead_to_the_chain(risk_server, browser):
    _login(browser, risk_server, "mediator")
    browser.get(risk_server + "/")
    browser.find_element(By.ID, "q").send_keys(QUERY)
    browser.find_element(By.ID, "search-button").click()
    alert = _wait(browser, expected_conditions.presence_of_element_located((By.ID, "repeat-alert")))
    people = alert.find_elements(By.CSS_SELECTOR, ".alert-party")
    assert len(people) == 1 and "梁颖" in people[0].text and "梁穎" in people[0].text and "已有 5 件纠纷" in people[0].text
    assert "西街75" in alert.text
    _shots(browser, "10-search-alert")
    people[0].find_element(By.PARTIAL_LINK_TEXT, "同一当事人同一地址").click()
    timeline = _wait(browser, expected_conditions.presence_of_element_located((By.ID, "chain-timeline")))
    assert len(timeline.find_elements(By.TAG_NAME, "li")) == 5
    _shots(browser, "11-chain")
    browser.get(risk_server + "/cases/LY3")
    banner = _wait(browser, expected_conditions.presence_of_element_located((By.ID, "repeat-alert")))
    assert "共 5 件" in banner.text and "本案" in banner.text and len(banner.find_elements(By.CSS_SELECTOR, "a[href*='/cases/LY']")) >= 4
    assert _console_errors(browser) == []


def test_mediator_works_the_register_and_records_a_revisit(risk_server, browser):
    _login(browser, risk_server, "mediator")
    browser.get(risk_server + "/risk")
    table = _wait(browser, expected_conditions.presence_of_element_located((By.ID, "risk-table")))
    rows = table.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert rows and "红" in rows[0].text and "高风险" in rows[0].text and "每周两次" in rows[0].text
    _shots(browser, "12-risk")
    Select = __import__("selenium.webdriver.support.select", fromlist=["Select"]).Select
    Select(browser.find_element(By.ID, "risk-level")).select_by_value("高")
    browser.find_element(By.CSS_SELECTOR, "#risk-filter button").click()
    _wait(browser, lambda d: "level=" in d.current_url)
    names = [row.text for row in browser.find_elements(By.CSS_SELECTOR, "#risk-table tbody tr")]
    assert names and all("高风险" in n for n in names)
    browser.find_element(By.LINK_TEXT, "李娟").click()
    _wait(browser, expected_conditions.presence_of_element_located((By.ID, "followup-form")))
    assert browser.find_element(By.ID, "party-level").text == "高风险"
    browser.find_element(By.ID, "followup-note").send_keys("上门回访，双方情绪稳定")
    browser.find_element(By.ID, "followup-button").click()
    _wait(browser, expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".flash-ok")))
    assert "上门回访，双方情绪稳定" in browser.find_element(By.ID, "timeline").text
    _shots(browser, "13-party")
    assert _console_errors(browser) == []


def test_analyst_sees_the_register_masked_and_cannot_record(risk_server, browser):
    _login(browser, risk_server, "analyst")
    browser.get(risk_server + "/risk")
    table = _wait(browser, expected_conditions.presence_of_element_located((By.ID, "risk-table"))).text
    assert "李某某" in table and "李娟" not in table
    browser.find_element(By.LINK_TEXT, "李某某").click()
    _wait(browser, expected_conditions.presence_of_element_located((By.ID, "party")))
    assert not browser.find_elements(By.ID, "followup-form") and "李娟" not in browser.page_source
    browser.get(risk_server + "/?q=" + QUERY)
    _wait(browser, expected_conditions.presence_of_element_located((By.ID, "results")))
    assert not browser.find_elements(By.ID, "repeat-alert")  # no probing whether a name is a party
