"""Hybrid tool search: BM25 over identifier-aware tokens + sentence embeddings from an ONNX export.

Heavy pieces (onnxruntime, tokenizers) load on first use, so importing this package is cheap.
"""

from __future__ import annotations
