"""Fuzz the CLI with damaged and odd media; print every failure with the seed that repeats it.

Base media are generated (several containers, with and without audio, tiny and odd sizes, one
frame, variable frame rate with large gaps, rotation, 10-bit, frame times jumping ahead, going
back and repeated; PNG, JPEG, TIFF, WebP, 16-bit, palette PNG, EXIF-rotated JPEG, and a PNG
declaring 60000x60000 pixels; no CMYK JPEG, which OpenCV cannot write), then mutated (bit flips
in 1-1,000 places, truncation, zeroed, duplicated and swapped blocks, a zeroed header) and
colorized by the CLI in a subprocess under a timeout.

A case passes when the CLI exits 0 and the output decodes to as many frames as the input
decodes (video) or opens at the input's size (image); or exits 1 with one line on stderr, no
traceback and nothing at the output path. Never: a traceback, a hang, another exit code, a
partial file or job folder left beside the output, the input modified, or more than 2 GB of
memory.

Example::

    python scripts/fuzz.py --cases 200 --seed 1
    python scripts/fuzz.py --cases 1 --seed 1 --first 57     # repeat case 57 alone
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from media import make_video  # noqa: E402 (the tests' generator of synthetic media)

VIDEO_BASES = [
    ("mp4_audio", dict(width=64, height=48, frames=12, audio=True, shots=2), ".mp4"),
    ("mkv", dict(width=64, height=48, frames=10), ".mkv"),
    ("mov_rot", dict(width=48, height=32, frames=8, rotation=90), ".mov"),
    ("webm", dict(width=64, height=48, frames=8, codec="libvpx-vp9"), ".webm"),
    ("avi", dict(width=64, height=48, frames=8, codec="mpeg4"), ".avi"),
    ("odd", dict(width=33, height=17, frames=6, pix_fmt="yuv444p"), ".mp4"),
    ("one_frame", dict(width=64, height=48, frames=1), ".mp4"),
    ("tiny", dict(width=2, height=2, frames=4, pix_fmt="yuv444p"), ".mkv"),
    ("vfr_gaps", dict(width=64, height=48, frames=6, pts=[0, 40, 2000, 2010, 9000, 9040],
                      time_base=Fraction(1, 1000)), ".mkv"),
    ("10bit", dict(width=64, height=48, frames=6, codec="libx265", pix_fmt="yuv420p10le"),
     ".mkv"),
]
MEMORY_LIMIT_MB = 2048  # for these small inputs, whatever they claim
_MEMORY_REPORTED: list[int] = []
IMAGE_BASES = [".png", ".jpg", ".tif", ".webp", "16bit.png", "palette.png", "huge.png",
               "exif.jpg"]


@dataclass
class Case:
    """One fuzz case: a base file, a mutation, and what came of it."""

    index: int
    base: str
    mutation: str
    ok: bool = True
    why: str = ""


def make_bases(folder: Path) -> list[Path]:
    """Write every base medium into ``folder``; returns their paths."""
    paths = []
    for name, kwargs, ext in VIDEO_BASES:
        try:
            paths.append(make_video(folder / f"{name}{ext}", **kwargs))
        except (av.FFmpegError, ValueError) as e:  # an encoder this FFmpeg lacks
            print(f"base {name} skipped: {e}", file=sys.stderr)
    paths.append(_jumping_times(paths[0], folder / "ts_jumps.mkv"))
    gray = (np.add.outer(np.arange(40), np.arange(56)) * 2 % 256).astype(np.uint8)
    for ext in IMAGE_BASES:
        path = folder / f"img_{ext}".replace("_.", ".")
        if ext == "16bit.png":
            cv2.imwrite(str(path), gray.astype(np.uint16) * 257)
        elif ext == "palette.png":
            path.write_bytes(_palette_png(gray))
        elif ext == "exif.jpg":  # EXIF orientation 6: shown turned 90 degrees
            _, jpeg = cv2.imencode(".jpg", gray)
            path.write_bytes(_with_exif_orientation(jpeg.tobytes(), 6))
        elif ext == "huge.png":  # claims 60000 x 60000 pixels, holds a few bytes
            path.write_bytes(_png(60000, 60000, 0, b"", b"\x00" * 1000))
        else:
            cv2.imwrite(str(path), gray)
        paths.append(path)
    return paths


def _jumping_times(src: Path, dst: Path) -> Path:
    """``src`` remuxed to Matroska with one frame's time far ahead and one repeated."""
    with av.open(str(src)) as i, av.open(str(dst), "w") as o:
        vs = i.streams.video[0]
        out = o.add_stream_from_template(vs, opaque=True)
        prev = None
        for n, p in enumerate(pk for pk in i.demux(vs) if pk.size):
            if n == 5:
                p.pts += 50 * (p.duration or 1)  # the next frames' times go back
            if n == 9 and prev is not None and prev >= p.dts:
                p.pts = prev  # a time repeated
            prev = p.pts
            p.stream = out
            o.mux(p)
    return dst


def _with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """``jpeg`` with an APP1 EXIF segment holding only the Orientation tag (OpenCV writes none)."""
    import struct

    tiff = (b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1)
            + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0))
    body = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body + jpeg[2:]


def _png(width: int, height: int, colour_type: int, palette: bytes, rows: bytes) -> bytes:
    """A PNG written by hand: what it declares need not be what it holds."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + (chunk(b"PLTE", palette) if palette else b"")
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def _palette_png(gray: np.ndarray) -> bytes:
    """A palette (colour type 3) PNG of ``gray`` (OpenCV writes none)."""
    h, w = gray.shape
    palette = bytes(v for i in range(256) for v in (i, i, i))
    return _png(w, h, 3, palette, b"".join(b"\x00" + gray[r].tobytes() for r in range(h)))


def mutate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """A damaged copy of ``data`` and a name for what was done."""
    b = bytearray(data)
    kind = rng.choice(["flip", "flip", "truncate", "zero", "duplicate", "shuffle", "header"])
    if kind == "flip":
        n = rng.choice([1, 10, 100, 1000])
        for _ in range(n):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        return bytes(b), f"flip {n} bits"
    if kind == "truncate":
        cut = rng.randrange(1, len(b))
        return bytes(b[:cut]), f"truncate at {cut}"
    start, size = rng.randrange(len(b)), rng.randint(16, 4096)
    if kind == "zero":
        b[start:start + size] = bytes(len(b[start:start + size]))
        return bytes(b), f"zero {size} at {start}"
    if kind == "duplicate":
        return bytes(b[:start] + b[start:start + size] + b[start:]), f"duplicate {size}"
    if kind == "header":
        b[: min(64, len(b))] = bytes(min(64, len(b)))
        return bytes(b), "zero the header"
    other = rng.randrange(len(b))
    chunk, chunk2 = b[start:start + size], b[other:other + size]
    if len(chunk) == len(chunk2):
        b[start:start + size], b[other:other + size] = chunk2, chunk
    return bytes(b), f"swap {size} at {start}/{other}"


def decoded_frames(path: Path) -> int:
    """Frames a tolerant decode of ``path`` gives (0 when it cannot be opened)."""
    try:
        with av.open(str(path)) as c:
            stream = c.streams.video[0]
            n = 0
            for packet in c.demux(stream):
                try:
                    n += len(packet.decode())
                except av.FFmpegError:
                    continue
            return n
    except (av.FFmpegError, IndexError):
        return 0


def run_case(case: Case, src: Path, out_dir: Path, weights: Path | None, timeout: float) -> None:
    """Colorize ``src`` and judge the outcome (fills ``case.ok`` / ``case.why``)."""
    is_image = src.suffix.lower() in {".png", ".jpg", ".tif", ".webp"}
    dst = out_dir / ("out.png" if is_image else f"out{src.suffix}")
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    cmd = [sys.executable, "-m", "vidcolor", str(src), "-o", str(dst), "-q", "-y",
           "--render-size", "32"]
    if weights is not None:
        cmd += ["--weights", str(weights)]
    env = dict(os.environ)
    env.pop("VIDCOLOR_DEBUG", None)
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        case.ok, case.why = False, f"hang (> {timeout:.0f} s)"
        return
    # The children's peak RSS only grows; every normal case stays far below the limit, so the
    # first case that lifts it past the limit is the one that used that much.
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    err = proc.stderr.strip().splitlines()
    leftovers = [p.name for p in out_dir.iterdir() if p != dst]
    if hashlib.sha256(src.read_bytes()).hexdigest() != before:
        case.ok, case.why = False, "the input was modified"
    elif peak_mb > MEMORY_LIMIT_MB and not _MEMORY_REPORTED:
        _MEMORY_REPORTED.append(case.index)
        case.ok, case.why = False, f"peak memory {peak_mb:.0f} MB"
    elif "Traceback" in proc.stderr:
        case.ok, case.why = False, "traceback: " + (err[-1] if err else "")
    elif leftovers:
        case.ok, case.why = False, f"left beside the output: {leftovers}"
    elif proc.returncode == 1:
        errors = [line for line in err if line.startswith("vidcolor: error:")]
        if len(errors) != 1 or dst.exists():
            case.ok, case.why = False, f"exit 1 but {len(errors)} error lines, output " \
                                       f"{'present' if dst.exists() else 'absent'}"
    elif proc.returncode == 0:
        if is_image:
            flags = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR  # EXIF orientation honoured
            img, want = cv2.imread(str(dst), flags), cv2.imread(str(src), flags)
            if img is None or (want is not None and img.shape[:2] != want.shape[:2]):
                case.ok, case.why = False, "the output image is not the input's size"
        else:
            want, got = decoded_frames(src), decoded_frames(dst)
            if got != want:
                case.ok, case.why = False, f"frames out {got} != frames in {want}"
    else:
        case.ok, case.why = False, f"exit code {proc.returncode}: " + (err[-1] if err else "")
    case.why += f" ({time.monotonic() - t0:.1f} s)" if not case.ok else ""
    for p in out_dir.iterdir():
        if p.is_file():
            p.unlink()
        else:
            import shutil

            shutil.rmtree(p)


def campaign(cases: int, seed: int, weights: Path | None, timeout: float = 60.0,
             first: int = 0) -> list[Case]:
    """Run ``cases`` cases from case ``first`` of the campaign seeded ``seed``."""
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        bases = make_bases(Path(tmp))
        work, out_dir = Path(tmp) / "case", Path(tmp) / "out"
        work.mkdir()
        out_dir.mkdir()
        for index in range(first, first + cases):
            rng = random.Random(f"{seed}:{index}")
            base = rng.choice(bases)
            data, what = mutate(base.read_bytes(), rng)
            src = work / f"case{base.suffix}"
            src.write_bytes(data)
            case = Case(index, base.name, what)
            run_case(case, src, out_dir, weights, timeout)
            results.append(case)
            if not case.ok:
                print(f"FAIL case {index} (--seed {seed} --first {index} --cases 1): "
                      f"{base.name}, {what}: {case.why}", flush=True)
    return results


def array_cases(cases: int, seed: int, weights: Path | None) -> list[Case]:
    """The Python API with arrays of random shape and type.

    Each gives a colorized array or an InputError naming the shape; never another exception.
    """
    import vidcolor

    cfg = vidcolor.JobConfig(weights=weights, tile=vidcolor.TileConfig(render_size=32)) \
        if weights is not None else vidcolor.JobConfig(tile=vidcolor.TileConfig(render_size=32))
    results = []
    for index in range(cases):
        rng = random.Random(f"array:{seed}:{index}")
        shape = tuple(rng.choice([0, 1, 2, 3, 4, 5, 17]) for _ in range(rng.randint(0, 4)))
        dtype = rng.choice([np.uint8, np.uint16, np.float32, np.int16, np.bool_])
        case = Case(index, "array", f"{np.dtype(dtype).name} {shape}")
        pixels = np.asarray(np.random.default_rng(index).integers(0, 255, shape)).astype(dtype)
        try:
            out = vidcolor.colorize_image(pixels, cfg)
        except vidcolor.InputError as e:
            if str(shape) not in str(e):
                case.ok, case.why = False, f"InputError without the shape: {e}"
        except Exception as e:  # the point: any other exception is a failure
            case.ok, case.why = False, f"{type(e).__name__}: {e}"
        else:
            colour = 4 if len(shape) == 3 and shape[2] == 4 else 3
            if out.shape != (*shape[:2], colour) or out.dtype != pixels.dtype:
                case.ok, case.why = False, f"returned {out.dtype} {out.shape}"
        results.append(case)
    return results


def full_disk_case(weights: Path | None, size_kb: int, timeout: float = 120.0) -> Case | None:
    """A 640x360 three-shot film colorized onto a tmpfs of ``size_kb`` (a real full disk).

    Passes when the CLI exits 0 with every frame, or 1 with one line that names the free space
    and no traceback (a disk filling under a memory map was a SIGBUS, exit 135), with nothing at
    the output path but the job folder kept for a re-run. ``None`` where no tmpfs can be
    mounted here (not root, no privilege).
    """
    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "small"
        small.mkdir()
        mount = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs",
                                str(small)], capture_output=True)
        if mount.returncode != 0:
            return None
        try:
            src = make_video(Path(tmp) / "three.mp4", 640, 360, frames=96, shots=3)
            dst = small / "out.mp4"
            case = Case(size_kb, "three.mp4", f"full disk ({size_kb} kB tmpfs)")
            cmd = [sys.executable, "-m", "vidcolor", str(src), "-o", str(dst), "-q", "-y"]
            cmd += ["--weights", str(weights)] if weights is not None else []
            env = {k: v for k, v in os.environ.items() if k != "VIDCOLOR_DEBUG"}
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
            err = proc.stderr.strip().splitlines()
            partial = [p.name for p in small.iterdir() if "partial" in p.name]
            if proc.returncode == 0:
                if decoded_frames(dst) != decoded_frames(src):
                    case.ok, case.why = False, "frames out != frames in"
            elif proc.returncode != 1 or "Traceback" in proc.stderr or len(err) != 1:
                case.ok, case.why = False, f"exit {proc.returncode}: {err[-1:] or 'no message'}"
            elif "free" not in err[0] or dst.exists() or partial:
                case.ok, case.why = False, f"{err[0]} (output {dst.exists()}, {partial})"
            return case
        finally:
            subprocess.run(["umount", "-l", str(small)], capture_output=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--cases", type=int, default=100)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--first", type=int, default=0, help="index of the first case")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds before a case hangs")
    p.add_argument("--weights", type=Path, help="weights (default: the shipped ones)")
    p.add_argument("--arrays", type=int, default=100, help="Python API cases with odd arrays")
    p.add_argument("--full-disk", type=int, nargs="*", default=[1200, 6000, 20000],
                   metavar="KB", help="tmpfs sizes for the full-disk cases (root only)")
    args = p.parse_args(argv)
    t0 = time.monotonic()
    results = campaign(args.cases, args.seed, args.weights, args.timeout, args.first)
    results += array_cases(args.arrays, args.seed, args.weights)
    for size in args.full_disk:
        case = full_disk_case(args.weights, size)
        if case is None:
            print("full-disk cases skipped: no tmpfs can be mounted here (needs root)")
            break
        results.append(case)
    for case in results[args.cases:]:
        if not case.ok:
            print(f"FAIL {case.base}, {case.mutation}: {case.why}", flush=True)
    failed = [c for c in results if not c.ok]
    kinds: dict[str, int] = {}
    for c in results:
        kinds[c.mutation.split()[0]] = kinds.get(c.mutation.split()[0], 0) + 1
    print(f"{len(results)} cases (seed {args.seed}), {len(failed)} failed, "
          f"{time.monotonic() - t0:.0f} s; bases: {len({c.base for c in results})}; "
          f"mutations: {', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
