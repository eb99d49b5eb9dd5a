"""Per-shot preview: one colorized frame per shot, a contact sheet and a shot list, in minutes.

``vidcolor film.mp4 --preview DIR`` detects the shots, picks a representative frame of each
(sharp, with full contrast, away from the shot's ends so not inside a fade), colorizes it and
writes ``DIR/shot-0001_00-01-23.456.png`` with its gray source ``..._gray.png`` beside it,
``DIR/index.html`` (a self-contained contact sheet) and ``DIR/shots.json``. A recoloured copy
of any preview image, under the same name, is a keyframe for ``--keyframes``.
"""

from __future__ import annotations

import html
import json
import logging
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import numpy as np

from vidcolor.atomic import write_atomic
from vidcolor.colorize import FrameColorizer
from vidcolor.config import JobConfig
from vidcolor.decode import frames_by_index, iter_frames
from vidcolor.encode import VideoWriter, build_frame, plan_pixels
from vidcolor.errors import InputError, OutputError
from vidcolor.image import write_image
from vidcolor.keyframes import pixel_digest
from vidcolor.planes import luma_plane, plane_to_luma, planes_to_rgb
from vidcolor.probe import (
    MediaInfo,
    check_input_file,
    is_image_path,
    quarter_turns,
    read_media_info,
)
from vidcolor.progress import NullProgress, Progress
from vidcolor.reference import ReferenceSet
from vidcolor.scan import ScanResult, first_pass, format_timecode
from vidcolor.shot import AnchorInputs, Shot, anchor_frame
from vidcolor.shot_reference import recorded

log = logging.getLogger(__name__)

SEEK_SECONDS = 10.0  # a preview still further than this past the last one is reached by seeking
KEEP_BYTES = 256 << 20  # luma planes kept from the scan, so a short film is decoded only once


def upright(pixels: np.ndarray, rotation: float) -> np.ndarray:
    """Turn a frame upright for display (``rotation``: the display matrix's degrees)."""
    turns = quarter_turns(rotation)
    return np.ascontiguousarray(np.rot90(pixels, turns)) if turns else pixels


def render_still(colorizer: FrameColorizer, y: np.ndarray, full_range: bool, matrix: str,
                 ab: np.ndarray) -> np.ndarray:
    """uint8 RGB of an 8-bit frame with working-size chroma ``ab``, as the render encodes it.

    The chroma is merged at the chroma resolution of the default 8-bit layout, into the same
    planes the render's encoder gets, and read back: a lossless render's frame is this.
    """
    plan = plan_pixels("libx264", y.shape[1], y.shape[0])
    cb, cr = colorizer.chroma_planes(y, full_range, matrix, plan.subsample, ab)
    return planes_to_rgb(y, cb, cr, full_range, matrix)


def run_preview(src: Path, out_dir: Path, cfg: JobConfig, clip_seconds: float = 0.0,
                progress: Progress | None = None) -> list[dict]:
    """Write the preview of ``src`` into ``out_dir``; returns the shot list."""
    from vidcolor.runner import make_colorizer, make_references, read_references

    progress = progress or NullProgress()
    check_input_file(src)
    if is_image_path(src):
        raise InputError(f"--preview is for videos; colorize {src.name} with -o instead")
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"--preview needs a folder, and {out_dir} is a file")
    if (out_dir / "shots.json").exists() and not cfg.overwrite:
        raise OutputError(f"{out_dir} already holds a preview; pass -y/--overwrite to replace it")
    if not out_dir.parent.is_dir():
        raise OutputError(f"output folder does not exist: {out_dir.parent}")
    info = read_media_info(src)
    read_references(cfg)  # a bad reference fails before any work
    # The network loads on a second thread while the scan decodes.
    with ThreadPoolExecutor(1, thread_name_prefix="vidcolor-load") as pool:
        loading = pool.submit(make_colorizer, cfg)
        scan = first_pass(src, info, cfg.shots, stats=True, keep_bytes=KEEP_BYTES)
        colorizer = loading.result()
    if scan.frames == 0:
        raise InputError(f"no frame of {src} could be decoded")
    out_dir.mkdir(exist_ok=True)
    frame_time = 1.0 / float(info.rate) if info.rate else 0.0
    shots = []
    for number, (first, last, rep) in enumerate(scan.anchors(), start=1):
        stem = f"shot-{number:04d}_{format_timecode(scan.times[rep], '-')}"
        shots.append({
            "shot": number,
            "start_frame": first,
            "end_frame": last,
            "frames": last - first + 1,
            "start_time": round(float(scan.times[first]), 3),
            "end_time": round(float(scan.times[last]), 3),
            "duration": round(float(scan.times[last] - scan.times[first]) + frame_time, 3),
            "start_timecode": format_timecode(scan.times[first]),
            "end_timecode": format_timecode(scan.times[last]),
            "preview_frame": rep,
            "preview_timecode": format_timecode(scan.times[rep]),
            "image": f"{stem}.png",
            "gray_image": f"{stem}_gray.png",
        })
    _write_stills(src, info, scan, colorizer, shots, out_dir, cfg.overwrite, progress,
                  make_references(cfg))
    if clip_seconds > 0:
        _write_clips(src, info, colorizer, shots, out_dir, clip_seconds, cfg)
    # The hints page re-colorizes stills from their gray images: it needs how they were made,
    # the --reference photos too (path and sha256), which it steers them with, as the render.
    made = {"source": src.name, "frames": scan.frames, "rotation": info.rotation,
            "matrix": info.matrix}
    if cfg.references:  # absent without: other previews' shots.json stay as they were
        made["references"] = recorded(cfg.references)
    write_atomic(out_dir / "shots.json", json.dumps({**made, "shots": shots}, indent=2) + "\n")
    write_atomic(out_dir / "index.html", contact_sheet(src.name, shots))
    log.info("preview of %d shots in %s", len(shots), out_dir)
    return shots


def _still_lumas(src: Path, info: MediaInfo, scan: ScanResult,
                 indices: list[int]) -> Iterator[tuple[int, np.ndarray]]:
    """``(index, 8-bit luma plane)`` of the frames at ``indices`` (ascending), in any order.

    Planes the scan kept come from memory. Other frames far apart are reached by seeking (a
    GOP each, not the whole film in between); any the seeks miss, and files without
    timestamps, are decoded in order as a fallback.
    """
    rest = [i for i in indices if i not in scan.lumas]
    for index in indices:
        if index in scan.lumas:
            yield index, scan.lumas[index]
    timed = bool(info.time_base)
    pts = {i: scan.pts[i] if timed and i < len(scan.pts) else None for i in rest}
    gap = max(1, round(SEEK_SECONDS / float(info.time_base))) if timed else 0
    for index, frame in frames_by_index(src, pts, info.stream_index, seek_after=gap):
        yield index, luma_plane(frame)


def _write_stills(src: Path, info: MediaInfo, scan: ScanResult, colorizer: FrameColorizer,
                  shots: list[dict], out_dir: Path, overwrite: bool, progress: Progress,
                  references: ReferenceSet | None = None) -> None:
    """Each shot's still: its anchor frame, built from the planes the render would encode.

    With ``references``, the anchor frame takes their matched colours, as the render's does.
    """
    wanted = {s["preview_frame"]: s for s in shots}
    progress.start(len(wanted), "shots")
    try:
        for index, y in _still_lumas(src, info, scan, sorted(wanted)):
            shot = wanted[index]
            luma = plane_to_luma(y, info.full_range)
            # The anchor frame of the render is this frame colorized on its own.
            if references is None:
                ab = colorizer.predict_ab(luma)
            else:  # the render's anchor frame, steered by the references
                prior = references.prior(colorizer.working_luma(luma)[0, 0])
                ab = anchor_frame(colorizer, luma, AnchorInputs(reference=prior)).ab
            rgb8 = render_still(colorizer, y, info.full_range, info.matrix, ab)
            gray8 = (luma[0, 0] * 255.0 + 0.5).astype(np.uint8)
            still = upright(rgb8, info.rotation)
            write_image(out_dir / shot["image"], still, overwrite)
            # --keyframes tells an untouched still (not a keyframe) from an edited one by this.
            shot["image_pixels_sha256"] = pixel_digest(still)
            gray_rgb = np.repeat(gray8[:, :, None], 3, axis=2)
            write_image(out_dir / shot["gray_image"], upright(gray_rgb, info.rotation),
                        overwrite)
            progress.advance()
    finally:
        progress.close()
    scan.lumas.clear()


def _write_clips(src: Path, info: MediaInfo, colorizer: FrameColorizer, shots: list[dict],
                 out_dir: Path, seconds: float, cfg: JobConfig) -> None:
    """A short colorized clip of every shot, from its preview frame on (video only).

    The render colorizes a shot outward from that frame, so these are the frames it gives
    there (re-encoded on their own).
    """
    rate = info.rate or Fraction(25)
    length = max(1, round(float(rate) * seconds))
    spans = {s["preview_frame"]: s for s in shots}
    writer: VideoWriter | None = None
    shot, end, first_pts = None, -1, 0
    colours: Shot | None = None
    try:
        for index, frame in enumerate(iter_frames(src, stream_index=info.stream_index)):
            if index in spans:
                if writer is not None:
                    writer.close()
                shot = spans[index]
                shot["clip"] = shot["image"].replace(".png", ".mp4")
                end = min(shot["end_frame"], index + length - 1)
                writer = VideoWriter(out_dir / shot["clip"], info, cfg.encode, "mp4")
                colours = Shot(colorizer)  # the render's shot, from its anchor on
                first_pts = frame.pts or 0
            if writer is None or index > end:
                if writer is not None:
                    writer.close()
                    writer = None
                continue
            y = luma_plane(frame, writer.plan.depth)
            assert colours is not None
            cb, cr = colours.chroma_planes(y, info.full_range, info.matrix, writer.plan.subsample,
                                        writer.plan.depth)
            out = build_frame(y, cb, cr, writer.plan, info.full_range, info.matrix)
            out.pts = (frame.pts - first_pts) if frame.pts is not None else index
            out.time_base = info.time_base
            writer.write(out)
        if writer is not None:
            writer.close()
            writer = None
    finally:
        if writer is not None:
            writer.abort()


def contact_sheet(title: str, shots: list[dict]) -> str:
    """A self-contained HTML contact sheet (no scripts, no external files but the images)."""
    cards = []
    for s in shots:
        img = urllib.parse.quote(s["image"])
        gray = urllib.parse.quote(s["gray_image"])
        clip = ""
        if "clip" in s:
            clip = (f'<video src="{html.escape(urllib.parse.quote(s["clip"]))}" controls '
                    'muted preload="none"></video>')
        cards.append(
            f'<figure id="shot-{s["shot"]}"><div class="pair">'
            f'<img src="{html.escape(img)}" alt="shot {s["shot"]}, colorized" loading="lazy">'
            f'<img src="{html.escape(gray)}" alt="shot {s["shot"]}, source" loading="lazy">'
            f"</div>{clip}<figcaption><b>Shot {s['shot']}</b> · "
            f"{html.escape(s['start_timecode'])} – {html.escape(s['end_timecode'])} · "
            f"{s['frames']} frames ({s['duration']:.2f} s) · preview frame "
            f"{s['preview_frame']}<br><code>{html.escape(s['image'])}</code></figcaption>"
            "</figure>"
        )
    style = (
        "body{font-family:system-ui,sans-serif;margin:1.5em;background:#f4f4f4;color:#222}"
        "main{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:1em}"
        "figure{margin:0;background:#fff;padding:.6em;border-radius:6px;"
        "box-shadow:0 1px 3px #0002}.pair{display:flex;gap:.4em}"
        ".pair img{width:50%;height:auto}video{width:100%;margin-top:.4em}"
        "figcaption{font-size:.9em;margin-top:.4em}code{font-size:.85em;color:#555}"
    )
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>vidcolor preview: {html.escape(title)}</title><style>{style}</style></head>"
        f"<body><h1>{html.escape(title)}: {len(shots)} shots</h1>"
        "<p>Colorized (left) and source (right). Each still is what the render gives at that "
        "frame. To fix a shot, give it colour hints (<code>vidcolor hints DIR</code>, then render "
        "with <code>--hints DIR/hints.json</code>), or recolour its image in any editor, keep "
        "the file name, and render with <code>--keyframes DIR</code>.</p>"
        f"<main>{''.join(cards)}</main></body></html>\n"
    )

