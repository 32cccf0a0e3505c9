"""Run queue-trigger functions against Azure Storage queues with the Functions host's semantics.

Per trigger: poll with a randomized exponential backoff (100 ms after a hit, 200 ms doubling up to
``maxPollingInterval`` after a miss), keep up to ``batchSize + newBatchThreshold`` messages in
flight, delete on success, release with ``visibilityTimeout`` on failure, and after
``maxDequeueCount`` failed attempts copy the message to ``<queue>-poison`` and delete it. A message
seen more often than that (its workers died) goes to poison without running. Leases are renewed at
half their length, so a long job is not handed to a second worker.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.functions.queue import QueueMessage as FunctionsQueueMessage
from azure.storage.queue import QueueMessage
from azure.storage.queue.aio import QueueClient

from toolweaver.devhost.invoke import Invoker
from toolweaver.devhost.loader import QUEUE_TRIGGER, FunctionSpec, LoadedApp
from toolweaver.devhost.queue_config import (
    DEFAULT_CONNECTION,
    HIT_DELAY,
    QueueOptions,
    connection_string,
    decode_body,
)
from toolweaver.errors import ConfigError

logger = logging.getLogger(__name__)

POISON_SUFFIX = "-poison"
DEFAULT_LEASE_SECONDS = 600.0  # the host leases a message for 10 minutes and renews it
MISS_DELAY = 0.2


@dataclass
class _Lease:
    message: QueueMessage
    pop_receipt: str
    settled: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class QueueListener:
    """Polls one queue for one function."""

    def __init__(
        self,
        spec: FunctionSpec,
        connection: str,
        options: QueueOptions,
        invoker: Invoker,
        lease_seconds: float,
    ) -> None:
        self.spec = spec
        self.queue_name = str(spec.trigger["queueName"])
        self._connection = connection
        self._client = self._open(self.queue_name)
        self._options = options
        self._invoker = invoker
        self._lease_seconds = max(1, round(lease_seconds))
        self._has_poison = not self.queue_name.endswith(POISON_SUFFIX)  # as the host: no poison of poison
        self._poison: QueueClient | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._freed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._unreachable = False
        self._task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        delay = MISS_DELAY
        limit = self._options.new_batch_threshold
        while not self._stopping.is_set():
            if len(self._inflight) > limit:
                self._freed.clear()
                await self._freed.wait()
                continue
            try:
                messages = await self._receive()
            except Exception:  # a bug here must not end polling for good
                logger.exception("polling %s failed", self.queue_name)
                messages = []
            for message in messages:
                task = asyncio.create_task(self._handle(message))
                self._inflight.add(task)
                task.add_done_callback(self._done)
            if messages:
                delay = MISS_DELAY
                await self._sleep(HIT_DELAY)
            else:
                # Jitter, not security: spreads the polls of many listeners apart.
                await self._sleep(delay * random.uniform(0.8, 1.2))  # noqa: S311  # nosec B311
                delay = min(delay * 2, self._options.max_polling_interval)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._freed.set()
        if not task.cancelled() and task.exception() is not None:
            logger.error("message handling failed on %s", self.queue_name, exc_info=task.exception())

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    async def _receive(self) -> list[QueueMessage]:
        try:
            pages = self._client.receive_messages(
                messages_per_page=self._options.batch_size, visibility_timeout=self._lease_seconds
            ).by_page()
            async for page in pages:
                messages = [m async for m in page]
                self._unreachable = False
                return messages
        except ResourceNotFoundError:
            pass  # the queue does not exist yet: nothing to do, as with the host
        except AzureError as exc:
            if not self._unreachable:
                logger.warning("queue %s cannot be read, will retry: %s", self.queue_name, type(exc).__name__)
            self._unreachable = True
        return []

    async def _handle(self, message: QueueMessage) -> None:
        lease = _Lease(message, message.pop_receipt or "")
        dequeue_count = int(message.dequeue_count or 0)
        if self._has_poison and dequeue_count > self._options.max_dequeue_count:
            logger.warning(
                "message %s on %s was dequeued %d times: moving it to poison",
                message.id,
                self.queue_name,
                dequeue_count,
            )
            await self._settle(lease, self._to_poison)
            return
        renewal = asyncio.create_task(self._keep_leased(lease))
        try:
            succeeded = await self._run(message)
        finally:
            renewal.cancel()
            await asyncio.gather(renewal, return_exceptions=True)
        if succeeded:
            await self._settle(lease, self._delete)
        elif self._has_poison and dequeue_count >= self._options.max_dequeue_count:
            await self._settle(lease, self._to_poison)
        else:
            await self._settle(lease, self._release)

    async def _run(self, message: QueueMessage) -> bool:
        try:
            body = decode_body(message.content, self._options.message_encoding)
        except (binascii.Error, ValueError) as exc:
            encoding = self._options.message_encoding
            logger.error("message %s on %s is not valid %s: %s", message.id, self.queue_name, encoding, exc)
            return False
        argument = FunctionsQueueMessage(  # type: ignore[no-untyped-call]
            id=message.id,
            body=body,
            dequeue_count=message.dequeue_count,
            expiration_time=message.expires_on,
            insertion_time=message.inserted_on,
            time_next_visible=message.next_visible_on,
            pop_receipt=message.pop_receipt,
        )
        started = time.perf_counter()
        try:
            await self._invoker.call(self.spec, argument)
        except Exception:
            logger.exception(
                "Executed '%s' (Failed, Id=%s, DequeueCount=%s)",
                self.spec.name,
                message.id,
                message.dequeue_count,
            )
            return False
        elapsed = (time.perf_counter() - started) * 1000
        logger.info("Executed '%s' (Succeeded, Id=%s, Duration=%.0fms)", self.spec.name, message.id, elapsed)
        return True

    async def _keep_leased(self, lease: _Lease) -> None:
        while True:
            await asyncio.sleep(self._lease_seconds / 2)
            # Shielded: a renewal cut off mid-request would leave us with a stale pop receipt.
            await asyncio.shield(self._renew(lease))

    async def _renew(self, lease: _Lease) -> None:
        async with lease.lock:
            if lease.settled:
                return
            try:
                updated = await self._client.update_message(
                    lease.message.id, pop_receipt=lease.pop_receipt, visibility_timeout=self._lease_seconds
                )
            except AzureError as exc:
                logger.warning(
                    "cannot extend the lease of message %s: %s", lease.message.id, type(exc).__name__
                )
                return
            lease.pop_receipt = updated.pop_receipt or lease.pop_receipt

    async def _settle(self, lease: _Lease, action: Callable[[_Lease], Awaitable[None]]) -> None:
        async with lease.lock:
            lease.settled = True
            try:
                await action(lease)
            except AzureError as exc:
                # The lease was lost (or storage is down): the message comes back after its timeout.
                name = type(exc).__name__
                logger.warning("cannot settle message %s on %s: %s", lease.message.id, self.queue_name, name)

    async def _delete(self, lease: _Lease) -> None:
        await self._client.delete_message(lease.message.id, pop_receipt=lease.pop_receipt)

    async def _release(self, lease: _Lease) -> None:
        visible_in = round(self._options.visibility_timeout)
        await self._client.update_message(
            lease.message.id, pop_receipt=lease.pop_receipt, visibility_timeout=visible_in
        )

    async def _to_poison(self, lease: _Lease) -> None:
        poison = self._poison_client()
        try:
            await poison.send_message(lease.message.content)
        except ResourceNotFoundError:
            with contextlib.suppress(ResourceExistsError):
                await poison.create_queue()
            await poison.send_message(lease.message.content)
        await self._delete(lease)
        logger.warning("message %s moved to %s", lease.message.id, poison.queue_name)

    def _poison_client(self) -> QueueClient:
        if self._poison is None:
            self._poison = self._open(self.queue_name + POISON_SUFFIX)
        return self._poison

    def _open(self, queue_name: str) -> QueueClient:
        # Short retries: a poll that waits out the SDK's default backoff (15 s and up) stalls the listener.
        return QueueClient.from_connection_string(
            self._connection,
            queue_name,
            retry_total=2,
            initial_backoff=1,
            increment_base=2,
            connection_timeout=5,
            read_timeout=30,
        )

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name=f"queue-{self.queue_name}")

    async def stop(self, drain_seconds: float) -> None:
        """Stop polling, let running invocations finish for up to ``drain_seconds``, then close."""
        self._stopping.set()
        self._freed.set()
        if self._task is not None:
            # A receive in progress is short (client timeouts); cutting it would strand leased messages.
            _, pending = await asyncio.wait({self._task}, timeout=40)
            for task in pending:
                task.cancel()
        if self._inflight:
            _, pending = await asyncio.wait(set(self._inflight), timeout=drain_seconds)
            for task in pending:
                task.cancel()
        if self._poison is not None:
            await self._poison.close()
        await self._client.close()


class QueueHost:
    """One listener per queue-trigger function, all in the running event loop."""

    def __init__(
        self,
        app: LoadedApp,
        invoker: Invoker,
        settings: Mapping[str, str],
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        drain_seconds: float = 30.0,
    ) -> None:
        self.functions = app.of_type(QUEUE_TRIGGER)
        self._options = QueueOptions.from_host_json(app.queue_config)
        # Resolved now so a missing connection setting fails the start, not the first poll.
        self._connections = {f.name: connection_string(f, settings) for f in self.functions}
        self._invoker = invoker
        self._lease_seconds = lease_seconds
        self._drain_seconds = drain_seconds
        self._listeners: list[QueueListener] = []

    @property
    def options(self) -> QueueOptions:
        return self._options

    async def start(self) -> None:
        for spec in self.functions:
            try:
                listener = QueueListener(
                    spec, self._connections[spec.name], self._options, self._invoker, self._lease_seconds
                )
            except ValueError:  # the SDK's message names no secret, but ours names the setting
                setting = spec.trigger.get("connection") or DEFAULT_CONNECTION
                raise ConfigError(
                    f"function {spec.name!r}: {setting} is not a valid connection string"
                ) from None
            self._listeners.append(listener)
            listener.start()

    async def stop(self) -> None:
        stops = [listener.stop(self._drain_seconds) for listener in self._listeners]
        for result in await asyncio.gather(*stops, return_exceptions=True):
            if isinstance(result, Exception):
                logger.warning("queue listener did not stop cleanly: %s", type(result).__name__)
        self._listeners.clear()
