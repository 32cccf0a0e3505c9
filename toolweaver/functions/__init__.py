"""Azure Functions blueprints: the only package besides function_app.py that imports azure.functions.

Each function decodes its trigger, calls one core function and maps the answer back.
"""
