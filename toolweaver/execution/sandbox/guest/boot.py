"""Start the zygote: ``python -I -B boot.py CONTROL_FD [no-seccomp]`` (by path, empty environment).

``-I`` keeps the interpreter away from the environment, the user site and the working
directory; it also keeps this folder off ``sys.path``, so the folder is loaded here as a package
of its own (``twguest``), without importing ``toolweaver``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

PACKAGE = "twguest"


def _load_package() -> None:
    folder = Path(__file__).resolve().parent
    spec = importlib.util.spec_from_file_location(
        PACKAGE, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the sandbox guest package from {folder}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = module
    spec.loader.exec_module(module)


if __name__ == "__main__":
    sys.dont_write_bytecode = True
    _load_package()
    zygote = importlib.import_module(f"{PACKAGE}.zygote")
    zygote.main(int(sys.argv[1]), seccomp="no-seccomp" not in sys.argv[2:])
