"""Custom checkov checks for Bicep (``--external-checks-dir``): what checkov has no Bicep check for."""
