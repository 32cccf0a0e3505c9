"""What the embedding model is given as a tool's name: the variants tried, and the code before this change.

Each variant re-embeds the catalogs' tool texts with another name and recomputes the dense rows
of every request from its cached vectors; BM25 and the exact matches stay as they are (the BM25
text was not changed). ``glued words split`` is what ``documents.dense_name`` ships; ``title as
written`` is the name the code before it embedded, so with the fusion of that code it gives the
"before" figures.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

import numpy as np
from _fusion_data import CachingEmbedder
from _fusion_eval import Prepared

from toolweaver.catalog import Tool, load_dataset_tools
from toolweaver.search.documents import dense_name
from toolweaver.search.fuse import clause_spans
from toolweaver.search.tokenize import split_words

NameRule = Callable[[Tool], str]


def _as_written(t: Tool) -> str:
    return t.title or " ".join(split_words(t.name))


def _split_all(t: Tool) -> str:
    return " ".join(split_words(t.title or t.name))


def _split_separators_and_case(t: Tool) -> str:
    name = re.sub(r"[_./]+", " ", t.title or " ".join(split_words(t.name)))
    return re.sub(r"(?<=[a-z])(?=[A-Z][a-z])", " ", name)


def _split_without_digits(t: Tool) -> str:
    name = t.title or t.name
    return name if re.search(r"[0-9]", name) else " ".join(split_words(name))


def _both(t: Tool) -> str:
    name, words = t.title or t.name, " ".join(split_words(t.title or t.name))
    return name if re.search(r"[0-9]", name) or words == name.lower() else f"{name} ({words})"


VARIANTS: dict[str, NameRule] = {
    "title as written (before)": _as_written,
    "every title split into words": _split_all,
    "separators and case changes split": _split_separators_and_case,
    "titles without digits split": _split_without_digits,
    "title plus its words": _both,
    "glued words split (shipped)": dense_name,
}


def with_names(p: Prepared, rule: NameRule, embedder: CachingEmbedder) -> Prepared:
    """``p`` with its dense rows recomputed for tool texts that use ``rule`` for the name."""
    tools = list(load_dataset_tools(p.eval_set.tools))
    matrix = embedder.embed([" | ".join([*t.tags, rule(t), t.description]) for t in tools])
    batches = []
    for positions, batch in p.batches:
        rows = []
        for q in positions:
            text = p.texts[int(q)]
            rows.append(embedder.embed([text, *(text[a:b] for a, b in clause_spans(text))]) @ matrix.T)
        batches.append((positions, dataclasses.replace(batch, dense=np.stack(rows).astype(np.float32))))
    return dataclasses.replace(p, batches=batches, embeddings=matrix)
