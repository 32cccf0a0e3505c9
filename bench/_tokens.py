"""Token counts with an offline BPE tokenizer: o200k_base (GPT-4o's encoding), from bpe-openai.

bpe-openai ships the encoding's ranks inside the package (tiktoken's API, no download), so the
figures are the same on every machine. Other models' tokenizers differ by some percent; the
counts are for comparing prompts, not for billing.
"""

from __future__ import annotations

from functools import cache
from typing import Any

ENCODING = "o200k_base"


@cache
def _encoding() -> Any:
    import bpe_openai  # type: ignore[import-untyped]

    return bpe_openai.get_encoding(ENCODING)


def count_tokens(text: str) -> int:
    """Tokens of ``text`` in ENCODING (special-token text counts as ordinary text)."""
    return len(_encoding().encode(text, disallowed_special=()))
