"""The HTTP API without a web framework: requests in, responses out, errors as problem+json.

``toolweaver.functions`` adapts these handlers to Azure Functions; tests and the OpenAPI
document read the same route table, so the three cannot drift apart.
"""
