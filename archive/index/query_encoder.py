"""Query embedding without torch at query time: the bundled model exported once to ONNX.

A query is one short text, and for that torch's per-call overhead dominates; onnxruntime
on one thread embeds a query in a third of the time, with the same vectors. The model is
exported (``torch.onnx.export``, fp32) by a build, once per model, into the index
directory next to the embedding cache:

    var/index/query-encoder/<model>/
      model.onnx       the transformer's graph: token ids -> contextual token vectors
      model.onnx.data  its weights, beside the graph, so that onnxruntime memory-maps them: the
                       worker processes of a machine share one copy (74 MB less in each, measured)
      probe.npz        probe texts and the vectors torch gave them at export
      export.json      model, maximum length, torch and opset versions, the layout

At open, the ONNX encoder embeds the probe texts and must agree with torch's vectors to a
cosine of at least 0.99999; if it does not, or onnxruntime is missing, queries are embedded
with torch, and ``indexer status`` says why. Passages are always embedded with torch:
measured on 512 Reuters passages, onnxruntime gave 21.7 passages/s against torch's 23.0.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .embeddings import Embedder, resolve_model_path

DIRECTORY = "query-encoder"
MINIMUM_COSINE = 0.99999
OPSET = 17
LAYOUT = 2  # of an export: 2 has its weights in model.onnx.data; an export of layout 1 is made again
PROBES = [
    "potash exports",
    "Putin visit to Minsk",
    "Lukashenko",
    "crop nutrient shipments via Lithuania stopped",
    "Will Belarus send troops into Ukraine?",
    "U.S. crude oil prices rose 1.5 pct to 18.50 dlrs a barrel on Tuesday",
    "central bank raises discount rate",
    "Zelenskyy, Zelensky, Зеленський",
    "naïve café résumé — “quotes” and ‘apostrophes’",
    "1987-03-15",
    "a",
    "the effects of sanctions on the exports of potash fertilizers through the Baltic ports of Lithuania, "
    "which the government in Minsk says are illegal, and on the prices that farmers pay elsewhere in Europe "
    "for the fertilizers that they need for the spring sowing season, which begins in March",
]


def encoder_directory(index_root: Path, model_name: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model_name).strip("_") or "model"
    return Path(index_root) / DIRECTORY / slug


@dataclass
class EncoderStatus:
    backend: str  # "onnx" or "torch"
    reason: str  # why torch, or what the check found

    def to_dict(self) -> dict:
        return {"backend": self.backend, "reason": self.reason}


def export_query_encoder(embedder: Embedder, index_root: Path) -> bool:
    """Export the embedder's model to ONNX for queries, unless done already. Returns whether
    an export exists afterwards (a model that is not a plain mean-pooled, normalised
    transformer is not exported: its queries go through torch)."""
    target = encoder_directory(index_root, embedder.name)
    if current_export(target):
        return True
    model = embedder.model
    if [type(module).__name__ for module in model] != ["Transformer", "Pooling", "Normalize"] \
            or not mean_pooling(model[1]):
        return False
    tokenizer_file = Path(resolve_model_path(embedder.name)) / "tokenizer.json"
    if not tokenizer_file.exists():
        return False
    import torch

    class Transformer(torch.nn.Module):  # the transformer alone: ids in, token vectors out
        def __init__(self, network) -> None:
            super().__init__()
            self.network = network

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.network(input_ids=input_ids, attention_mask=attention_mask,
                                token_type_ids=token_type_ids).last_hidden_state

    staging = target.with_name(f".{target.name}.{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    axes = {0: "batch", 1: "sequence"}
    with embedder.locked(), warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's tracer warnings are about code paths not taken
        sample = model.tokenizer(PROBES[:2], return_tensors="pt", padding=True)  # under the lock, like every use
        torch.onnx.export(
            Transformer(model[0].auto_model.eval()),
            (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]),
            str(staging / "model.onnx"),
            input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["token_vectors"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes, "token_vectors": axes},
            opset_version=OPSET, dynamo=False,
        )
    import onnx

    onnx.checker.check_model(str(staging / "model.onnx"))  # a well-formed graph, before anything relies on it
    graph = onnx.load(str(staging / "model.onnx"))
    onnx.save_model(graph, str(staging / "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="model.onnx.data", size_threshold=1024)
    np.savez(staging / "probe.npz", vectors=embedder.encode_queries(PROBES))
    shutil.copy(tokenizer_file, staging / "tokenizer.json")
    (staging / "export.json").write_text(json.dumps({
        "model": embedder.name, "max_tokens": embedder.max_tokens, "torch": torch.__version__, "opset": OPSET,
        "layout": LAYOUT, "probes": PROBES}, indent=2, ensure_ascii=False))
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)
    return True


def current_export(target: Path) -> bool:
    """Whether an export of this layout is there (an older one still serves until a build makes it again)."""
    try:
        return json.loads((target / "export.json").read_text()).get("layout") == LAYOUT
    except (OSError, ValueError, AttributeError):
        return False


def mean_pooling(module) -> bool:
    """Whether a sentence-transformers Pooling module averages the token vectors (older
    versions say so with a flag, newer ones with a mode)."""
    return getattr(module, "pooling_mode", None) == "mean" or bool(getattr(module, "pooling_mode_mean_tokens", False))


class OnnxQueryEncoder:
    """Query vectors from the exported model. ``threads`` is this process's share of the
    cores: all of them for one process (a query in 2.4 ms on 2 cores against 4.2 ms on one),
    one per worker when ``indexer serve`` runs a worker per core (more would oversubscribe)."""

    def __init__(self, directory: Path, threads: int = 1) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        info = json.loads((directory / "export.json").read_text())
        self.model = info["model"]
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.enable_truncation(int(info["max_tokens"]))
        self.tokenizer.no_padding()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(str(directory / "model.onnx"), options,
                                                    providers=["CPUExecutionProvider"])
        self.probes = info["probes"]
        self.expected = np.load(directory / "probe.npz")["vectors"]
        self.lock = threading.Lock()  # tokenizers' encode is not documented as thread-safe

    def encode_queries(self, queries: list[str]) -> np.ndarray:
        with self.lock:
            encodings = [self.tokenizer.encode(query) for query in queries]
        vectors = []
        for encoding in encodings:  # one at a time: no padding, so the vectors equal unpadded torch ones
            ids = np.array([encoding.ids], dtype=np.int64)
            mask = np.array([encoding.attention_mask], dtype=np.int64)
            types = np.array([encoding.type_ids], dtype=np.int64)
            tokens = self.session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[0]
            pooled = (tokens * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1)
            vectors.append(pooled[0] / max(float(np.linalg.norm(pooled[0])), 1e-12))
        return np.asarray(vectors, dtype=np.float32)

    def check(self) -> float:
        """The lowest cosine between this encoder's probe vectors and torch's."""
        return float(np.min(np.sum(self.encode_queries(self.probes) * self.expected, axis=1)))


# Encoders opened before worker processes are forked: (export stamp, encoder, status) by directory.
_shared: dict[Path, tuple[tuple[int, int], OnnxQueryEncoder, EncoderStatus]] = {}


def export_stamp(directory: Path) -> tuple[int, int] | None:
    """Which export is in ``directory`` (a build writes a new one beside it and renames it in)."""
    try:
        found = (directory / "export.json").stat()
    except OSError:
        return None
    return found.st_ino, found.st_mtime_ns


def share_query_encoder(index_root: Path, model_name: str) -> bool:
    """In a process about to fork single-threaded workers: open the model's ONNX encoder now,
    on one thread, for the workers to use rather than each opening its own. onnxruntime
    prepacks the weights at open, 40 MB of each process's own memory (measured); made before
    the fork, those pages are shared. One thread, because a session with more starts a thread
    pool, which a forked child would not have. Whether it is shared: an export that is missing
    or cannot be used is left for the workers to report."""
    directory = encoder_directory(index_root, model_name)
    stamp = export_stamp(directory)  # (before opening: an export renamed in meanwhile is not taken for this one)
    encoder, status = open_query_encoder(index_root, model_name, threads=1)
    if encoder is None or stamp is None:
        return False
    _shared[directory] = (stamp, encoder, status)
    return True


def open_query_encoder(index_root: Path, model_name: str,
                       threads: int = 1) -> tuple[OnnxQueryEncoder | None, EncoderStatus]:
    """The ONNX encoder when it is there and agrees with torch; otherwise None and why. A
    single-threaded encoder shared before a fork is used while its export is still the one there."""
    directory = encoder_directory(index_root, model_name)
    if threads == 1 and directory in _shared:
        stamp, encoder, status = _shared[directory]
        if stamp == export_stamp(directory):
            return encoder, status
    if not (directory / "export.json").exists():
        return None, EncoderStatus("torch", "no ONNX export of this model yet (`indexer rebuild` or `update` makes one)")
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return None, EncoderStatus("torch", "onnxruntime is not installed")
    try:
        encoder = OnnxQueryEncoder(directory, threads)
        cosine = encoder.check()
    except Exception as problem:  # a damaged export, or an onnxruntime that cannot run it
        return None, EncoderStatus("torch", f"the ONNX export cannot be used: {type(problem).__name__}: {problem}")
    if cosine < MINIMUM_COSINE:
        return None, EncoderStatus("torch", f"the ONNX export disagrees with torch (lowest probe cosine {cosine:.6f} "
                                            f"< {MINIMUM_COSINE})")
    return encoder, EncoderStatus("onnx", f"lowest probe cosine to torch {cosine:.7f} over {len(encoder.probes)} probes")
