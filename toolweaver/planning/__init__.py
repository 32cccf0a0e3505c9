"""Planning: a request in plain words becomes a validated plan, and a run's results an answer.

``Planner`` (planner.py) talks to a ``ChatModel`` (ports.py) with the messages of prompt.py
(tools listed by listing.py) and the per-request plan schema of schema.py.
``chat_model_from_settings`` (openai_chat.py, imported where needed: the ``openai`` SDK is heavy)
builds one for Azure OpenAI or any OpenAI-compatible server; openai_model.py retries under one
deadline and adapts to what a server takes (capabilities.py), and chat_errors.py words failures.
"""

from __future__ import annotations

from toolweaver.planning.planner import Planner, PlanResult
from toolweaver.planning.ports import ChatModel, ChatReply, TokenUsage

__all__ = ["ChatModel", "ChatReply", "PlanResult", "Planner", "TokenUsage"]
