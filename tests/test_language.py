"""Everything a person reads is 简体中文: CLI help and messages, reject reasons, web pages and errors.

The check looks for English phrases: two or more ASCII words in a row, once
option names (``--top-k``), placeholders (``FILE``), file names, codes and the
allow-listed technical terms are taken out. English stays where a developer
reads it (logs, option names), which these texts do not contain. A Chinese
sentence takes Chinese punctuation: an ASCII ``;`` ``:`` ``,`` between Chinese
characters (``调解成功; 常见做法:``) is reported too.
"""
from __future__ import annotations

import html
import json
import re
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import url_for
from leian.web.app import create_app, services
from web_support import HOSTILE, PASSWORD, ROLES_USERS, web_home

from leian.cli import cli

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import cli_docs  # noqa: E402

#: Names of things that are written in Latin letters in Chinese text too.
ALLOWED = (
    "m3e-small", "sentence-transformers", "Benjamini-Hochberg", "neo4j-admin database import", "UNWIND … MERGE",
    "UNWIND", "MERGE", "Louvain", "Word", "Markdown", "JSON Lines", "Ctrl+C", "waitress", "networkx", "Neo4j",
    "Bolt", "OpenCC", "LeiAn", "pip install", "apt-get install", "make install", "make shell", "source",
)
# Code-like tokens: options, paths, ids, file names, placeholders, key=value, `quoted commands`.
_CODE = re.compile(
    r"`[^`]*`|\bleian(?: [a-z][a-z-]*){0,2}|'[^']*'|\"[^\"]*\"|https?://[!-~]+|(?<![\w-])--?[a-z][\w-]*|[!-~]*[/\\.=_<>\[\]{}|@:][!-~]*|\b[A-Z][A-Z0-9_]+\b|[!-~]*\d[!-~]*"
)
_PHRASE = re.compile(r"[A-Za-z][A-Za-z']*(?:[ ,;!?()]+[A-Za-z][A-Za-z']*)+")


def english_phrases(text: str) -> list[str]:
    """English phrases left in ``text``: runs of two or more ASCII words, and English interface words."""
    for term in ALLOWED:
        text = text.replace(term, " ")
    ui_words = [word for word in re.findall(r"[A-Za-z]+", text) if word in _UI_WORDS]
    return _PHRASE.findall(_CODE.sub(" ", text)) + ui_words


#: Single English words that are never codes: the words of an English user interface.
_UI_WORDS = {"Error", "Usage", "Options", "Commands", "Forbidden", "Search", "Submit", "Login", "Logout", "Loading",
             "Save", "Cancel", "Delete", "Export", "Download", "Next", "Previous", "Back", "Home", "Page", "Warning",
             "Required", "Missing", "Invalid", "Unknown", "Failed", "Done", "Rejected"}


_CJK = "\u3400-\u9fff\uf900-\ufaff"
# ASCII ; : , written in a Chinese sentence: after a Chinese character (or a full-width bracket) and before one, before a
# number ("本期: 5件") or at the end of a line (a heading "选项:"). Quoted and `code` spans are taken out first (an option value such as `--where 金湾区,三灶镇`).
_ASCII_PUNCTUATION = re.compile(rf"[{_CJK}）】」》] ?[;:,] ?(?=[{_CJK}（【「《\d]|$)", re.M)
_QUOTED = re.compile(r"`[^`]*`|'[^'\n]*'|\"[^\"\n]*\"")


def ascii_punctuation(text: str) -> list[str]:
    """Places where ``text`` writes ASCII ``;`` ``:`` ``,`` in a Chinese sentence (which takes ；：，)."""
    text = _QUOTED.sub(" ", text)
    return [text[m.start():m.end() + 1] for m in _ASCII_PUNCTUATION.finditer(text)]


def test_the_check_finds_english_and_lets_codes_pass():
    assert english_phrases("错误：--top-k 的值无效：'x' 不是有效的整数。用法 [选项] FILE id=A1 `leian demo`") == []
    assert english_phrases("Error: no case with id 'NOPE'") == ["no case with id", "Error"]
    assert english_phrases("read 3097, stored 3097 (new 3097)") == ["read   stored   (new"]
    assert english_phrases("按 Ctrl+C 停止；模型 m3e-small") == []
    assert ascii_punctuation("10/10 调解成功; 常见做法: 现场查看（5）, 分期付款") == ["功; 常", "法: 现", "）, 分"]
    assert ascii_punctuation("本期: 5件") == ["期: 5"] and ascii_punctuation("选项:\n  --top-k") == ["项:\n"]
    assert ascii_punctuation("调解成功；常见做法：现场查看（5）、分期付款。用法：`--where 金湾区,三灶镇` 'a:b' 10:30 key: value") == []


def _offending(texts: dict[str, str]) -> dict[str, list[str]]:
    """Per text, its English phrases and its ASCII punctuation in Chinese sentences."""
    return {where: found for where, text in texts.items() if (found := english_phrases(text) + ascii_punctuation(text))}


_PATHS = cli_docs.walk(cli)
# Command names (``leian library create``) are code a person types.
_COMMAND_NAMES = re.compile(r"\b(?:leian|" + "|".join({name for path in _PATHS for name in path}) + r")\b")


def test_every_cli_help_is_chinese():
    runner = CliRunner()
    helps = {}
    for path in _PATHS:
        result = runner.invoke(cli, [*path, "--help"], prog_name="leian", terminal_width=100)
        helps["leian " + " ".join(path)] = _COMMAND_NAMES.sub(" ", result.output)
    assert _offending(helps) == {}
    # The bracket click appends to an option ([默认：5000；1<=x<=65535]) joins its items with ；, not ASCII ';'.
    assert "[默认：5000；1<=x<=65535]" in helps["leian serve"]
    assert {where: extras for where, text in helps.items() if (extras := re.findall(r"\[[^\]\n]*; [^\]\n]*\]", text))} == {}


def _leian(home: Path, *args: str, stdin: str | None = None):
    return CliRunner().invoke(cli, ["--home", str(home), *args], prog_name="leian", input=stdin)


def test_cli_messages_and_reject_reasons_are_chinese(tmp_path):
    home = tmp_path / "home"
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([
        json.dumps({"id": "A1", "text": "楼上漏水", "occurred_on": "2025-03-01", "parties": [{"name": "王建国", "kind": "robot"}]},
                   ensure_ascii=False),
        json.dumps({"id": "A2", "text": "欠薪", "amount": "abc", "closed_on": "2025-01-01", "occurred_on": "2025-02-01",
                    "parties": [{"name": "李梅", "phone": "call me", "id_number": "123"}]}, ensure_ascii=False),
        json.dumps({"id": "A 3", "text": "", "tags": 5, "location": 7}, ensure_ascii=False),
        "{not json",
        json.dumps({"id": "B1", "text": "合格记录"}, ensure_ascii=False),
        json.dumps({"id": "B1", "text": "重复编号"}, ensure_ascii=False),
        "[1, 2]",
        '{"id": "C1", "text": "未完的记录',
        "{\"id\": \"C2\", \"text\": \"x\"} 多余",
    ]) + "\n", encoding="utf-8")
    runs = {
        "ingest": _leian(home, "ingest", "--no-index", str(bad)),
        "stats": _leian(home, "stats"),
        "show": _leian(home, "show", "NOPE"),
        "export": _leian(home, "export", str(tmp_path / "out.txt")),
        "search since": _leian(home, "search", "漏水", "--since", "2025-13-01"),
        "search empty": _leian(home, "search"),
        "bad option value": _leian(home, "search", "漏水", "--top-k", "x"),
        "no such option": _leian(home, "search", "漏水", "--nope"),
        "no such command": _leian(home, "nonsense"),
        "missing argument": _leian(home, "show"),
        "hotspots": _leian(home, "hotspots", "--at", "2030-01"),
        "library": _leian(home, "library", "show", "没有这个库"),
        "library list": _leian(home, "library", "list"),
        "user add": _leian(home, "user", "add", "x", "--role", "admin", "--password-stdin", stdin="short\n"),
        "user list": _leian(home, "user", "list"),
        "party": _leian(home, "party", "无此人"),
        "no store": _leian(tmp_path / "empty", "stats"),
        "generate": _leian(home, "generate", "--n", "3", "--out", str(tmp_path / "no" / "such" / "g.jsonl")),
    }
    assert runs["ingest"].exit_code == 1 and "拒收" in runs["ingest"].output
    rejects = next((home / "rejects").glob("*.jsonl")).read_text(encoding="utf-8").splitlines()
    reasons = {f"reject {i}": " ".join(json.loads(line)["messages"]) for i, line in enumerate(rejects)}
    assert len(reasons) == 8 and "第1位当事人的电话" in reasons["reject 1"]
    outputs = {name: _COMMAND_NAMES.sub(" ", run.output) for name, run in runs.items()}
    assert all(run.exit_code != 0 and not isinstance(run.exception, Exception) or isinstance(run.exception, SystemExit)
               for name, run in runs.items() if name not in ("stats", "library list", "user list")), outputs
    assert _offending({**outputs, **reasons}) == {}


def test_cli_answers_over_a_home_are_chinese():
    home = Path(web_home().root)
    runs = {" ".join(args): _leian(home, *args) for args in (
        ("search", "楼上卫生间漏水，楼下天花板泡坏了", "--top-k", "5"), ("search", "邻居装修噪音", "--party", "王建国"),
        ("show", "R001"), ("stats",), ("neighbors", "R001"), ("repeats",), ("hotspots",), ("risk",), ("party", "王建国"),
        ("followups",), ("clusters",), ("library", "list"))}
    assert {name: run.exit_code for name, run in runs.items() if run.exit_code} == {}
    assert "常见做法：" in runs["search 楼上卫生间漏水，楼下天花板泡坏了 --top-k 5"].output
    assert _offending({name: _DATA_WORDS.sub(" ", _COMMAND_NAMES.sub(" ", run.output)) for name, run in runs.items()}) == {}


@pytest.fixture(scope="module")
def app():
    app = create_app(web_home(), testing=True)
    with app.app_context():
        libs = services().libraries()
        if "语言检查库" not in [lib.name for lib in libs.list()]:
            libs.create("语言检查库", description="检查页面用语")
            libs.add_cases("语言检查库", ["R000", "DOG1"])
            libs.edit("语言检查库", "DOG1", "经验启示", "先固定证据", editor="tra")
            libs.review("语言检查库", "DOG1", reviewer="adm")
    return app


def _client(app, role: str):
    client = app.test_client()
    answer = client.post("/api/login", json={"username": ROLES_USERS[role], "password": PASSWORD})
    assert answer.status_code == 200
    client.csrf = answer.get_json()["csrf_token"]
    return client


def visible_text(page: str) -> str:
    """What a person sees of an HTML page: text and the words in placeholders, titles and labels (no scripts)."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    words = re.findall(r'(?:placeholder|title|aria-label|alt)="([^"]*)"', page)
    text = re.sub(r"<[^>]+>", " ", page)
    return html.unescape(" ".join([text, *words]))


def _page_urls(app) -> list[str]:
    with app.test_request_context():
        library = {"library_id": services().libraries().get("语言检查库").id}
        library_pages = [url_for("pages.library", **library), url_for("pages.entry", case_id="DOG1", **library)]
    return ["/", "/?q=楼上漏水&parties=王建国", "/?q=狗叫&where=红旗镇", "/?parties=王建国", "/?where=三灶镇&type=邻里",
            "/?ids=R000,R001,NOPE", "/cases/R001", "/cases/DOG1?back=/%3Fq%3D漏水", "/dashboard",
            "/dashboard?period=week&type_level=subtype", "/libraries", *library_pages, "/ingest", "/admin/users",
            "/admin/audit", "/no/such/page", "/cases/NOPE", "/login"]


# The test cases' own text holds a hostile English snippet: record data, not words of the app.
_DATA_WORDS = re.compile(r"\b(?:" + "|".join(set(re.findall(r"[A-Za-z]+", HOSTILE))) + r")\b")


def test_every_page_is_chinese_for_every_role(app):
    with app.app_context():  # other tests add users; their names are data too
        names = {user.username for user in services().accounts.list()} | {u.display_name for u in services().accounts.list()}
    user_names = re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)) + r")(?![\w-])")
    texts = {}
    for role in ROLES_USERS:
        client = _client(app, role)
        for url in _page_urls(app):
            answer = client.get(url)
            if answer.status_code in (301, 302):
                continue
            text = _DATA_WORDS.sub(" ", visible_text(answer.get_data(as_text=True)))
            texts[f"{role} {url} ({answer.status_code})"] = user_names.sub(" ", text)
    assert any("(403)" in where for where in texts) and any("(404)" in where for where in texts)
    assert _offending(texts) == {}


def test_api_errors_and_scripts_speak_chinese(app):
    client = _client(app, "analyst")
    answers = {url: client.get(url) for url in ("/api/cases/NOPE", "/api/search", "/api/search?q=x&top_k=abc",
                                                 "/api/users", "/api/hotspots?level=planet", "/api/nope")}
    messages = {url: " ".join(answer.get_json()["error"].get(k, "") for k in ("message", "detail"))
                for url, answer in answers.items()}
    assert all(answer.status_code >= 400 for answer in answers.values())
    # Script literals also hold selectors, ids and JSON keys: only those with a space can be text people read.
    code = {path: re.sub(r"/\*.*?\*/|//[^\n]*", " ", path.read_text(encoding="utf-8"), flags=re.S)
            for path in (ROOT / "web" / "static").rglob("*.js") if "vendor" not in path.parts}
    sentences = {str(path): "\n".join(literal for literal in re.findall(r'"((?:[^"\\\n]|\\.)*)"', source)
                                      if " " in literal and literal != "use strict")
                 for path, source in code.items()}
    assert _offending({**messages, **sentences}) == {}
