"""Scheduled functions: the daily snapshot of the day's figures."""

from __future__ import annotations

import logging

import azure.functions as func

from toolweaver.functions.runtime import services
from toolweaver.observability.snapshot import write_daily_snapshot

log = logging.getLogger(__name__)
bp = func.Blueprint()  # type: ignore[no-untyped-call]

# NCRONTAB (seconds first): 00:05 UTC every day, when the day before is complete.
DAILY_SNAPSHOT_SCHEDULE = "0 5 0 * * *"


@bp.function_name("daily_snapshot")
@bp.timer_trigger(arg_name="timer", schedule=DAILY_SNAPSHOT_SCHEDULE, use_monitor=True)
def daily_snapshot(timer: func.TimerRequest) -> None:
    if timer.past_due:
        log.info("daily snapshot is running late (the app was stopped or busy at its time)")
    write_daily_snapshot(services())
