"""The guest side of the sandbox: code that runs in the zygote and in each sandboxed child.

Nothing here imports ``toolweaver``: the zygote loads this folder as its own package (``boot.py``)
from an interpreter started with ``-I`` and an empty environment, so the only code in a child is
the standard library, ``pyseccomp`` and these modules. ``protocol`` is shared with the host.
"""
