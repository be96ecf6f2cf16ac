"""A LeiAn home with realistic cases for the web tests, built once per test process.

Cases over 18 months in three towns, with a spike of 漏水 disputes in 三灶镇
in the last complete month, one party (王建国) in four disputes, a single dog
noise case for the paraphrase search, and a case whose text is hostile HTML.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
from pathlib import Path

from leian.home import Home

__all__ = ["HOSTILE", "PASSWORD", "ROLES_USERS", "cases", "chromium", "risk_home", "risk_records", "web_home"]

os.environ.setdefault("HF_HUB_OFFLINE", "1")

HOSTILE = '<script>document.title="pwned"</script><img src=x onerror="document.title=\'pwned\'">'
PASSWORD = "correct-horse-9"
#: Role -> the username created for it.
ROLES_USERS = {"mediator": "med", "analyst": "ana", "trainer": "tra", "admin": "adm"}

_TOWNS = [("三灶镇", "海澄村"), ("红旗镇", "三板村"), ("平沙镇", "平塘社区")]
_ROUTINE = [
    ("婚姻家庭/赡养", "子女对赡养老人的费用分担有分歧，老人生活费无着落", "组织家庭会议，讲解赡养义务", "调解成功"),
    ("劳动/欠薪", "工地包工头拖欠工人工资两个月共计一万余元", "联系劳动监察，约谈包工头", "调解成功"),
    ("物业", "业主认为物业服务不到位拒交物业费，物业公司催缴", "组织业主与物业面对面协商", "调解失败"),
    ("土地", "两户村民因宅基地边界界桩位置发生争执", "现场测量，查阅确权资料", "调解成功"),
]


def cases() -> list[dict]:
    """The records of the test home (JSON-able, as a register would give them)."""
    records = []
    months = [f"{2024 + (m // 12)}-{m % 12 + 1:02d}" for m in range(18)]  # 2024-01 .. 2025-06
    n = 0
    for i, month in enumerate(months):
        for j, (kind, text, handling, outcome) in enumerate(_ROUTINE):
            town, community = _TOWNS[(i + j) % 3]
            n += 1
            records.append({
                "id": f"T{n:04d}", "title": f"{kind.split('/')[-1]}纠纷", "text": f"{community}{text}（第{n}号）",
                "type": kind, "occurred_on": f"{month}-{(j * 7) % 27 + 1:02d}",
                "location": {"province": "广东省", "city": "珠海市", "district": "金湾区", "town": town, "community": community},
                "parties": [{"name": f"陈{n}号", "role": "申请人"}, {"name": f"林{n}号", "role": "被申请人"}],
                "mediators": [{"name": "李梅", "org": f"{town}人民调解委员会"}],
                "channel": "网格员排查", "handling": handling, "outcome": outcome,
            })
        if month < "2025-05":
            records.append(_leak(f"L{i:03d}", f"{month}-15", "红旗镇", "三板村", f"三板村一楼住户反映楼上渗水（{i}）"))
    for k in range(9):  # the spike: 三灶镇 漏水 in 2025-05
        records.append(_leak(f"S{k:03d}", f"2025-05-{k + 2:02d}", "三灶镇", "海澄村", f"海澄村{k + 1}栋楼上卫生间漏水，楼下天花板受损"))
    for k, month in enumerate(("2024-03", "2024-09", "2025-02", "2025-05")):
        records.append({
            "id": f"R{k:03d}", "title": "邻里噪音纠纷", "text": f"王建国反映邻居装修噪音扰民，多次协商未果（第{k + 1}次）",
            "type": "邻里/噪音", "occurred_on": f"{month}-20",
            "location": {"province": "广东省", "city": "珠海市", "district": "金湾区", "town": "平沙镇", "community": "平塘社区",
                         "address": "平塘社区东街12号"},
            "parties": [{"name": "王建国", "role": "申请人", "phone": "13800001111", "id_number": "11010519491231002X"},
                        {"name": "赵小红", "role": "被申请人", "phone": "13912345678"}],
            "mediators": [{"name": "周平", "org": "平沙镇人民调解委员会"}],
            "channel": "12345热线", "handling": "约定装修时段，签订承诺书", "outcome": "调解成功",
        })
    records.append({
        "id": "DOG1", "title": "犬只吠叫扰民纠纷", "text": "刘芳家饲养的大型犬每天夜间持续狂吠，住在隔壁的孙伟一家无法入睡，双方多次争吵",
        "type": "邻里/噪音", "occurred_on": "2025-04-03",
        "location": {"province": "广东省", "city": "珠海市", "district": "金湾区", "town": "红旗镇", "community": "三板村"},
        "parties": [{"name": "孙伟", "role": "申请人", "phone": "13600002222"}, {"name": "刘芳", "role": "被申请人"}],
        "mediators": [{"name": "李梅", "org": "红旗镇人民调解委员会"}],
        "channel": "当事人申请", "handling": "劝导刘芳夜间将犬只关入室内，加装隔音门", "outcome": "调解成功",
        "agreement": "刘芳保证晚十点后犬只不在院内",
    })
    records.append({
        "id": "XSS1", "title": f"恶意标题{HOSTILE}", "text": f"测试文本{HOSTILE}邻里纠纷", "type": "邻里",
        "occurred_on": "2025-01-10", "handling": HOSTILE, "outcome": "处理中",
        "location": {"province": "广东省", "city": "珠海市", "district": "金湾区", "town": "平沙镇", "community": "平塘社区"},
        "parties": [{"name": "黄明", "role": "申请人", "phone": "13700003333"}],
    })
    return records


def _leak(case_id: str, date: str, town: str, community: str, text: str) -> dict:
    return {
        "id": case_id, "title": "漏水纠纷", "text": text, "type": "邻里/漏水", "occurred_on": date,
        "location": {"province": "广东省", "city": "珠海市", "district": "金湾区", "town": town, "community": community},
        "parties": [{"name": f"吴{case_id}", "role": "申请人"}, {"name": f"郑{case_id}", "role": "被申请人"}],
        "mediators": [{"name": "李梅", "org": f"{town}人民调解委员会"}],
        "channel": "网格员排查", "handling": "现场查看漏点，协商维修费用", "outcome": "调解成功",
    }


def indexed_home(records: list[dict], prefix: str) -> Home:
    """A fresh home in a temporary folder with ``records`` ingested (every one accepted) and every index built."""
    from leian.data.ingest import ingest
    from leian.indexers import sync_all

    home = Home.resolve(tempfile.mkdtemp(prefix=prefix))
    source = Path(home.root) / "cases.jsonl"
    source.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    with home.open_store() as store:
        report = ingest(store, [source], rejects_dir=home.rejects_dir)
        assert report.ok, report.reject_messages
        sync_all(home, store)
    return home


@functools.lru_cache(maxsize=1)
def web_home() -> Home:
    """The test home: cases ingested, indexes built, one user per role (password :data:`PASSWORD`)."""
    from leian.web.accounts import Accounts

    home = indexed_home(cases(), "leian-web-test-")
    with home.open_store() as store:
        accounts = Accounts(store)
        for role, username in ROLES_USERS.items():
            accounts.add(username, role, PASSWORD, display_name=f"测试{role}")
    return home


def web_home_copy() -> Home:
    """A private copy of :func:`web_home`, for a test whose writes (a fuzzer's libraries, audit rows) no other test may read."""
    # No test writes while another runs, so the SQLite files (WAL included) copy as one consistent state.
    copy = tempfile.mkdtemp(prefix="leian-web-copy-")
    shutil.copytree(web_home().root, copy, dirs_exist_ok=True)
    return Home.resolve(copy)


#: The browser speaks what a 综治中心's desktop does: pages, date inputs (年/月/日) and number formats in Chinese.
CHINESE = {"LANGUAGE": "zh_CN:zh"}


def chromium(size: tuple[int, int], *, flags: tuple[str, ...] = (), prefs: dict | None = None):
    """Debian's headless Chromium (``make browser``) in a Chinese locale, driven by selenium.

    The locale takes the flag, the accept-language preference and ``LANGUAGE``
    together: headless Chromium reads its interface locale (date inputs) from
    ``--lang`` and the zh-CN pack of chromium-l10n, pages read ``Accept-Language``.
    ``LANG`` stays the machine's: a locale it lacks (zh_CN.UTF-8) would make
    chromedriver read file names as ASCII and refuse an upload named 网格上报.jsonl.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--lang=zh-CN",
                 f"--window-size={size[0]},{size[1]}", f"--user-data-dir={tempfile.mkdtemp(prefix='leian-chromium-')}", *flags):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"intl.accept_languages": "zh-CN,zh", **(prefs or {})})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    options.set_capability("unhandledPromptBehavior", "ignore")
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver", env={**os.environ, **CHINESE}), options=options)


def risk_records() -> list[dict]:
    """A small register for the risk, party and chain pages: a family whose quarrels turned violent (recent),
    梁颖 in five cases at one address under three spellings, a settled noise case."""
    import datetime as dt

    from leian.graph.followups import local_today

    today = local_today()

    def day(days_ago: int) -> str:
        return (today - dt.timedelta(days=days_ago)).isoformat()

    family = {"province": "山西省", "city": "长治市", "district": "上党区", "town": "韩店街道", "community": "西故县村"}
    sanzao = {"province": "广东省", "city": "珠海市", "district": "金湾区", "town": "三灶镇", "community": "中心村",
              "address": "三灶镇中心村西街75号"}
    couple = [{"name": "李娟", "role": "申请人", "phone": "13512340001"}, {"name": "张强", "role": "被申请人", "phone": "13512340002"}]
    records = [
        {"id": "F1", "title": "李娟与张强家庭暴力纠纷", "text": "李娟称丈夫张强酒后对其拳打脚踢", "type": "婚姻家庭/家庭暴力",
         "occurred_on": day(150), "channel": "110非警务警情", "outcome": "调解成功", "handling": "民警出具家庭暴力告诫书"},
        {"id": "F2", "title": "张强再次殴打李娟", "text": "张强再次殴打李娟，扬言要同归于尽", "type": "家庭暴力",
         "occurred_on": day(70), "channel": "110非警务警情", "outcome": "处理中"},
        {"id": "F3", "title": "张强动刀威胁李娟", "text": "李娟反映张强砸东西、动刀威胁", "type": "家庭暴力",
         "occurred_on": day(10), "outcome": "处理中", "handling": "法院发出人身安全保护令"},
    ]
    records = [{**r, "location": family, "parties": couple} for r in records]
    for i, name in enumerate(["梁颖", "梁穎", "梁\u3000颖", "梁颖", "梁颖"], 1):
        records.append({"id": f"LY{i}", "title": f"拉闸断电纠纷（第{i}次）", "text": "邻居拉闸断电，影响生活", "type": "邻里/相邻关系",
                        "occurred_on": day(400 - 40 * i), "location": sanzao, "outcome": "调解成功",
                        "parties": [{"name": f"邻居{i}", "role": "申请人", "phone": f"1390000000{i}"},
                                    {"name": name, "role": "被申请人", "phone": "13800007575"}]})
    records.append({"id": "N1", "title": "装修噪音纠纷", "text": "楼上装修噪音扰民，约定施工时段", "type": "邻里/噪音",
                    "occurred_on": day(20), "outcome": "调解成功", "location": {**family, "community": "东故县村"},
                    "parties": [{"name": "王明", "role": "申请人"}, {"name": "赵亮", "role": "被申请人"}]})
    return records


@functools.lru_cache(maxsize=1)
def risk_home() -> Home:
    """A home with :func:`risk_records`, indexes built, one user per role (password :data:`PASSWORD`)."""
    from leian.data.ingest import ingest
    from leian.web.accounts import Accounts

    from leian.indexers import sync_all

    home = Home.resolve(tempfile.mkdtemp(prefix="leian-risk-test-"))
    source = Path(home.root) / "cases.jsonl"
    source.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in risk_records()) + "\n", encoding="utf-8")
    with home.open_store() as store:
        report = ingest(store, [source], rejects_dir=home.rejects_dir)
        assert report.ok, report.reject_messages
        sync_all(home, store)
        accounts = Accounts(store)
        for role, username in ROLES_USERS.items():
            accounts.add(username, role, PASSWORD, display_name=f"测试{role}")
    return home
