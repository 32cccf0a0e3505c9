"""Sentence embeddings at run time from the ONNX export: onnxruntime + tokenizers + numpy only.

Each text runs through the model on its own. The int8 model quantizes activations with one scale
per call, so in a padded batch a text's vector would depend on its neighbours: an incremental index
rebuild would then differ from a full one. Alone, a text always gets the same vector, and without
padding there is nothing to waste (measured at ~90% of the best batched throughput). Token
vectors are mean-pooled and L2-normalised, as sentence-transformers does for all-MiniLM-L6-v2.
torch is never imported here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from toolweaver.errors import ModelError

log = logging.getLogger(__name__)

MANIFEST = "toolweaver-model.json"
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
# onnxruntime's fused SkipLayerNormalization kernel is slow on x86 (6 ns per element against 0.8 for
# LayerNormalization): left as Add + LayerNormalization, a run costs 10 % less CPU, and its vectors
# are as close to sentence-transformers as the fused graph's (mean cosine 0.9930 vs 0.9930).
DISABLED_OPTIMIZERS = ("SkipLayerNormFusion",)
# Everything besides the model files that decides a text's vector. It is part of the embedder's
# fingerprint, so vectors computed another way are never reused or served: change it with the graph.
RUNTIME_RECIPE = "mean-pooled, unfused skip layer norm"
Progress = Callable[[int], None]


class Embedder(Protocol):
    """What search needs from an embedding model."""

    @property
    def fingerprint(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str], *, progress: Progress | None = None) -> npt.NDArray[np.float32]: ...


@dataclass(frozen=True)
class ModelManifest:
    fingerprint: str
    dimension: int
    max_length: int
    source: str

    @classmethod
    def read(cls, model_dir: Path) -> ModelManifest:
        path = model_dir / MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                fingerprint=str(data["fingerprint"]),
                dimension=int(data["dimension"]),
                max_length=int(data["max_length"]),
                source=str(data.get("source", "")),
            )
        except FileNotFoundError:
            raise ModelError(
                f"no exported embedding model in {model_dir}: run `make model` "
                "(or `python -m toolweaver export-model --out DIR` and set EMBEDDING_MODEL_DIR)"
            ) from None
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"{path} is not a valid model manifest ({exc}): re-run `make model`") from exc


class OnnxEmbedder:
    """Embeds texts with an exported model directory (model.onnx, tokenizer.json, manifest).

    Each text runs alone on one onnxruntime thread; ``threads`` texts run at once (the caller's
    thread and ``threads - 1`` workers). For texts of a
    few dozen tokens that beats splitting one run over threads: a query costs 30 % less CPU on
    one thread than on two at the same latency, so a server under load answers more requests,
    and an index build keeps every core busy. ``session.run`` is thread-safe and frees the GIL.
    """

    def __init__(self, model_dir: Path, *, threads: int = 1, max_length: int = 256):
        self.model_dir = Path(model_dir)
        self.manifest = ModelManifest.read(self.model_dir)
        self.max_length = min(max_length, self.manifest.max_length)
        self.threads = max(1, threads)
        self._session, self._input_names = _open_session(self.model_dir / MODEL_FILE, 1)
        self._tokenizer = _open_tokenizer(self.model_dir / TOKENIZER_FILE, self.max_length)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        recipe = f"{self.manifest.fingerprint}|{RUNTIME_RECIPE}|max_length={self.max_length}"
        self._fingerprint = hashlib.sha256(recipe.encode()).hexdigest()[:32]

    @property
    def fingerprint(self) -> str:
        """The model files, the token limit and how the graph runs: what a text's vector depends on."""
        return self._fingerprint

    @property
    def dimension(self) -> int:
        return self.manifest.dimension

    def embed(self, texts: Sequence[str], *, progress: Progress | None = None) -> npt.NDArray[np.float32]:
        """Unit-length embeddings, one row per text, in the order given; each text runs alone.

        The calling thread embeds too, helped by ``threads - 1`` pool workers: nobody waits for a
        worker to wake up to start, and a lone text never leaves the calling thread. Texts are
        taken longest first (characters stand in for tokens), so the last ones are short and the
        threads finish together instead of one idling while another ends a long text.
        """
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        pending = iter(sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True))
        lock = threading.Lock()

        def work() -> None:
            while True:
                with lock:
                    row = next(pending, None)
                if row is None:
                    return
                out[row] = self._pooled(texts[row])
                if progress is not None:
                    with lock:
                        progress(1)

        helpers = min(self.threads, len(texts)) - 1
        futures = [self._parallel().submit(work) for _ in range(helpers)] if helpers > 0 else []
        try:
            work()
        finally:
            with lock:
                pending = iter(())  # after a failure here, the helpers stop at their next text
            for future in futures:
                # A helper still queued (the workers busy with other calls) has nothing left to do.
                if not future.cancel():
                    future.result()
        return _normalize(out)

    def _pooled(self, text: str) -> npt.NDArray[np.float32]:
        """Mean of one text's token vectors. Tokenized here, in the worker, so a build's workers
        tokenize in parallel instead of waiting for the whole catalog to be tokenized first."""
        ids = np.array([self._tokenizer.encode(text).ids], dtype=np.int64)
        vector: npt.NDArray[np.float32] = self._run(ids, np.ones_like(ids))[0].mean(axis=0)
        return vector

    def _parallel(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads - 1, thread_name_prefix="embed")
            return self._pool

    def _run(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """Token vectors [texts, tokens, dimension] from the model."""
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        (tokens,) = self._session.run(["last_hidden_state"], {k: feeds[k] for k in self._input_names})
        return tokens  # type: ignore[no-any-return]


def _normalize(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit: npt.NDArray[np.float32] = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
    return unit


def _open_session(path: Path, threads: int) -> tuple[Any, list[str]]:
    if not path.is_file():
        raise ModelError(f"model file missing: {path}: run `make model` to export it")
    import onnxruntime as ort  # heavy: imported only when a model is opened

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    # Idle workers must not spin: numpy's BLAS threads score the catalog right after each run, and on
    # two cores spinning onnxruntime threads raised a 10k-tool search's p95 from 22 to 32 ms.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = ort.InferenceSession(
            str(path),
            sess_options=options,
            providers=["CPUExecutionProvider"],
            disabled_optimizers=list(DISABLED_OPTIMIZERS),
        )
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelError(f"cannot load {path}: {exc}: re-run `make model`") from exc
    names = [i.name for i in session.get_inputs()]
    log.debug("loaded %s with %d threads, inputs %s", path, threads, names)
    return session, names


def _open_tokenizer(path: Path, max_length: int) -> Any:
    if not path.is_file():
        raise ModelError(f"tokenizer file missing: {path}: run `make model` to export it")
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_length)
    return tokenizer
