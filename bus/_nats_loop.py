"""The one place threads meet asyncio: a private event loop in a thread, for nats-py.

Pykka actors are threads; nats-py is asyncio. A :class:`LoopThread` owns one event
loop running in a daemon thread; every nats-py call of a transport runs there, and the
actors' threads hand it work with :meth:`LoopThread.call` (wait for the result, with a
timeout) or :meth:`LoopThread.spawn` (fire and forget). Nothing else in the project
touches an event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["LoopThread"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class LoopThread:
    """An asyncio event loop running in its own daemon thread until :meth:`stop`.

    Args:
        name: The thread's name (shown in thread dumps and py-spy).
    """

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            if pending:
                self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.close()

    def in_loop(self) -> bool:
        """Whether the caller runs in this loop's thread."""
        return threading.current_thread() is self._thread

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coroutine`` in the loop and wait for its result.

        Args:
            coroutine: What to run.
            timeout: Seconds to wait; past them the coroutine is cancelled.

        Returns:
            Its result.

        Raises:
            TimeoutError: It did not finish within ``timeout`` seconds.
            RuntimeError: Called from the loop's own thread (it would wait for itself).
            Exception: Whatever the coroutine raised.
        """
        if self.in_loop():
            coroutine.close()
            msg = "LoopThread.call from the loop's own thread would wait for itself."
            raise RuntimeError(msg)
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            msg = f"no answer within {timeout} s"
            raise TimeoutError(msg) from None

    def spawn(self, coroutine: Coroutine[Any, Any, object], what: str) -> None:
        """Run ``coroutine`` in the loop without waiting; a failure is logged as ``what``."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        future.add_done_callback(lambda f: _log_failure(f, what))

    def soon(self, callback: Callable[..., object], *args: object) -> None:
        """Call ``callback(*args)`` in the loop's thread, soon (thread-safe)."""
        self.loop.call_soon_threadsafe(callback, *args)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop (cancelling its tasks) and wait up to ``timeout`` s for the thread."""
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        if not self.in_loop():
            self._thread.join(timeout)


def _log_failure(future: concurrent.futures.Future[Any], what: str) -> None:
    if future.cancelled():
        return
    exc = future.exception()
    if exc is not None:
        logger.error("%s failed: %s: %s", what, type(exc).__name__, exc)


async def bounded(awaitable: Awaitable[T], timeout: float) -> T:
    """``awaitable`` within ``timeout`` seconds (``asyncio.wait_for``), for every wait."""
    return await asyncio.wait_for(awaitable, timeout)
