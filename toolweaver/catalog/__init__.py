"""The tool catalog: validated Tool records, Catalog collections, file loaders and importers.

Importing this package stays cheap: PyYAML loads only when a YAML file is read or written.
"""

from __future__ import annotations

from toolweaver.catalog.loaders import dump_catalog, load_catalog, load_dataset_tools
from toolweaver.catalog.model import BackendKind, Catalog, Tool
from toolweaver.catalog.openapi import import_openapi

__all__ = [
    "BackendKind",
    "Catalog",
    "Tool",
    "dump_catalog",
    "import_openapi",
    "load_catalog",
    "load_dataset_tools",
]
