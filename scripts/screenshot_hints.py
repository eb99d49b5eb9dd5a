"""``docs/hints_page.png`` and ``docs/contact_sheet.png``, in headless Chromium.

Makes a preview of ``samples/film.mp4`` (shipped weights), serves its hints page, puts three
hints on shot 1 through the page's own API (a fixed rule: points at fixed fractions of the
frame, fixed colours), opens the shot in the browser and saves a screenshot. With ``--sheet``,
instead: the preview's own contact sheet (``index.html``).

Example::

    python scripts/screenshot_hints.py
    python scripts/screenshot_hints.py --sheet
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vidcolor.cli import main as cli
from vidcolor.config import JobConfig
from vidcolor.runner import make_colorizer
from vidcolor.server import HintsSession, make_server

ROOT = Path(__file__).resolve().parents[1]
POINTS = [(0.3, 0.3, "#3060c0"), (0.7, 0.55, "#c04020"), (0.5, 0.85, "#40a040")]


def _browser(tmp: str, size: str):
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", f"--user-data-dir={tmp}/profile",
                 f"--window-size={size}"):
        options.add_argument(flag)
    return webdriver.Chrome(
        service=webdriver.ChromeService(executable_path="/usr/bin/chromedriver"),
        options=options)


def main() -> int:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "preview"
        assert cli([str(ROOT / "samples" / "film.mp4"), "--preview", str(folder), "-q"]) == 0
        if "--sheet" in sys.argv[1:]:
            browser = _browser(tmp, "1200,620")
            try:
                browser.get((folder / "index.html").as_uri())
                WebDriverWait(browser, 30).until(lambda b: b.execute_script(
                    "return [...document.images].every((i) => i.complete)"))
                out = ROOT / "docs" / "contact_sheet.png"
                browser.save_screenshot(str(out))
            finally:
                browser.quit()
            print(f"wrote {out}")
            return 0
        server = make_server(HintsSession(folder, make_colorizer(JobConfig())))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}"
        shot = json.loads((folder / "shots.json").read_text())["shots"][0]
        import cv2

        h, w = cv2.imread(str(folder / shot["image"])).shape[:2]
        body = [{"x": fx * w, "y": fy * h, "rgb": rgb, "radius": 6} for fx, fy, rgb in POINTS]
        req = urllib.request.Request(f"{url}/api/hints/1?token={server.token}",
                                     data=json.dumps(body).encode(), method="PUT")
        urllib.request.urlopen(req).read()
        browser = _browser(tmp, "900,620")
        try:
            browser.get(server.url)  # the printed URL: the token becomes the page's cookie
            wait = WebDriverWait(browser, 30)
            wait.until(lambda b: b.find_elements(By.ID, "shot-1"))
            browser.find_element(By.ID, "shot-1").click()
            wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, ".dot")) == len(POINTS))
            wait.until(lambda b: b.find_element(By.ID, "status").text == "saved")
            out = ROOT / "docs" / "hints_page.png"
            browser.save_screenshot(str(out))
        finally:
            browser.quit()
            server.shutdown()
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
