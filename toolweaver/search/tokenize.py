"""Identifier-aware tokenizer for BM25.

Tool names are code identifiers (``getWeatherForecast``, ``crm.lookup_customer``, ``resnet50_v2``)
while requests are prose, so both sides are cut at case changes, separators and letter/digit
boundaries, lower-cased, stripped of stop words and reduced by a small suffix stemmer.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Words: an upper-case run not followed by lower case (acronyms: "PDF" in "PDFReader"), a
# capitalised or lower-case word, or a digit run.
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")

STOP_WORDS = frozenset(
    """a about above after again all also am an and any are as at be been before being below between
    both but by can could did do does doing down during each few for from further had has have having
    he her here hers herself him himself his how i if in into is it its itself just me might more most
    my myself no nor not now of off on once only or other our ours ourselves out over own please same
    she should so some such than that the their theirs them themselves then there these they this
    those through to too under until up very was we were what when where which while who whom why
    will with would you your yours yourself yourselves want need like get let give tell use using
    help find show able provide""".split()
)


_DOUBLE_END = re.compile(r"([b-df-hj-np-rtv-z])\1$")  # "plann" -> "plan", but not "ll"/"ss"/"zz"


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """Fold inflections so that a word and its plural or verb forms share one stem.

    Conservative on purpose (identifiers must keep their meaning): plural -s/-es/-ies, -ing and
    -ed with an undoubled consonant, then a final silent -e, so "invoice", "invoices" -> "invoic"
    and "create", "created", "creating" -> "creat".
    """
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith(("sses", "shes", "ches", "xes", "zes")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    elif word.endswith("ing") and len(word) >= 7:
        word = _undouble(word[:-3])
    elif word.endswith("ed") and len(word) >= 6:
        word = _undouble(word[:-2])
    if word.endswith("e") and len(word) >= 5:
        word = word[:-1]
    return word


def _undouble(word: str) -> str:
    return word[:-1] if _DOUBLE_END.search(word) else word


def split_words(text: str) -> list[str]:
    """Split ``text`` at separators, case changes and digits; lower-case every piece."""
    return [w.lower() for w in _WORD.findall(text)]


def _kept(word: str) -> bool:
    return word not in STOP_WORDS and (len(word) > 1 or word.isdigit())


def tokenize(text: str) -> list[str]:
    """BM25 tokens: split, lower-cased, without stop words and stray letters, stemmed."""
    return [stem(w) for w in split_words(text) if _kept(w)]


def words_by_token(text: str) -> dict[str, str]:
    """The first word of ``text`` behind each token, to explain matches in the user's own words."""
    found: dict[str, str] = {}
    for word in split_words(text):
        if _kept(word):
            found.setdefault(stem(word), word)
    return found
