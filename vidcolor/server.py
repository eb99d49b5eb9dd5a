"""The hints page: a small local web server over a preview folder (``vidcolor hints DIR``).

It serves the static page in ``vidcolor/web/``, the preview's images, and a tiny JSON API; it
listens on 127.0.0.1 only and serves nothing outside the preview folder. The folder, its hints
and reference photos are :class:`vidcolor.hints_session.HintsSession`'s: a change is saved at
once and the shot's still re-colorized with it, exactly as the render colorizes that frame.

It answers only its own page, as Jupyter does: a request must name the server by a loopback
``Host`` (``127.0.0.1:PORT``, ``localhost:PORT``, ``[::1]:PORT``; a DNS-rebinding page names
its own), and carry the token drawn at each start — in the printed URL (``/?token=…``, which
sets a ``SameSite=Strict`` HttpOnly cookie for the page and its images and redirects to ``/``)
or as ``?token=`` on any request (scripts). A ``PUT`` or ``DELETE`` with an ``Origin`` must
come from the page's own. Anything else is answered 403. Sockets time out, so a stalled client
holds only its own thread, for a while.

API: ``GET /api/shots`` (the shot list with each shot's hints), ``PUT /api/hints/<shot>`` (a
JSON list of hints for the shot's preview frame: ``x, y`` in the still's pixels, ``lab`` or
``rgb``, ``radius``), ``GET /api/still/<shot>.png`` (the still with its hints and reference),
``PUT /api/reference/<shot>?name=FILE`` (an image file's bytes, at most 32 MB: the shot's
reference photo, refused with 400 and one line unless it is a colour image),
``GET /api/reference/<shot>.png`` (it, to show), ``DELETE /api/reference/<shot>``.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import secrets
import sys
import time
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from vidcolor.errors import InputError, OutputError
from vidcolor.hints_session import HintsSession
from vidcolor.shot_reference import MAX_BYTES

log = logging.getLogger(__name__)

WEB = Path(__file__).with_name("web")
STATIC = {"/": ("index.html", "text/html; charset=utf-8"),
          "/app.js": ("app.js", "text/javascript; charset=utf-8"),
          "/style.css": ("style.css", "text/css; charset=utf-8")}
MAX_BODY = 1 << 20
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
NO_TOKEN = ("open the address that vidcolor hints printed (it ends in ?token=…; a new one at "
            "each start)")


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
                self._json(200, {**self.server.session.meta, "max_reference_bytes": MAX_BYTES,
                                 "shots": self.server.session.shot_list()})
            elif match := re.fullmatch(r"/api/still/(\d+)\.png", path):
                self._send(200, self.server.session.still(int(match.group(1))), "image/png")
            elif match := re.fullmatch(r"/api/reference/(\d+)\.png", path):
                self._send(200, self.server.session.reference_picture(int(match.group(1))),
                           "image/png")
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

    def _body(self, limit: int = MAX_BODY) -> bytes | None:
        """The request's body (at most ``limit``, read within the timeout); else answer, None."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 < length <= limit:
            error = "bad body size" if length <= 0 or limit == MAX_BODY else \
                f"a reference photo may be at most {limit >> 20} MB"
            self.close_connection = True  # the body, if any, is not read
            self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": error})
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
        if match := re.fullmatch(r"/api/reference/(\d+)", admitted[0]):
            self._put_reference(int(match.group(1)), admitted[1])
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

    def _put_reference(self, number: int, query: dict[str, list[str]]) -> None:
        """A reference photo dropped on shot ``number``: the file's bytes as the body."""
        body = self._body(MAX_BYTES)
        if body is None:
            return
        name = Path(query.get("name", ["the file"])[0]).name
        name = "".join(c for c in name if c.isprintable())[:80] or "the file"
        try:
            saved = self.server.session.set_reference(number, body, name)
        except InputError as e:
            self._json(400 if number in self.server.session.shots else 404, {"error": str(e)})
            return
        self._json(200, {"shot": number, "reference": saved})

    def do_DELETE(self) -> None:
        admitted = self._admit(write=True)
        if admitted is None:
            return
        match = re.fullmatch(r"/api/reference/(\d+)", admitted[0])
        if match is None:
            self._json(404, {"error": "not found"})
            return
        number = int(match.group(1))
        try:
            removed = self.server.session.drop_reference(number)
        except InputError as e:
            self._json(404, {"error": str(e)})
            return
        self._json(200, {"shot": number, "reference": None, "removed": removed})


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
