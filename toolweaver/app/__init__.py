"""The use cases every face shares: the HTTP API, the MCP face, queue jobs and the CLI.

Each is a small object the composition root (``toolweaver.services``) builds once per process
from its parts. Nothing here knows HTTP, MCP or Azure: the faces decode, call one of these and
encode the answer.
"""
