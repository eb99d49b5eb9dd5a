"""The hints page, as a person uses it: in a real browser (Debian's Chromium, via Selenium).

Skipped with the reason when Chromium, its driver or Selenium is not installed (``.ci/run``
installs them).
"""

from __future__ import annotations

import json
import shutil
import threading
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from media import make_video

from vidcolor.cli import main

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture
def page(tmp_path, random_weights):
    """A preview of a 2-shot clip, its hints server on 127.0.0.1, and its address."""
    from vidcolor.config import JobConfig, TileConfig
    from vidcolor.pipeline import make_colorizer
    from vidcolor.server import HintsSession, make_server

    src = make_video(tmp_path / "two.mp4", 160, 96, frames=24, shots=2)
    folder = tmp_path / "P"
    assert main([str(src), "--preview", str(folder), "--weights", str(random_weights),
                 "--render-size", "64", "-q"]) == 0
    colorizer = make_colorizer(JobConfig(weights=random_weights, tile=TileConfig(render_size=64)))
    server = make_server(HintsSession(folder, colorizer))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}", server
    server.shutdown()
    server.server_close()


def test_server_listens_on_loopback_and_serves_nothing_outside_the_folder(page, tmp_path):
    folder, url, server = page
    assert server.server_address[0] == "127.0.0.1"
    (tmp_path / "secret.png").write_bytes(b"x")
    for path in ("/files/../secret.png", "/files/%2e%2e/secret.png", "/files/shots.json",
                 "/../secret.png", "/files/nothing.png"):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(url + path)
        assert err.value.code == 404, path
    shots = json.loads(urllib.request.urlopen(url + "/api/shots").read())["shots"]
    assert urllib.request.urlopen(f"{url}/files/{shots[0]['image']}").status == 200
    bad = urllib.request.Request(f"{url}/api/hints/1", method="PUT",
                                 data=b'[{"x": 9999, "y": 1, "lab": [50, 1, 1]}]')
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(bad)
    assert err.value.code == 400
    assert not (folder / "hints.json").exists()


@pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="Debian's chromium and chromium-driver "
                    "are not installed (apt-get install chromium chromium-driver)")
def test_click_a_point_pick_a_colour_and_the_still_follows(page, tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    folder, url, _ = page
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
                 "--window-size=1200,900"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=webdriver.ChromeService(executable_path=DRIVER),
                               options=options)
    wait = WebDriverWait(browser, 30)
    try:
        browser.get(url + "/")
        wait.until(lambda b: b.find_elements(By.ID, "shot-2"))
        browser.find_element(By.ID, "shot-2").click()
        wait.until(lambda b: b.find_element(By.ID, "status").text == "saved")
        color = browser.find_element(By.ID, "color")
        browser.execute_script("arguments[0].value = '#e01010';", color)
        still = browser.find_element(By.ID, "still")
        width = still.size["width"]
        # Click the still at 3/4 of its width, half its height (offsets from its centre).
        webdriver.ActionChains(browser).move_to_element_with_offset(
            still, width // 4, 0).click().perform()
        wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, ".dot")) == 1)
        wait.until(lambda b: b.find_element(By.ID, "status").text == "saved")
        browser.save_screenshot(str(tmp_path / "page.png"))

        saved = json.loads((folder / "hints.json").read_text())["hints"]
        shots = json.loads((folder / "shots.json").read_text())["shots"]
        assert len(saved) == 1 and saved[0]["shot"] == 2
        assert saved[0]["frame"] == shots[1]["preview_frame"]
        assert saved[0]["x"] == pytest.approx(120, abs=4) and saved[0]["y"] == pytest.approx(
            48, abs=4)
        assert saved[0]["lab"][1] > 50  # red
        # The still on the page, re-colorized: red where the point is.
        png = urllib.request.urlopen(f"{url}/api/still/2.png").read()
        rgb = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
        r, g, b = (int(v) for v in rgb[48, 120])
        assert r > g + 20 and r > b + 20, (r, g, b)
        assert "alike" not in saved[0]  # the default, left out of the file
        # "Also what looks like it" off for the selected point: saved with the hint.
        browser.find_element(By.ID, "alike").click()
        wait.until(lambda b: json.loads((folder / "hints.json").read_text())["hints"][0].get(
            "alike") is False)
        wait.until(lambda b: b.find_element(By.ID, "status").text == "saved")

        browser.refresh()  # the hints survive a reload
        wait.until(lambda b: b.find_elements(By.ID, "shot-2"))
        assert "1 hint" in browser.find_element(By.ID, "shot-2").text
        browser.find_element(By.ID, "shot-2").click()
        wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, ".dot")) == 1)
    finally:
        browser.quit()
    assert Path(tmp_path / "page.png").stat().st_size > 0
