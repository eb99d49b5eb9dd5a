"""The hints page: a small local web server over a preview folder (``vidcolor hints DIR``).

It serves the static page in ``vidcolor/web/``, the preview's images, and a tiny JSON API; it
listens on 127.0.0.1 only and serves nothing outside the preview folder. A change to a shot's
hints is saved at once to ``DIR/hints.json`` (atomically) and answered with the shot's still
re-colorized with them — exactly as the render colorizes that frame, the shot's anchor.

API: ``GET /api/shots`` (the shot list with each shot's hints), ``PUT /api/hints/<shot>`` (a
JSON list of hints for the shot's preview frame: ``x, y`` in the still's pixels, ``lab`` or
``rgb``, ``radius``), ``GET /api/still/<shot>.png`` (the still with its hints).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vidcolor.colorize import FrameColorizer
from vidcolor.errors import InputError, OutputError
from vidcolor.hints import (
    Hint,
    hint_prior,
    parse_hints,
    read_hints,
    stored_point,
    write_hints,
)
from vidcolor.image import read_image
from vidcolor.preview import render_still, upright
from vidcolor.probe import quarter_turns

log = logging.getLogger(__name__)

WEB = Path(__file__).with_name("web")
STATIC = {"/": ("index.html", "text/html; charset=utf-8"),
          "/app.js": ("app.js", "text/javascript; charset=utf-8"),
          "/style.css": ("style.css", "text/css; charset=utf-8")}
HINTS = "hints.json"
MAX_BODY = 1 << 20


class HintsSession:
    """A preview folder, its shots and hints, and the colorizer that re-colorizes stills."""

    def __init__(self, folder: Path, colorizer: FrameColorizer) -> None:
        self.folder = folder.resolve()
        try:
            data = json.loads((self.folder / "shots.json").read_text(encoding="utf-8"))
            self.shots = {int(s["shot"]): s for s in data["shots"]}
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise InputError(f"{folder} holds no preview (shots.json): make one with "
                             "vidcolor FILM --preview DIR") from e
        self.meta = {k: data.get(k) for k in ("source", "frames", "rotation", "matrix")}
        self.colorizer = colorizer
        self.lock = threading.Lock()
        self.hints: dict[int, list[Hint]] = {}
        if (self.folder / HINTS).exists():
            for hint in read_hints(self.folder / HINTS):
                self.hints.setdefault(hint.shot, []).append(hint)
        self._stills: dict[int, bytes] = {}

    def shot_list(self) -> list[dict[str, Any]]:
        """The shots with their hints, for the page."""
        out = []
        for number, shot in sorted(self.shots.items()):
            out.append({**shot, "hints": [h.to_json() for h in self.hints.get(number, [])]})
        return out

    def set_hints(self, number: int, items: object) -> None:
        """Replace a shot's hints (validated) and save them all.

        Raises:
            InputError: an unknown shot, or hints that are not valid.
        """
        shot = self.shots.get(number)
        if shot is None:
            raise InputError(f"there is no shot {number}")
        if not isinstance(items, list):
            raise InputError("expected a JSON list of hints")
        for item in items:
            if isinstance(item, dict):
                item.update(frame=shot["preview_frame"], shot=number)
        try:
            hints = parse_hints({"hints": items})
        except ValueError as e:
            raise InputError(str(e)) from e
        gray = self._gray(shot)
        h, w = gray.shape
        for hint in hints:
            if not (0 <= hint.x < w and 0 <= hint.y < h):
                raise InputError(f"a hint at ({hint.x:g}, {hint.y:g}) lies outside the "
                                 f"{w}x{h} still")
        with self.lock:
            self.hints[number] = hints
            self._stills.pop(number, None)
            write_hints(self.folder / HINTS, [x for k in sorted(self.hints)
                                              for x in self.hints[k]])

    def _gray(self, shot: dict) -> np.ndarray:
        pixels, _ = read_image(self.folder / shot["gray_image"])
        return pixels if pixels.ndim == 2 else pixels[..., 0]

    def still(self, number: int) -> bytes:
        """The shot's still, re-colorized with its hints, as PNG bytes."""
        shot = self.shots.get(number)
        if shot is None:
            raise InputError(f"there is no shot {number}")
        with self.lock:
            if number not in self._stills:
                self._stills[number] = self._colorize(shot, self.hints.get(number, []))
            return self._stills[number]

    def _colorize(self, shot: dict, hints: list[Hint]) -> bytes:
        if not hints:
            return (self.folder / shot["image"]).read_bytes()
        turns = quarter_turns(self.meta["rotation"])
        gray = np.ascontiguousarray(np.rot90(self._gray(shot), -turns))  # the stored frame
        h, w = gray.shape
        hints = [stored_point(x, turns, w, h) for x in hints]
        small = self.colorizer.working_luma(gray.astype(np.float32)[None, None] / 255.0)
        ab = self.colorizer.guided(small, None, hint_prior(hints, small[0, 0], (h, w)))
        rgb = upright(render_still(self.colorizer, gray, True, self.meta["matrix"] or "bt601",
                                   ab), self.meta["rotation"])
        ok, png = cv2.imencode(".png", rgb[:, :, ::-1])
        if not ok:
            raise OutputError("could not encode the still")
        return png.tobytes()


class _Handler(BaseHTTPRequestHandler):
    session: HintsSession
    server_version = "vidcolor-hints"

    def log_message(self, fmt: str, *args: object) -> None:
        log.debug("%s %s", self.address_string(), fmt % args)

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, value: object) -> None:
        self._send(status, json.dumps(value).encode(), "application/json")

    def do_GET(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        try:
            if path in STATIC:
                name, kind = STATIC[path]
                self._send(200, (WEB / name).read_bytes(), kind)
            elif path == "/api/shots":
                self._json(200, {**self.session.meta, "shots": self.session.shot_list()})
            elif match := re.fullmatch(r"/api/still/(\d+)\.png", path):
                self._send(200, self.session.still(int(match.group(1))), "image/png")
            elif match := re.fullmatch(r"/files/([A-Za-z0-9_.:-]+\.png)", path):
                self._file(urllib.parse.unquote(match.group(1)))
            else:
                self._json(404, {"error": "not found"})
        except InputError as e:
            self._json(404, {"error": str(e)})

    def _file(self, name: str) -> None:
        folder = self.session.folder
        target = (folder / name).resolve()
        if target.parent != folder or not target.is_file():
            self._json(404, {"error": "not found"})
            return
        self._send(200, target.read_bytes(), "image/png")

    def do_PUT(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        match = re.fullmatch(r"/api/hints/(\d+)", path)
        if match is None:
            self._json(404, {"error": "not found"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_BODY:
            self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "bad body size"})
            return
        try:
            items = json.loads(self.rfile.read(length))
            self.session.set_hints(int(match.group(1)), items)
        except (ValueError, InputError) as e:
            self._json(400, {"error": str(e)})
            return
        number = int(match.group(1))
        self._json(200, {"shot": number, "hints": [h.to_json() for h in
                                                  self.session.hints.get(number, [])]})


def make_server(session: HintsSession, port: int = 0) -> ThreadingHTTPServer:
    """A server for ``session`` on 127.0.0.1 (``port`` 0: a free one)."""
    handler = type("Handler", (_Handler,), {"session": session})
    try:
        return ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as e:
        raise OutputError(f"cannot listen on 127.0.0.1:{port}: {e.strerror}") from e
