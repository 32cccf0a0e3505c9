"""The MCP face: POST /api/mcp serves the catalog behind a few meta-tools (official ``mcp`` SDK)."""
