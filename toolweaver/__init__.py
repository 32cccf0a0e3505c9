"""ToolWeaver: find, plan and run the right tools out of large catalogs.

The package root stays light: heavy modules (onnxruntime, tokenizers) load on first use.
"""

from __future__ import annotations

__version__ = "0.1.0"
