"""Call the app's warmup trigger once before serving, as the platform does when it adds an instance."""

from __future__ import annotations

import logging
import time

from azure.functions.warmup import WarmUpContext

from toolweaver.devhost.invoke import Invoker
from toolweaver.devhost.loader import WARMUP_TRIGGER, LoadedApp

logger = logging.getLogger(__name__)


async def run_warmup(app: LoadedApp, invoker: Invoker) -> bool:
    """True when every warmup function succeeded (or there is none). A failure is logged, not raised:
    the platform still sends traffic to an instance whose warmup failed."""
    succeeded = True
    for spec in app.of_type(WARMUP_TRIGGER):
        started = time.perf_counter()
        try:
            await invoker.call(spec, WarmUpContext())
        except Exception:
            logger.exception("warmup function %s failed", spec.name)
            succeeded = False
            continue
        logger.info("warmup function %s ran in %.0f ms", spec.name, (time.perf_counter() - started) * 1000)
    return succeeded
