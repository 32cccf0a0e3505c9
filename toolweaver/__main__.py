from __future__ import annotations

import sys

from toolweaver.cli import main

sys.exit(main())
