"""Card tokens have a short life: a background loop drops those of payment methods nobody used in time."""

from __future__ import annotations

import asyncio

from tessera.kit.logs import get_logger
from tessera.payments.service_layer import PaymentsService

log = get_logger(__name__)


async def drop_expired_tokens(service: PaymentsService, every_seconds: float) -> None:
    while True:
        try:
            if dropped := await service.drop_expired_tokens():
                log.info("expired card tokens dropped", count=dropped)
        except Exception:  # the database is down for a while: try again on the next round
            log.exception("dropping expired card tokens failed")
        await asyncio.sleep(every_seconds)
