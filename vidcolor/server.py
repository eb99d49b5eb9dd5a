"""The hints page: a small local web server over a preview folder (``vidcolor hints DIR``).

It serves the static page in ``vidcolor/web/``, the preview's images, and a tiny JSON API; it
listens on 127.0.0.1 only and serves nothing outside the preview folder. A change to a shot's
hints is saved at once to ``DIR/hints.json`` (atomically) and answered with the shot's still
re-colorized with them — exactly as the render colorizes that frame, the shot's anchor.

It answers only its own page, as Jupyter does: a request must name the server by a loopback
``Host`` (``127.0.0.1:PORT``, ``localhost:PORT``, ``[::1]:PORT``; a DNS-rebinding page names
its own), and carry the token drawn at each start — in the printed URL (``/?token=…``, which
sets a ``SameSite=Strict`` HttpOnly cookie for the page and its images and redirects to ``/``)
or as ``?token=`` on any request (scripts). A ``PUT`` with an ``Origin`` must come from the
page's own. Anything else is answered 403. Sockets time out, so a stalled client holds only
its own thread, for a while.

API: ``GET /api/shots`` (the shot list with each shot's hints), ``PUT /api/hints/<shot>`` (a
JSON list of hints for the shot's preview frame: ``x, y`` in the still's pixels, ``lab`` or
``rgb``, ``radius``), ``GET /api/still/<shot>.png`` (the still with its hints).
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import secrets
import sys
import threading
import time
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
    parse_hints,
    read_hints,
    stored_point,
    write_hints,
)
from vidcolor.image import read_image
from vidcolor.preview import render_still, upright
from vidcolor.probe import quarter_turns
from vidcolor.shot import AnchorInputs, anchor_frame

log = logging.getLogger(__name__)

WEB = Path(__file__).with_name("web")
STATIC = {"/": ("index.html", "text/html; charset=utf-8"),
          "/app.js": ("app.js", "text/javascript; charset=utf-8"),
          "/style.css": ("style.css", "text/css; charset=utf-8")}
HINTS = "hints.json"
MAX_BODY = 1 << 20
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
NO_TOKEN = ("open the address that vidcolor hints printed (it ends in ?token=…; a new one at "
            "each start)")


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
        luma = gray.astype(np.float32)[None, None] / 255.0
        # The render's anchor frame with these hints (the still is that frame).
        ab = anchor_frame(self.colorizer, luma, AnchorInputs(hints=tuple(hints))).ab
        rgb = upright(render_still(self.colorizer, gray, True, self.meta["matrix"] or "bt601",
                                   ab), self.meta["rotation"])
        ok, png = cv2.imencode(".png", rgb[:, :, ::-1])
        if not ok:
            raise OutputError("could not encode the still")
        return png.tobytes()


class _Handler(BaseHTTPRequestHandler):
    server: HintsServer
    server_version = "vidcolor-hints"

    def setup(self) -> None:
        self.timeout = self.server.client_timeout  # every read and write on the socket
        super().setup()

    def log_message(self, fmt: str, *args: object) -> None:
        message = (fmt % args).replace(self.server.token, "…")
        log.debug("%s %s", self.address_string(), message)

    def _send(self, status: int, body: bytes, kind: str, extra: dict[str, str] | None = None,
              ) -> None:
        self.send_response(status)
        headers = {"Content-Type": kind, "Content-Length": str(len(body)),
                   "Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                   "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff"}
        for key, value in {**headers, **(extra or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, value: object) -> None:
        self._send(status, json.dumps(value).encode(), "application/json")

    def _admit(self, write: bool) -> tuple[str, dict[str, list[str]]] | None:
        """The request's path and query if it may be answered; else answer it (403) and None."""
        hosts = self.headers.get_all("Host") or []
        host = hosts[0].strip().lower() if len(hosts) == 1 else ""
        url = urllib.parse.urlsplit(self.path)
        if host not in self.server.hosts or url.scheme or url.netloc:
            self._json(403, {"error": "this server answers only to 127.0.0.1, localhost "
                                      "and [::1] on its own port"})
            return None
        query = urllib.parse.parse_qs(url.query)
        if not self._has_token(query.get("token", [])):
            if url.path == "/":
                self._send(403, f"<!DOCTYPE html><title>vidcolor hints</title><p>{NO_TOKEN}."
                           .encode(), "text/html; charset=utf-8")
            else:
                self._json(403, {"error": NO_TOKEN})
            return None
        origin = self.headers.get("Origin")
        if write and origin is not None and origin.strip().lower() != f"http://{host}":
            self._json(403, {"error": "changes are taken only from the hints page itself"})
            return None
        return url.path, query

    def _has_token(self, given: list[str]) -> bool:
        """Whether the request carries this start's token (``?token=`` or the page's cookie)."""
        name = self.server.cookie + "="
        for header in self.headers.get_all("Cookie") or []:
            given = given + [c.strip()[len(name):] for c in header.split(";")
                             if c.strip().startswith(name)]
        token = self.server.token.encode()
        return any(hmac.compare_digest(t.encode("utf-8", "replace"), token) for t in given)

    def do_GET(self) -> None:
        admitted = self._admit(write=False)
        if admitted is None:
            return
        path, query = admitted
        try:
            if path == "/" and "token" in query:
                # The printed URL: keep the token in a cookie the browser sends only from this
                # site's own pages (images included), and take it out of the address bar.
                cookie = f"{self.server.cookie}={self.server.token}; Path=/; HttpOnly; " \
                         "SameSite=Strict"
                self._send(303, b"", "text/plain", {"Location": "/", "Set-Cookie": cookie})
            elif path in STATIC:
                name, kind = STATIC[path]
                self._send(200, (WEB / name).read_bytes(), kind)
            elif path == "/api/shots":
                self._json(200, {**self.server.session.meta,
                                 "shots": self.server.session.shot_list()})
            elif match := re.fullmatch(r"/api/still/(\d+)\.png", path):
                self._send(200, self.server.session.still(int(match.group(1))), "image/png")
            elif match := re.fullmatch(r"/files/([A-Za-z0-9_.:-]+\.png)", path):
                self._file(urllib.parse.unquote(match.group(1)))
            else:
                self._json(404, {"error": "not found"})
        except InputError as e:
            self._json(404, {"error": str(e)})

    def _file(self, name: str) -> None:
        folder = self.server.session.folder
        target = (folder / name).resolve()
        if target.parent != folder or not target.is_file():
            self._json(404, {"error": "not found"})
            return
        self._send(200, target.read_bytes(), "image/png")

    def _body(self) -> bytes | None:
        """The request's body (at most MAX_BODY, read within the timeout); else answer, None."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY:
            self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "bad body size"})
            return None
        deadline = time.monotonic() + self.server.client_timeout
        chunks: list[bytes] = []
        try:
            while length > 0:  # the whole body within one timeout, however it trickles
                self.connection.settimeout(max(deadline - time.monotonic(), 0.001))
                chunk = self.rfile.read1(length)
                if not chunk:
                    raise TimeoutError
                chunks.append(chunk)
                length -= len(chunk)
        except TimeoutError:
            self.close_connection = True
            self._json(HTTPStatus.REQUEST_TIMEOUT, {"error": "the body came too slowly"})
            return None
        finally:
            self.connection.settimeout(self.server.client_timeout)
        return b"".join(chunks)

    def do_PUT(self) -> None:
        admitted = self._admit(write=True)
        if admitted is None:
            return
        match = re.fullmatch(r"/api/hints/(\d+)", admitted[0])
        if match is None:
            self._json(404, {"error": "not found"})
            return
        body = self._body()
        if body is None:
            return
        number = int(match.group(1))
        try:
            self.server.session.set_hints(number, json.loads(body))
        except (ValueError, InputError) as e:
            self._json(400, {"error": str(e)})
            return
        self._json(200, {"shot": number, "hints": [h.to_json() for h in
                                                  self.server.session.hints.get(number, [])]})


class HintsServer(ThreadingHTTPServer):
    """The hints page's server: a thread per request, its session, its names and its token.

    Attributes:
        session: the preview folder it serves.
        token: drawn at each start (``secrets``); every request must carry it.
        client_timeout: seconds a socket may stall (and a body may take) before it is dropped.
    """

    daemon_threads = True

    def __init__(self, session: HintsSession, port: int, client_timeout: float) -> None:
        self.session = session
        self.token = secrets.token_urlsafe(32)
        self.client_timeout = client_timeout
        super().__init__(("127.0.0.1", port), _Handler)
        port = self.server_address[1]
        self.hosts = {f"{name}:{port}" for name in LOOPBACK} | (
            set(LOOPBACK) if port == 80 else set())
        # Cookies are shared by every port of a host: one name per port, so that two pages
        # open at once keep their own.
        self.cookie = f"vidcolor-hints-{port}"

    @property
    def url(self) -> str:
        """The page's address with the token: the one URL to open."""
        return f"http://127.0.0.1:{self.server_address[1]}/?token={self.token}"

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that went away or stalled is routine; anything else is not."""
        if isinstance(sys.exc_info()[1], OSError):
            log.debug("%s: %s", client_address, sys.exc_info()[1])
        else:
            super().handle_error(request, client_address)


def make_server(session: HintsSession, port: int = 0, client_timeout: float = 20.0,
                ) -> HintsServer:
    """A server for ``session`` on 127.0.0.1 (``port`` 0: a free one); open its ``url``.

    Raises:
        OutputError: the port cannot be listened on.
    """
    try:
        return HintsServer(session, port, client_timeout)
    except OSError as e:
        raise OutputError(f"cannot listen on 127.0.0.1:{port}: {e.strerror}") from e
