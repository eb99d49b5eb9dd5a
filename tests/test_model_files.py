"""Every shipped model file is the one the model card names: its sha256 is checked, not rebuilt.

The int8 file depends on the CPU that quantized it (ONNX Runtime's calibration and kernels differ
between AVX2 and AVX-512 VNNI machines: re-quantizing the same weights elsewhere gives another
file), so what ships is checked by its own digest against the card's table, never against a
re-quantization on the machine that runs the tests.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from vidcolor.weights import models_dir

CARD = Path(__file__).resolve().parents[1] / "models" / "README.md"
SHIPPED = sorted(p for p in models_dir().glob("*") if p.suffix in (".safetensors", ".onnx"))


def card_digests() -> dict[str, str]:
    """File name -> sha256 from the model card's table rows (a `name` and a 64-hex digest)."""
    found = {}
    for line in CARD.read_text().splitlines():
        names = re.findall(r"`(vidcolor-[\w.-]+\.(?:safetensors|onnx))`", line)
        digests = re.findall(r"`([0-9a-f]{64})`", line)
        if len(names) == 1 and len(digests) == 1:
            found[names[0]] = digests[0]
    return found


def test_the_card_lists_every_shipped_file():
    assert SHIPPED, "no model files in the package"
    missing = [p.name for p in SHIPPED if p.name not in card_digests()]
    assert not missing, f"model files without a sha256 row in {CARD}: {missing}"


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_each_shipped_file_has_the_digest_the_card_names(path):
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert card_digests()[path.name] == digest, f"{path.name} is not the file the card names"
