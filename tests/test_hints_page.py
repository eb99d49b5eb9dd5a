"""The hints page, as a person uses it: in a real browser (Debian's Chromium, via Selenium).

The browser test is skipped with the reason when Chromium, its driver or Selenium is not
installed (``.ci/run`` installs them). The server's guards (Host, token, Origin, timeouts) are
tested with raw requests, as an attacker's page or a stalled client would make them.
"""

from __future__ import annotations

import http.client
import json
import re
import select
import shutil
import socket
import threading
import time
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
    from vidcolor.runner import make_colorizer
    from vidcolor.server import HintsSession, make_server

    src = make_video(tmp_path / "two.mp4", 160, 96, frames=24, shots=2)
    folder = tmp_path / "P"
    assert main([str(src), "--preview", str(folder), "--weights", str(random_weights),
                 "--render-size", "64", "-q"]) == 0
    colorizer = make_colorizer(JobConfig(weights=random_weights, tile=TileConfig(render_size=64)))
    server = make_server(HintsSession(folder, colorizer), client_timeout=2)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}", server
    server.shutdown()
    server.server_close()


def _ask(server, path: str, *, method: str = "GET", token: bool = True,
         headers: dict[str, str] | None = None, body: bytes | None = None):
    """``(status, headers, body)`` of one request to ``server`` (``token``: add ``?token=``)."""
    port = server.server_address[1]
    if token:
        path += ("&" if "?" in path else "?") + "token=" + server.token
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body,
                     headers={"Host": f"127.0.0.1:{port}", **(headers or {})})
        res = conn.getresponse()
        return res.status, res.headers, res.read()
    finally:
        conn.close()


def _routes(folder: Path) -> list[tuple[str, str, bytes | None]]:
    image = json.loads((folder / "shots.json").read_text())["shots"][0]["image"]
    return [("GET", "/", None), ("GET", "/app.js", None), ("GET", "/api/shots", None),
            ("GET", "/api/still/1.png", None), ("GET", f"/files/{image}", None),
            ("PUT", "/api/hints/1", b"[]"), ("PUT", "/api/reference/1", _reference(folder, 1)),
            ("GET", "/api/reference/1.png", None), ("DELETE", "/api/reference/1", None)]


def _reference(folder: Path, shot: int, ext: str = ".png") -> bytes:
    """A colour reference of shot ``shot``: its own gray still in one strong colour."""
    name = json.loads((folder / "shots.json").read_text())["shots"][shot - 1]["gray_image"]
    gray = cv2.imread(str(folder / name), cv2.IMREAD_GRAYSCALE)
    lab = cv2.cvtColor(cv2.merge([gray, gray, gray]), cv2.COLOR_BGR2LAB)
    lab[..., 1], lab[..., 2] = 128 + 45, 128 - 35
    return cv2.imencode(ext, cv2.cvtColor(lab, cv2.COLOR_LAB2BGR))[1].tobytes()


def _pixels(png: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)


def _saved(folder: Path, shot: int) -> list[str]:
    """The shot's reference files in the folder, and any partial file left behind."""
    return sorted(p.name for p in folder.iterdir()
                  if p.name.startswith((f"shot-{shot:04d}.reference", ".shot-")))


def test_server_listens_on_loopback_and_serves_nothing_outside_the_folder(page, tmp_path):
    folder, _, server = page
    assert server.server_address[0] == "127.0.0.1"
    (tmp_path / "secret.png").write_bytes(b"x")
    for path in ("/files/../secret.png", "/files/%2e%2e/secret.png", "/files/shots.json",
                 "/../secret.png", "/files/nothing.png"):
        assert _ask(server, path)[0] == 404, path
    shots = json.loads(_ask(server, "/api/shots")[2])["shots"]
    assert _ask(server, f"/files/{shots[0]['image']}")[0] == 200
    bad = b'[{"x": 9999, "y": 1, "lab": [50, 1, 1]}]'
    assert _ask(server, "/api/hints/1", method="PUT", body=bad)[0] == 400
    for size in (str(2 << 20), "0", "-1", "many"):  # the 1 MB limit, without reading a byte
        status = _ask(server, "/api/hints/1", method="PUT", headers={"Content-Length": size})[0]
        assert status == 413, size
    assert not (folder / "hints.json").exists()


def test_only_its_own_host_names_are_answered(page):
    # DNS rebinding: another site's page re-points its own name at 127.0.0.1 and asks.
    folder, _, server = page
    port = server.server_address[1]
    for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1.evil.example:{port}",
                 "127.0.0.1", f"127.0.0.1:{port + 1}", ""):
        for method, path, body in _routes(folder):
            status = _ask(server, path, method=method, body=body, headers={"Host": host})[0]
            assert status == 403, (host, path)
    assert not (folder / "hints.json").exists()
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", f"LocalHost:{port}"):
        assert _ask(server, "/api/shots", headers={"Host": host})[0] == 200, host
    assert _ask(server, "http://evil.example/api/shots")[0] == 403  # an absolute URL


def test_every_request_needs_the_token_of_this_start(page):
    from vidcolor.server import make_server

    folder, url, server = page
    port = server.server_address[1]
    assert server.url == f"{url}/?token={server.token}" and len(server.token) >= 32
    for method, path, body in _routes(folder):
        for headers in ({}, {"Cookie": f"vidcolor-hints-{port}=wrong"},
                        {"Cookie": f"vidcolor-hints-{port + 1}={server.token}"}):
            status = _ask(server, path, method=method, body=body, token=False, headers=headers)
            assert status[0] == 403, (path, headers)
        wrong = path + "?token=" + "x" * len(server.token)
        assert _ask(server, wrong, method=method, body=body, token=False)[0] == 403, path
    assert not (folder / "hints.json").exists()
    status, _, page_403 = _ask(server, "/", token=False)
    assert b"?token=" in page_403  # says which address to open
    # The printed URL: a cookie for the page and its images, and the token out of the address.
    status, headers, _ = _ask(server, "/")
    assert status == 303 and headers["Location"] == "/"
    cookie = headers["Set-Cookie"]
    assert {"HttpOnly", "SameSite=Strict"} <= {c.strip() for c in cookie.split(";")}
    assert cookie.startswith(f"vidcolor-hints-{port}={server.token};")
    for method, path, body in _routes(folder):
        status = _ask(server, path, method=method, body=body, token=False,
                      headers={"Cookie": "other=1; " + cookie.split(";")[0]})[0]
        assert status == 200, path
    another = make_server(server.session)  # a new start, a new token
    try:
        assert another.token != server.token
    finally:
        another.server_close()


def test_a_change_must_come_from_the_page_itself(page):
    folder, url, server = page
    port = server.server_address[1]
    body = json.dumps([{"x": 10, "y": 10, "lab": [50, 30, 10]}]).encode()
    for origin in (f"http://evil.example:{port}", "null", f"http://localhost:{port}",
                   f"https://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}", ""):
        status = _ask(server, "/api/hints/1", method="PUT", body=body,
                      headers={"Origin": origin})[0]
        assert status == 403, origin
    assert not (folder / "hints.json").exists()
    assert _ask(server, "/api/hints/1", method="PUT", body=body, headers={"Origin": url})[0] == 200
    assert _ask(server, "/api/hints/1", method="PUT", body=body)[0] == 200  # a script: no Origin
    assert len(json.loads((folder / "hints.json").read_text())["hints"]) == 1


def test_a_reference_photo_is_saved_as_the_shot_s_and_recolours_its_still(page):
    folder, url, server = page
    before = _ask(server, "/api/still/2.png")[2]
    status, _, body = _ask(server, "/api/reference/2?name=street.png", method="PUT",
                           body=_reference(folder, 2), headers={"Origin": url})
    assert status == 200 and json.loads(body)["reference"] == "shot-0002.reference.png", body
    assert _saved(folder, 2) == ["shot-0002.reference.png"]
    assert (folder / "shot-0002.reference.png").read_bytes() == _reference(folder, 2)
    assert json.loads((folder / "hints.json").read_text())["hints"] == []  # --hints finds it
    shots = json.loads(_ask(server, "/api/shots")[2])["shots"]
    assert [s["reference"] for s in shots] == [None, "shot-0002.reference.png"]
    status, headers, shown = _ask(server, "/api/reference/2.png")
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert _pixels(shown).shape == (96, 160, 3)
    after = _pixels(_ask(server, "/api/still/2.png")[2])
    assert np.abs(after.astype(int) - _pixels(before)).mean() > 2  # re-colorized with it
    # Another file replaces it, whatever its extension: one reference per shot.
    status, _, body = _ask(server, "/api/reference/2?name=street.jpg", method="PUT",
                           body=_reference(folder, 2, ".jpg"))
    assert status == 200 and _saved(folder, 2) == ["shot-0002.reference.jpg"], body
    # Removed: the still is the preview's own again.
    assert _ask(server, "/api/reference/2", method="DELETE", headers={"Origin": url})[0] == 200
    assert _saved(folder, 2) == [] and _ask(server, "/api/still/2.png")[2] == before
    assert _ask(server, "/api/reference/2.png")[0] == 404


def test_a_reference_that_is_not_a_colour_image_is_refused_and_nothing_saved(page):
    folder, _, server = page
    port = server.server_address[1]
    colour = _reference(folder, 1)
    gray_png = cv2.imencode(".png", np.full((40, 60), 90, np.uint8))[1].tobytes()
    gray_rgb = cv2.imencode(".jpg", np.full((40, 60, 3), 90, np.uint8))[1].tobytes()
    for body, status, said in (
            (gray_png, 400, "dull.png is gray"), (gray_rgb, 400, "dull.png is gray"),
            (b"hello, not an image", 400, "dull.png is not an image"),
            (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, 400, "dull.png"),  # a broken PNG
    ):
        answer = _ask(server, "/api/reference/1?name=../dull.png", method="PUT", body=body)
        error = json.loads(answer[2])["error"]
        assert answer[0] == status and said in error and "\n" not in error, error
        assert "/" not in error.replace("../", "")  # no path, only the name given
    # Too large: refused from the header, before a byte of the body is read.
    status, _, body = _ask(server, "/api/reference/1", method="PUT",
                           headers={"Content-Length": str((32 << 20) + 1)})
    assert status == 413 and "at most 32 MB" in json.loads(body)["error"]
    assert _ask(server, "/api/reference/9", method="PUT", body=colour)[0] == 404  # no shot 9
    # The page's guards: the token, and its own origin for a change.
    assert _ask(server, "/api/reference/1", method="PUT", body=colour, token=False)[0] == 403
    for origin in (f"http://evil.example:{port}", "null"):
        assert _ask(server, "/api/reference/1", method="PUT", body=colour,
                    headers={"Origin": origin})[0] == 403
    assert _saved(folder, 1) == [] and not (folder / "hints.json").exists()
    # Nor is a saved one removed or replaced by a refused one.
    assert _ask(server, "/api/reference/1", method="PUT", body=colour)[0] == 200
    assert _ask(server, "/api/reference/1", method="PUT", body=gray_png)[0] == 400
    for origin in (f"http://evil.example:{port}", "null"):
        assert _ask(server, "/api/reference/1", method="DELETE",
                    headers={"Origin": origin})[0] == 403
    assert _ask(server, "/api/reference/1", method="DELETE", token=False)[0] == 403
    assert _saved(folder, 1) == ["shot-0001.reference.png"]
    assert (folder / "shot-0001.reference.png").read_bytes() == colour
    # A gray one put in the folder by hand: the still says why it cannot be made, in one line.
    (folder / "shot-0002.reference.png").write_bytes(gray_png)
    status, _, body = _ask(server, "/api/still/2.png")
    assert status == 404 and "is gray" in json.loads(body)["error"], body


def test_a_stalled_client_holds_only_itself_and_not_for_long(page):
    _, _, server = page  # client_timeout=2
    port = server.server_address[1]
    host = f"Host: 127.0.0.1:{port}\r\n".encode()
    stalled = socket.create_connection(("127.0.0.1", port), timeout=10)
    stalled.sendall(b"GET /api/shots HTTP/1.1\r\n" + host)  # and then nothing
    start = time.monotonic()
    assert _ask(server, "/api/shots")[0] == 200  # others are answered meanwhile
    assert time.monotonic() - start < 1.5
    assert stalled.recv(100) == b""  # and the stalled one is dropped
    assert time.monotonic() - start < 6
    stalled.close()

    # A body that trickles in, a byte at a time, is cut off too.
    trickle = socket.create_connection(("127.0.0.1", port), timeout=10)
    trickle.sendall(f"PUT /api/hints/1?token={server.token} HTTP/1.1\r\n".encode() + host
                    + b"Content-Length: 1000\r\n\r\n[")
    start, answer = time.monotonic(), b""
    while not answer and time.monotonic() - start < 10:
        if select.select([trickle], [], [], 0.25)[0]:
            answer = trickle.recv(100)
        else:
            trickle.sendall(b" ")
    trickle.close()
    assert answer.startswith(b"HTTP/1.0 408"), answer
    assert time.monotonic() - start < 6


def test_the_command_prints_and_opens_one_url_with_the_token(page, random_weights, monkeypatch,
                                                              capsys):
    import webbrowser

    from vidcolor.server import HintsServer

    folder, _, _ = page
    opened = []
    monkeypatch.setattr(webbrowser, "open", opened.append)

    def serve_forever(self, *args):
        raise KeyboardInterrupt  # Ctrl-C at once

    monkeypatch.setattr(HintsServer, "serve_forever", serve_forever)
    assert main(["hints", str(folder), "--open", "--weights", str(random_weights),
                 "--render-size", "64"]) == 0
    printed = re.search(r"vidcolor hints: (\S+) \(Ctrl-C to stop\)", capsys.readouterr().out)
    assert printed and re.fullmatch(r"http://127\.0\.0\.1:\d+/\?token=[\w-]{32,}", printed[1])
    assert opened == [printed[1]]


BROWSER = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="Debian's chromium and "
                             "chromium-driver are not installed (apt-get install chromium "
                             "chromium-driver)")


def _browser(tmp_path: Path):
    """A headless Chromium (Selenium), and a 30-second wait on it."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
                 "--window-size=1200,900"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=webdriver.ChromeService(executable_path=DRIVER),
                               options=options)
    return browser, WebDriverWait(browser, 30)


@BROWSER
def test_click_a_point_pick_a_colour_and_the_still_follows(page, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.common.by import By

    folder, url, server = page
    browser, wait = _browser(tmp_path)
    try:
        browser.get(url + "/")  # without the token: refused, and told what to open
        assert "?token=" in browser.find_element(By.TAG_NAME, "body").text
        browser.get(server.url)  # the printed URL
        wait.until(lambda b: b.find_elements(By.ID, "shot-2"))
        assert browser.current_url == url + "/"  # the token is kept, not shown
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
        png = _ask(server, "/api/still/2.png")[2]
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


SHOWN = """const i = arguments[0], c = document.createElement("canvas");
if (!i.complete || !i.naturalWidth) return null;
c.width = i.naturalWidth; c.height = i.naturalHeight; c.getContext("2d").drawImage(i, 0, 0);
return c.toDataURL("image/png");"""

DROP = """const [target, data, name] = arguments, bytes = Uint8Array.from(atob(data), (c) =>
c.charCodeAt(0)), dt = new DataTransfer();
dt.items.add(new File([bytes], name, {type: "image/jpeg"}));
target.dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));"""


@BROWSER
def test_a_reference_chosen_or_dropped_on_the_page_recolours_the_still(page, tmp_path):
    import base64

    from selenium.webdriver.common.by import By

    folder, _, server = page
    gray = tmp_path / "gray.png"
    cv2.imwrite(str(gray), np.full((48, 64), 90, np.uint8))
    colour = tmp_path / "colour.png"
    colour.write_bytes(_reference(folder, 2))
    browser, wait = _browser(tmp_path)

    def shown(element) -> np.ndarray | None:  # the pixels an <img> shows (None: loading)
        url = browser.execute_script(SHOWN, element)
        return None if url is None else _pixels(base64.b64decode(url.split(",", 1)[1]))

    def shows(element, test) -> bool:
        pixels = shown(element)
        return pixels is not None and test(pixels)

    try:
        browser.get(server.url)
        wait.until(lambda b: b.find_elements(By.ID, "shot-2"))
        browser.find_element(By.ID, "shot-2").click()
        wait.until(lambda b: b.find_element(By.ID, "status").text == "saved")
        still = browser.find_element(By.ID, "still")
        before = shown(still)
        picker = browser.find_element(By.ID, "reference-file")
        # A gray photo: refused in one line on the page, nothing saved.
        picker.send_keys(str(gray))
        wait.until(lambda b: "gray" in b.find_element(By.ID, "reference-status").text)
        said = browser.find_element(By.ID, "reference-status").text
        assert said.startswith("error: ") and "gray.png is gray" in said, said
        assert _saved(folder, 2) == []
        assert not browser.find_element(By.ID, "reference").is_displayed()
        # A colour one: saved as the shot's, shown beside the still, and the still follows.
        picker.send_keys(str(colour))
        wait.until(lambda b: (folder / "shot-0002.reference.png").exists())
        assert (folder / "shot-0002.reference.png").read_bytes() == colour.read_bytes()
        reference = browser.find_element(By.ID, "reference")
        wait.until(lambda b: reference.is_displayed() and b.execute_script(
            "return arguments[0].complete && arguments[0].naturalWidth", reference) == 160)
        assert browser.find_element(By.ID, "reference-status").text == ""
        wait.until(lambda b: shows(still, lambda p: np.abs(p.astype(int) - before).mean() > 2))
        wait.until(lambda b: b.find_element(By.ID, "status").text == "saved")
        assert np.array_equal(shown(still), _pixels(_ask(server, "/api/still/2.png")[2]))
        browser.save_screenshot(str(tmp_path / "reference.png"))
        # Removed with its button: the file goes, the still is the preview's again.
        browser.find_element(By.ID, "remove-reference").click()
        wait.until(lambda b: not _saved(folder, 2))
        wait.until(lambda b: shows(still, lambda p: np.array_equal(p, before)))
        assert not browser.find_element(By.ID, "reference").is_displayed()
        # Dropped on a shot of the contact sheet: that shot's reference.
        browser.find_element(By.ID, "back").click()
        card = wait.until(lambda b: b.find_element(By.ID, "shot-1"))
        data = base64.b64encode(_reference(folder, 1, ".jpg")).decode()
        browser.execute_script(DROP, card, data, "dropped.jpg")
        wait.until(lambda b: "reference" in b.find_element(By.ID, "shot-1").text)
        assert _saved(folder, 1) == ["shot-0001.reference.jpg"]
        assert browser.find_element(By.ID, "message").text == ""
    finally:
        browser.quit()
