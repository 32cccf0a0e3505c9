"""Who may do what: callers search, describe and run; operators change what the app will call.

The faces establish the credential before a request reaches ``dispatch``, from facts the platform
vouches for, and record it on the ``ApiRequest``:

- ``operator``: the request passed the Functions host's ``admin`` level (the master key), which
  the host checks before our code runs; under the dev host, its operator key.
- ``principal_roles``: the app roles of the signed-in principal, read from
  ``x-ms-client-principal`` only where App Service Authentication is on (it strips that header
  from what clients send, so nobody else can set it).

``operator_refusal`` then decides for each operation. It is a second check: the host already
refuses a caller key on an admin-level function; the app refuses too, so a function registered
at the wrong level still cannot change the catalog.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping

from toolweaver.api.http import ApiRequest, ApiResponse, problem

PRINCIPAL_HEADER = "x-ms-client-principal"
# Entra ID role claims arrive as "roles"; App Service names the role claim type in role_typ.
_ROLE_CLAIM_TYPES = ("roles", "http://schemas.microsoft.com/ws/2008/06/identity/claims/role")


def principal_roles(headers: Mapping[str, str]) -> frozenset[str]:
    """The roles in an App Service ``x-ms-client-principal`` header (empty when absent or unreadable)."""
    encoded = headers.get(PRINCIPAL_HEADER, "")
    if not encoded or len(encoded) > 64 * 1024:
        return frozenset()
    try:
        principal = json.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError):
        return frozenset()
    if not isinstance(principal, dict) or not isinstance(principal.get("claims"), list):
        return frozenset()
    role_types = {*_ROLE_CLAIM_TYPES, str(principal.get("role_typ", "roles"))}
    return frozenset(
        str(claim.get("val"))
        for claim in principal["claims"]
        if isinstance(claim, dict) and claim.get("typ") in role_types and isinstance(claim.get("val"), str)
    )


def operator_refusal(request: ApiRequest, *, mode: str, role: str) -> ApiResponse | None:
    """None when ``request`` carries the operator credential; else a 403 that names it."""
    if request.operator or (mode == "entra" and role in request.principal_roles):
        return None
    if mode == "entra":
        needed = (
            f"a signed-in Entra ID principal with the app role {role} (App Service Authentication, "
            "OPERATOR_AUTH=entra)"
        )
    else:
        needed = "the operator key: the Functions host's master key (admin level), sent as x-functions-key"
    return problem(
        403,
        f"this route changes what the app will call, so it needs {needed}; "
        "a caller key may search, describe and run only",
        required_credential="operator",
    )
