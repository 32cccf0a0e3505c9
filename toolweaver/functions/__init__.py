"""Azure Functions blueprints: the only package besides function_app.py that imports azure.functions.

Each function decodes its trigger, calls one core function and maps the answer back.

Importing this package (function_app.py does, as the worker loads the app) keeps the Azure SDK's
loggers at WARNING: the worker forwards every record to the host and so to Application Insights,
and the SDK's HTTP logging policy writes each storage request's URL and headers at INFO.
"""

from __future__ import annotations

from toolweaver.observability.logs import quiet_sdk_loggers

quiet_sdk_loggers()
