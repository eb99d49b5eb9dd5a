"""The hints page and a preview's --reference: its stills and render command keep it (issue 38)."""

from __future__ import annotations

import http.client
import json
import shlex
import threading
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from media import make_video
from test_hints_page import BROWSER, _browser

from vidcolor.cli import main

HINT = [{"x": 80, "y": 48, "radius": 6, "lab": [50.0, 60.0, 50.0]}]


def _reference(folder: Path, shot: int, a: int, b: int) -> np.ndarray:
    """Shot ``shot``'s gray still in one strong colour (Lab ``a, b`` offsets), as BGR."""
    name = json.loads((folder / "shots.json").read_text())["shots"][shot - 1]["gray_image"]
    gray = cv2.imread(str(folder / name), cv2.IMREAD_GRAYSCALE)
    lab = cv2.cvtColor(cv2.merge([gray, gray, gray]), cv2.COLOR_BGR2LAB)
    lab[..., 1], lab[..., 2] = 128 + a, 128 + b
    return cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)


@pytest.fixture
def made(tmp_path, random_weights):
    """A full-range 2-shot clip, its preview made with ``--reference a.png``, and its args."""
    src = make_video(tmp_path / "two.mp4", 160, 96, frames=24, shots=2, pix_fmt="yuvj420p")
    folder = tmp_path / "P"
    w = ["--weights", str(random_weights), "--render-size", "64", "-q"]
    assert main([str(src), "--preview", str(folder), *w]) == 0
    ref = tmp_path / "a.png"
    cv2.imwrite(str(ref), _reference(folder, 2, 45, -35))
    assert main([str(src), "--preview", str(folder), "--reference", str(ref), "-y", *w]) == 0
    return src, folder, ref, w


def _session(folder: Path, weights: Path, references=None):
    from vidcolor.config import JobConfig, TileConfig
    from vidcolor.runner import make_colorizer
    from vidcolor.server import HintsSession

    colorizer = make_colorizer(JobConfig(weights=weights, tile=TileConfig(render_size=64)))
    given = {} if references is None else {"references": references}  # None: the preview's
    return HintsSession(folder, colorizer, weights, **given)


def _rgb(png: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]


def _rendered(dst: Path, index: int) -> np.ndarray:
    from vidcolor.lab.video_metrics import frame_rgb
    from vidcolor.probe import read_media_info

    info = read_media_info(dst)
    with av.open(str(dst)) as c:
        frame = next(f for i, f in enumerate(c.decode(video=0)) if i == index)
    return frame_rgb(frame, info.full_range, info.matrix)


@pytest.mark.parametrize("own", [False, True])
def test_the_page_still_keeps_the_preview_s_reference_as_the_render_does(made, tmp_path,
                                                                        random_weights, own):
    # After a hint, the still is the render's anchor frame with the preview's --reference (and
    # the shot's own reference beside it, as the render takes both); the page's command is it.
    from vidcolor.lab.video_metrics import chroma_difference

    src, folder, ref, w = made
    shot = json.loads((folder / "shots.json").read_text())["shots"][1]
    session = _session(folder, random_weights)
    if own:
        data = cv2.imencode(".png", _reference(folder, 2, -40, 30))[1].tobytes()
        session.set_reference(2, data, "own.png")
    session.set_hints(2, HINT)
    still = _rgb(session.still(2))
    dst = tmp_path / "out.mp4"
    assert main([str(src), "-o", str(dst), "--hints", str(folder / "hints.json"),
                 "--reference", str(ref), "--crf", "0", *w]) == 0
    mean, p90 = chroma_difference(still, _rendered(dst, shot["preview_frame"]))
    assert mean == 0.0, (mean, p90)
    # Without the preview's reference (the hint alone, or beside the shot's own): it steered.
    unsteered = _rgb(_session(folder, random_weights, []).still(2))
    assert chroma_difference(still, unsteered)[0] > (0.5 if own else 2)
    # The command the page offers is that render.
    command = shlex.split(session.render_command())
    assert command == ["vidcolor", "two.mp4", "-o", "two_color.mp4",
                       "--hints", str(folder.resolve() / "hints.json"),
                       "--reference", str(ref.resolve())]
    recorded = json.loads((folder / "shots.json").read_text())["references"]
    assert [r["path"] for r in recorded] == [str(ref.resolve())]


def test_a_reference_given_to_the_page_takes_the_place_of_the_preview_s(made, tmp_path,
                                                                         random_weights):
    from vidcolor.lab.video_metrics import chroma_difference

    src, folder, _, w = made
    shot = json.loads((folder / "shots.json").read_text())["shots"][1]
    as_made = (folder / shot["image"]).read_bytes()
    assert _session(folder, random_weights).still(2) == as_made  # nothing to re-colorize
    other = tmp_path / "b.png"
    cv2.imwrite(str(other), _reference(folder, 2, -40, 30))
    session = _session(folder, random_weights, [other])
    still = session.still(2)  # no hint: re-colorized all the same, with b.png
    assert still != as_made
    command = shlex.split(session.render_command())
    assert command[-2:] == ["--reference", str(other.resolve())]  # only it
    assert command.count("--reference") == 1
    session.set_hints(2, HINT)
    dst = tmp_path / "out.mp4"
    assert main([str(src), "-o", str(dst), "--hints", str(folder / "hints.json"),
                 "--reference", str(other), "--crf", "0", *w]) == 0
    rendered = _rendered(dst, shot["preview_frame"])
    assert chroma_difference(_rgb(session.still(2)), rendered)[0] == 0.0  # and the render


@pytest.mark.parametrize("how", ["gone", "changed"])
def test_a_recorded_reference_gone_or_changed_is_one_line(made, random_weights, how):
    from vidcolor.errors import InputError
    from vidcolor.server import make_server

    _, folder, ref, _ = made
    if how == "gone":
        ref.unlink()
    else:
        cv2.imwrite(str(ref), _reference(folder, 2, -40, 30))
    session = _session(folder, random_weights)
    assert session.problem is not None and "\n" not in session.problem
    assert str(ref.resolve()) in session.problem and "--reference" in session.problem
    shot = json.loads((folder / "shots.json").read_text())["shots"][1]
    assert session.still(2) == (folder / shot["image"]).read_bytes()  # still as made
    session.set_hints(2, HINT)
    with pytest.raises(InputError, match="--reference"):
        session.still(2)  # cannot be re-colorized as the preview's: said in one line
    server = make_server(session)  # the page shows the line (its answer to /api/shots)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", f"/api/shots?token={server.token}",
                     headers={"Host": f"127.0.0.1:{port}"})
        answer = json.loads(conn.getresponse().read())
    finally:
        conn.close()
        server.shutdown()
        server.server_close()
    assert answer["problem"] == session.problem
    assert answer["command"] == session.render_command()
    # Given again (as the line says), the page uses it as it is now.
    if how == "changed":
        assert _session(folder, random_weights, [ref]).problem is None


def test_the_hints_command_refuses_a_bad_reference_in_one_line(made, tmp_path, random_weights,
                                                             capsys):
    _, folder, _, _ = made
    gray = tmp_path / "gray.png"
    cv2.imwrite(str(gray), np.full((20, 20), 128, np.uint8))
    for bad in (gray, tmp_path / "none.png"):
        assert main(["hints", str(folder), "--weights", str(random_weights),
                     "--reference", str(bad)]) == 1
        err = capsys.readouterr().err
        assert err.startswith("vidcolor: error: ") and err.count("\n") == 1, err


def test_vidcolor_hints_prints_the_render_command_and_a_gone_reference(made, random_weights,
                                                                       capsys, monkeypatch):
    import vidcolor.server

    class Stopped:  # a server stopped at once (Ctrl-C)
        url = "http://127.0.0.1:1/?token=t"

        def serve_forever(self):
            raise KeyboardInterrupt

        def server_close(self):
            pass

    sessions = []
    monkeypatch.setattr(vidcolor.server, "make_server",
                        lambda session, port: sessions.append(session) or Stopped())
    _, folder, ref, _ = made
    ref.unlink()
    assert main(["hints", str(folder), "--weights", str(random_weights)]) == 0
    out, err = capsys.readouterr()
    assert err == f"vidcolor hints: warning: {sessions[0].problem}\n"
    assert f"render with: {sessions[0].render_command()}\n" in out
    assert f"--reference {ref.resolve()}" in out


def test_references_recorded_wrongly_are_one_line(tmp_path):
    from vidcolor.errors import InputError
    from vidcolor.shot_reference import check_recorded

    for bad in ("a.jpg", [{"path": "a.jpg"}], [3], {"path": "a.jpg"}):
        with pytest.raises(InputError, match="make the preview again"):
            check_recorded(bad)
    assert check_recorded(None) == ([], None)
    folder = tmp_path / "d.png"
    folder.mkdir()  # not a file: gone
    assert "is gone" in check_recorded([{"path": str(folder), "sha256": "0"}])[1]


@BROWSER
def test_the_page_shows_the_command_and_a_gone_reference_in_a_browser(made, tmp_path,
                                                                      random_weights):
    from selenium.webdriver.common.by import By

    from vidcolor.server import make_server

    _, folder, ref, _ = made
    ref.unlink()
    session = _session(folder, random_weights)
    server = make_server(session, client_timeout=2)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    browser, wait = _browser(tmp_path)
    try:
        browser.get(server.url)
        wait.until(lambda b: b.find_elements(By.ID, "shot-2"))
        assert browser.find_element(By.ID, "message").text == session.problem
        command = browser.find_element(By.ID, "command").text
        assert command == session.render_command() and str(ref.resolve()) in command
    finally:
        browser.quit()
        server.shutdown()
        server.server_close()
