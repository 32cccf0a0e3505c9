"""Reading model servers' refusals: which ones say what the server does not take."""

from __future__ import annotations

from typing import Any

import pytest

from toolweaver.planning import capabilities as caps


class Refusal:
    """The two fields of an openai SDK status error that the reading uses."""

    def __init__(self, message: str, body: Any = None) -> None:
        self.message = message
        self.body = body


@pytest.mark.parametrize(
    ("message", "body", "expected"),
    [
        pytest.param(
            "This model's maximum context length is 2048 tokens. However, you requested 3799 tokens "
            "(2263 in the messages, 1536 in the completion).",
            None,
            (2048, 2263),
            id="vllm-openai-llama-cpp-python",
        ),
        pytest.param(
            "the request exceeds the available context size, try increasing it",
            {"message": "...", "type": "exceed_context_size_error", "n_prompt_tokens": 2263, "n_ctx": 2048},
            (2048, 2263),
            id="llama-server",
        ),
        pytest.param("prompt is too long for this model", None, (None, None), id="no-figures"),
        pytest.param("Invalid value for temperature", None, None, id="not-a-context-error"),
    ],
)
def test_context_overflow_reads_the_servers_figures(
    message: str, body: Any, expected: tuple[int | None, int | None] | None
) -> None:
    refusal = Refusal(message, body)
    assert caps.context_overflow(400, caps.error_text(refusal)) == expected


@pytest.mark.parametrize(
    ("status", "text", "mode", "refused"),
    [
        (
            500,
            "{'loc': ('body', 'response_format', 'type'), 'msg': \"Input should be 'text'\"}",
            "json_schema",
            True,
        ),
        (
            422,
            "[{'loc': ['body', 'response_format'], 'msg': 'json_schema is not supported'}]",
            "json_schema",
            True,
        ),
        (400, "response_format json_object is not supported", "json_object", True),
        (500, "CUDA out of memory", "json_schema", False),
        (503, "response_format: server overloaded", "json_schema", False),  # busy, not a refusal
        (400, "anything about response_format", "text", False),  # text mode sends no format
    ],
)
def test_a_response_format_refusal_is_told_from_other_failures(
    status: int, text: str, mode: str, refused: bool
) -> None:
    assert caps.rejects_response_format(status, text, mode) is refused


def test_server_messages_are_short_and_carry_no_bearer_token() -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhcHAifQ.c2lnbmF0dXJl"  # noqa: S105 - a made-up token
    refusal = Refusal("x", {"message": f"bad header Authorization: Bearer {token} " + "y" * 1000})
    said = caps.server_message(refusal)
    assert token not in said and "***" in said and len(said) <= 300


def test_fastapi_details_name_the_field() -> None:
    detail = [{"loc": ["body", "response_format", "type"], "msg": "Input should be 'text' or 'json_object'"}]
    assert caps.server_message(Refusal("422", {"detail": detail})) == (
        "Input should be 'text' or 'json_object' (at response_format.type)"
    )


def test_modes_step_down_to_text_and_no_further() -> None:
    assert [caps.next_mode(mode) for mode in caps.RESPONSE_MODES] == ["json_object", "text", None]
