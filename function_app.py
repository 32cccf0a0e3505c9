"""The Azure Functions app: creates it and registers the blueprints. Logic lives in toolweaver."""

from __future__ import annotations

import azure.functions as func

from toolweaver.functions import http, queues, timers
from toolweaver.functions.runtime import prewarm_if_enabled

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(http.bp)
app.register_functions(queues.bp)
app.register_functions(timers.bp)

prewarm_if_enabled()
