"""A preview folder as the hints page edits it: its shots, their hints and reference photos.

Each change is saved at once into the folder (``hints.json``, ``shot-0007.reference.<ext>``,
atomically), and a shot's still is re-colorized with what steers it through
:func:`vidcolor.shot.anchor_frame`, the one recipe of the render's anchor frame: the still the
page shows is that frame.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vidcolor.colorize import FrameColorizer
from vidcolor.config import JobConfig
from vidcolor.errors import InputError, OutputError
from vidcolor.hints import (
    Hint,
    parse_hints,
    read_hints,
    stored_point,
    write_hints,
)
from vidcolor.image import read_image, reference_set
from vidcolor.preview import render_still, upright
from vidcolor.probe import quarter_turns
from vidcolor.shot import AnchorInputs, anchor_frame
from vidcolor.shot_reference import remove_reference, save_reference, shot_references, thumbnail
from vidcolor.weights import default_weights_path

HINTS = "hints.json"


class HintsSession:
    """A preview folder, its shots and hints, and the colorizer that re-colorizes stills."""

    def __init__(self, folder: Path, colorizer: FrameColorizer,
                 weights: Path | None = None) -> None:
        self.folder = folder.resolve()
        # The encoder a shot's reference is matched with: the colorizer's weights, as the render.
        self.weights = weights or default_weights_path(JobConfig().model)
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
        self._stills: dict[int, tuple[object, bytes]] = {}  # by shot: (its reference, PNG)

    def shot_list(self) -> list[dict[str, Any]]:
        """The shots with their hints, for the page."""
        out = []
        references = shot_references(self.folder)
        for number, shot in sorted(self.shots.items()):
            ref = references.get(number)
            out.append({**shot, "hints": [h.to_json() for h in self.hints.get(number, [])],
                        "reference": ref.name if ref else None})
        return out

    def _shot(self, number: int) -> dict:
        shot = self.shots.get(number)
        if shot is None:
            raise InputError(f"there is no shot {number}")
        return shot

    def set_reference(self, number: int, data: bytes, name: str) -> str:
        """Make ``data`` (an image file) the shot's reference; returns the file's name.

        Saved as ``shot-0007.reference.<ext>`` in the folder, where the render finds it; a
        ``hints.json`` is started if there is none, so ``--hints DIR/hints.json`` finds it.

        Raises:
            InputError: an unknown shot; not a colour image, or too large (nothing saved).
        """
        self._shot(number)
        with self.lock:
            path = save_reference(self.folder, number, data, name)
            if not (self.folder / HINTS).exists():
                write_hints(self.folder / HINTS, [])
            return path.name

    def drop_reference(self, number: int) -> bool:
        """Remove the shot's reference; whether it had one."""
        self._shot(number)
        with self.lock:
            return remove_reference(self.folder, number)

    def reference_picture(self, number: int) -> bytes:
        """The shot's reference as a PNG to show beside its still.

        Raises:
            InputError: an unknown shot, or one without a reference.
        """
        self._shot(number)
        path = shot_references(self.folder).get(number)
        if path is None:
            raise InputError(f"shot {number} has no reference")
        return thumbnail(path)

    def set_hints(self, number: int, items: object) -> None:
        """Replace a shot's hints (validated) and save them all.

        Raises:
            InputError: an unknown shot, or hints that are not valid.
        """
        shot = self._shot(number)
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
        """The shot's still, re-colorized with its hints and reference, as PNG bytes."""
        shot = self._shot(number)
        with self.lock:
            ref = shot_references(self.folder).get(number)
            try:
                st = None if ref is None else ref.stat()
            except OSError:  # removed by hand just now
                ref = st = None
            key = None if st is None else (ref.name, st.st_mtime_ns, st.st_size)
            if number not in self._stills or self._stills[number][0] != key:
                self._stills[number] = key, self._colorize(shot, self.hints.get(number, []), ref)
            return self._stills[number][1]

    def _colorize(self, shot: dict, hints: list[Hint], reference: Path | None) -> bytes:
        if not hints and reference is None:
            return (self.folder / shot["image"]).read_bytes()
        turns = quarter_turns(self.meta["rotation"])
        gray = np.ascontiguousarray(np.rot90(self._gray(shot), -turns))  # the stored frame
        h, w = gray.shape
        hints = [stored_point(x, turns, w, h) for x in hints]
        luma = gray.astype(np.float32)[None, None] / 255.0
        prior = None
        if reference is not None:  # matched as the render matches a shot's reference
            refs = reference_set([str(reference)], self.weights)
            prior = refs.prior(self.colorizer.working_luma(luma)[0, 0])
        # The render's anchor frame with these hints and reference (the still is that frame).
        ab = anchor_frame(self.colorizer, luma,
                          AnchorInputs(hints=tuple(hints), reference=prior)).ab
        rgb = upright(render_still(self.colorizer, gray, True, self.meta["matrix"] or "bt601",
                                   ab), self.meta["rotation"])
        ok, png = cv2.imencode(".png", rgb[:, :, ::-1])
        if not ok:
            raise OutputError("could not encode the still")
        return png.tobytes()
