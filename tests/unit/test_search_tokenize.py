"""The identifier-aware tokenizer: splitting, stop words, stemming."""

from __future__ import annotations

import pytest

from toolweaver.search.tokenize import STOP_WORDS, split_words, stem, tokenize


@pytest.mark.parametrize(
    ("text", "words"),
    [
        pytest.param("get_weather_forecast", ["get", "weather", "forecast"], id="snake_case"),
        pytest.param("getWeatherForecast", ["get", "weather", "forecast"], id="camelCase"),
        pytest.param("GetWeatherForecast", ["get", "weather", "forecast"], id="PascalCase"),
        pytest.param("PDFReader", ["pdf", "reader"], id="leading-acronym"),
        pytest.param("getHTTPResponseCode", ["get", "http", "response", "code"], id="inner-acronym"),
        pytest.param("parseJSON", ["parse", "json"], id="trailing-acronym"),
        pytest.param("crm.lookup-customer", ["crm", "lookup", "customer"], id="dots-and-dashes"),
        pytest.param("resnet50_v2", ["resnet", "50", "v", "2"], id="digits-split-from-letters"),
        pytest.param("HTTPServer2", ["http", "server", "2"], id="acronym-then-digit"),
        pytest.param("mp3to4k", ["mp", "3", "to", "4", "k"], id="digits-inside-word"),
        pytest.param("Hello,   World!", ["hello", "world"], id="prose-punctuation"),
        pytest.param("  \t\n", [], id="whitespace-only"),
        pytest.param("", [], id="empty"),
        pytest.param("!!! ??? ---", [], id="punctuation-only"),
    ],
)
def test_split_words(text: str, words: list[str]) -> None:
    assert split_words(text) == words


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        pytest.param("get_weather_forecast", ["weather", "forecast"], id="stop-word-get-dropped"),
        pytest.param("What is the weather in a city", ["weather", "city"], id="prose-stop-words"),
        pytest.param("PDFReader", ["pdf", "reader"], id="acronym"),
        pytest.param("x y z", [], id="single-letters-dropped"),
        pytest.param("resnet50_v2", ["resnet", "50", "2"], id="single-digits-kept-letter-dropped"),
        pytest.param("I want the files please", ["file"], id="only-content-words"),
        pytest.param("CRM.Lookup-Customers", ["crm", "lookup", "customer"], id="separators-and-plural"),
        pytest.param("searched emails", ["search", "email"], id="ed-and-plural-stemmed"),
        pytest.param("the of and to", [], id="all-stop-words"),
    ],
)
def test_tokenize(text: str, tokens: list[str]) -> None:
    assert tokenize(text) == tokens


def test_tokenize_drops_every_stop_word() -> None:
    text = " ".join(sorted(STOP_WORDS))
    assert split_words(text)  # the words are seen ...
    assert tokenize(text) == []  # ... and all of them dropped


def test_identifier_and_prose_meet_in_the_same_tokens() -> None:
    assert tokenize("listCalendarEvents") == tokenize("list the calendar events")


@pytest.mark.parametrize(
    ("word", "stemmed"),
    [
        pytest.param("emails", "email", id="plural-s"),
        pytest.param("files", "file", id="plural-s-after-short-stem"),
        pytest.param("companies", "company", id="plural-ies"),
        pytest.param("classes", "class", id="plural-sses"),
        pytest.param("addresses", "address", id="plural-sses-long"),
        pytest.param("matches", "match", id="plural-es"),
        pytest.param("loading", "load", id="ing"),
        pytest.param("searching", "search", id="ing-long"),
        pytest.param("searched", "search", id="ed"),
        pytest.param("uploaded", "upload", id="ed-long"),
        pytest.param("things", "thing", id="ing-word-plural"),
    ],
)
def test_stem_strips_inflections(word: str, stemmed: str) -> None:
    assert stem(word) == stemmed


@pytest.mark.parametrize(
    "word",
    [
        pytest.param("bus", id="three-letters"),
        pytest.param("gas", id="three-letters-s"),
        pytest.param("bed", id="three-letters-ed"),
        pytest.param("is", id="two-letters"),
        pytest.param("sing", id="ing-would-leave-one-letter"),
        pytest.param("ring", id="ing-would-leave-r"),
        pytest.param("class", id="double-s-not-a-plural"),
        pytest.param("address", id="double-s-long"),
        pytest.param("weather", id="no-suffix"),
        pytest.param("2024", id="digits"),
    ],
)
def test_stem_keeps_short_and_uninflected_words(word: str) -> None:
    assert stem(word) == word


@pytest.mark.parametrize(
    ("inflected", "base"),
    [
        pytest.param("emails", "email", id="emails"),
        pytest.param("notes", "note", id="notes"),
        pytest.param("searching", "search", id="searching"),
        pytest.param("uploaded", "upload", id="uploaded"),
        pytest.param("companies", "company", id="companies"),
        pytest.param("files", "file", id="files"),
    ],
)
def test_inflected_form_stems_like_its_base(inflected: str, base: str) -> None:
    assert stem(inflected) == stem(base)


@pytest.mark.parametrize(
    ("plural", "singular"),
    [
        pytest.param("invoices", "invoice", id="invoices"),
        pytest.param("services", "service", id="services"),
        pytest.param("messages", "message", id="messages"),
        pytest.param("places", "place", id="places"),
        pytest.param("updates", "update", id="updates"),
        pytest.param("boxes", "box", id="boxes"),
    ],
)
def test_plural_stems_like_its_singular(plural: str, singular: str) -> None:
    assert stem(plural) == stem(singular)


@pytest.mark.parametrize(
    ("inflected", "base"),
    [
        pytest.param("created", "create", id="created"),
        pytest.param("creating", "create", id="creating"),
        pytest.param("sharing", "share", id="sharing"),
        pytest.param("planning", "plan", id="planning"),
        pytest.param("running", "run", id="running"),
    ],
)
def test_verb_form_stems_like_its_base(inflected: str, base: str) -> None:
    assert stem(inflected) == stem(base)
