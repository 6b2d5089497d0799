"""Embedding precision: fp32, or bf16 where the CPU has it and it is faster.

Embedding is nearly the whole cost of a cold build. On cores with bf16 instructions
(``avx512_bf16``, AMX), torch's CPU autocast runs the model's matrix products in bf16 at more
than twice the speed, with vectors within a cosine of 0.9999 of fp32 (docs/benchmarks.md).

``auto`` decides once per machine, model and torch version: fp32 at no cost where the CPU
has no bf16 instructions; otherwise a short timing probe on the build's own passages, and
bf16 only if it is at least ``MINIMUM_SPEEDUP`` faster. The probe's result is remembered in
the index directory (``precision-probe.json``, keyed by CPU, torch and model), so later
builds, and rebuilds that embed nothing, neither probe nor load the model for it.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidParameterError
from ..settings import PRECISIONS
from .embeddings import Embedder

PROBE_NAME = "precision-probe.json"
PROBE_TEXTS = 32
MINIMUM_SPEEDUP = 1.25


@dataclass(frozen=True)
class PrecisionChoice:
    precision: str  # "fp32" or "bf16"
    reason: str  # why, for the build summary, the manifest and `indexer status`


def check_precision(value: str) -> str:
    if value not in PRECISIONS:
        raise InvalidParameterError(f"unknown precision {value!r}; use one of: {', '.join(PRECISIONS)}")
    return value


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def bf16_supported() -> bool:
    """Whether the CPU has bf16 instructions (without them torch emulates bf16, slowly)."""
    try:
        import torch

        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except (ImportError, AttributeError):
        try:
            flags = Path("/proc/cpuinfo").read_text()
        except OSError:
            return False
        return "avx512_bf16" in flags or "amx_bf16" in flags


def choose_precision(setting: str, embedder: Embedder, index_root: Path, sample: list[str]) -> PrecisionChoice:
    """The precision a build embeds at. ``sample``: model inputs of the build, for the probe."""
    check_precision(setting)
    if setting != "auto":
        return PrecisionChoice(setting, "asked for")
    if not bf16_supported():
        return PrecisionChoice("fp32", "auto: this CPU has no bf16 instructions")
    import torch

    key = {"cpu": cpu_name(), "torch": torch.__version__, "model": embedder.name}
    record_path = Path(index_root) / PROBE_NAME
    record = read_record(record_path)
    if record.get("key") != key:
        if len(sample) < 8:
            return PrecisionChoice("fp32", "auto: too few passages to measure bf16 against fp32")
        speedup = probe(embedder, sample)
        record = {"key": key, "speedup": round(speedup, 3), "measured_on": len(sample[:PROBE_TEXTS])}
        record_path.parent.mkdir(parents=True, exist_ok=True)
        temporary = record_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(record, indent=2) + "\n")
        temporary.replace(record_path)
    speedup = float(record["speedup"])
    if speedup >= MINIMUM_SPEEDUP:
        return PrecisionChoice("bf16", f"auto: bf16 embeds {speedup:.2f}x as fast as fp32 on this CPU")
    return PrecisionChoice("fp32", f"auto: bf16 is only {speedup:.2f}x as fast as fp32 on this CPU")


def read_record(path: Path) -> dict:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) and isinstance(record.get("speedup"), int | float) else {}


def probe(embedder: Embedder, sample: list[str]) -> float:
    """fp32 seconds / bf16 seconds for embedding the same passages (after a warm-up of each)."""
    texts = sample[:PROBE_TEXTS]
    inputs = [(text, 0) for text in texts]
    seconds = {}
    for precision in ("fp32", "bf16"):
        embedder.encode_passages(inputs[:4], precision)  # warm-up: first calls pay for kernel selection
        started = time.perf_counter()
        embedder.encode_passages(inputs, precision)
        seconds[precision] = time.perf_counter() - started
    return seconds["fp32"] / max(seconds["bf16"], 1e-9)
