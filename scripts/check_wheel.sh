#!/usr/bin/env bash
# Build the wheel, install it into a fresh venv, colorize the samples from a folder outside the
# checkout, and compare the bytes with the checkout's (editable) install. Run from the checkout
# with its venv active (CI does, after the test suite). Prints the wheel's size.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pip wheel -q --no-deps -w "$work/dist" .
wheel=$(ls "$work"/dist/vidcolor-*.whl)
python - "$wheel" <<'PY' || { echo "check_wheel: weights missing, or lab/ shipped" >&2; exit 1; }
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
need = [f"vidcolor/model_files/{stem}{ext}" for stem in ("vidcolor-lite0", "vidcolor-anim1")
        for ext in (".safetensors", ".safetensors.sha256", ".onnx", ".int8.onnx")]
missing = [n for n in need if n not in names]
lab = [n for n in names if n.startswith("vidcolor/lab/")]  # training code: the checkout's only
print(*missing, *lab, file=sys.stderr)
sys.exit(1 if missing or lab else 0)
PY
vidcolor samples/photo.png -o "$work/photo_checkout.png" -y -q
vidcolor samples/film.mp4 -o "$work/film_checkout.mp4" -y -q
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q "torch==2.13.0" "$wheel"
cd "$work"  # another working directory: nothing may come from the checkout
"$work/venv/bin/vidcolor" "$root/samples/photo.png" -o photo_wheel.png -y -q
"$work/venv/bin/vidcolor" "$root/samples/film.mp4" -o film_wheel.mp4 -y -q
cmp photo_checkout.png photo_wheel.png
cmp film_checkout.mp4 film_wheel.mp4
"$work/venv/bin/vidcolor" --version
echo "check_wheel: wheel $(du -h "$wheel" | cut -f1): the samples colorize byte for byte as in the checkout"
