"""Screenshots of each role's day for docs/web.md and the README (docs/img/day-*.png).

Usage: python tools/doc_screenshots.py      (needs Chromium and chromedriver: `make browser`)

Serves the web app over the test home of tests/web_support.py (invented cases in
three towns of 金湾区), logs in as each role in headless Chromium at 1366×768,
opens the page that role starts the day with, and saves the first screen scaled
to 960 pixels wide (as a palette PNG if need be), so each file stays under 200 KB.
"""
from __future__ import annotations

import socket
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from PIL import Image  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402
from waitress.server import create_server  # noqa: E402
from web_support import PASSWORD, ROLES_USERS, chromium, web_home  # noqa: E402

OUT = ROOT / "docs" / "img"
WIDTH = 960
MAX_BYTES = 200_000
LIBRARY = "邻里纠纷典型案例"
#: Role -> (file name, path to open, an element that shows the page is ready).
DAYS = {
    "mediator": ("day-mediator", "/?q=楼上卫生间漏水，楼下天花板泡坏了，楼上不肯赔", "#results .result"),
    "analyst": ("day-analyst", "/dashboard", "#hotspots"),
    "trainer": ("day-trainer", "/libraries/{library_id}", "#entry-table"),
    "admin": ("day-admin", "/admin/users", "#user-table"),
}


def main() -> None:
    from leian.web.app import create_app, services

    app = create_app(web_home())
    with app.app_context():
        libs = services().libraries()
        if LIBRARY not in [lib.name for lib in libs.list()]:
            libs.create(LIBRARY, description="邻里漏水、噪音纠纷的调解做法")
            libs.add_cases(LIBRARY, ["DOG1", "R000", "S000", "S001"], editor=ROLES_USERS["trainer"])
        library_id = libs.get(LIBRARY).id
        if services().accounts.get("sanzao") is None:  # the users page shows one with an area
            services().accounts.add("sanzao", "mediator", PASSWORD, display_name="三灶镇调解员", area="金湾区/三灶镇")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    httpd = create_server(app, host="127.0.0.1", port=port, threads=4)
    threading.Thread(target=httpd.run, daemon=True).start()
    driver = chromium((1366, 768), flags=("--hide-scrollbars",))
    OUT.mkdir(parents=True, exist_ok=True)
    try:
        for role, (name, path, ready) in DAYS.items():
            driver.delete_all_cookies()
            driver.get(f"http://127.0.0.1:{port}/login")
            driver.find_element(By.ID, "username").send_keys(ROLES_USERS[role])
            driver.find_element(By.ID, "password").send_keys(PASSWORD)
            driver.find_element(By.ID, "login-button").click()
            WebDriverWait(driver, 60).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".topbar")))
            driver.get(f"http://127.0.0.1:{port}" + path.format(library_id=library_id))
            WebDriverWait(driver, 120).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ready)))
            raw = OUT / f"{name}.raw.png"
            driver.save_screenshot(str(raw))
            image = Image.open(raw).convert("RGB")
            image = image.resize((WIDTH, round(image.height * WIDTH / image.width)), Image.LANCZOS)
            target = OUT / f"{name}.png"
            image.save(target, optimize=True)
            if target.stat().st_size > MAX_BYTES:  # a palette keeps it small; octree keeps the 红/橙 badges' colours
                image.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(target, optimize=True)
            raw.unlink()
            size = target.stat().st_size
            if size > MAX_BYTES:
                raise SystemExit(f"{target} is {size} bytes, over {MAX_BYTES}")
            print(f"{target.relative_to(ROOT)}  {size // 1024} KB")
    finally:
        driver.quit()
        httpd.close()


if __name__ == "__main__":
    main()
