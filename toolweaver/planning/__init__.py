"""Planning: a request in plain words becomes a validated plan, and a run's results an answer.

``Planner`` (planner.py) talks to a ``ChatModel`` (ports.py); ``chat_model_from_settings``
(openai_chat.py, imported where needed: the ``openai`` SDK is heavy) builds one for Azure OpenAI
or any OpenAI-compatible server.
"""

from __future__ import annotations

from toolweaver.planning.planner import Planner, PlanResult
from toolweaver.planning.ports import ChatModel, ChatReply, TokenUsage

__all__ = ["ChatModel", "ChatReply", "PlanResult", "Planner", "TokenUsage"]
