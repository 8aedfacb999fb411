"""Repeated identical errors are logged once a minute with a count, not once per batch with a traceback."""

from __future__ import annotations

import logging
import threading
import time


class LogLimiter:
    """Per message key: the first occurrence logs (with traceback), repeats within `window_s` only count."""

    def __init__(self, logger: logging.Logger, window_s: float = 60.0):
        self._log = logger
        self._window = window_s
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[float, int]] = {}  # key -> (window start, repeats suppressed)

    def error(self, key: str, msg: str, *args, exc_info: bool = True) -> bool:
        """Log `msg` unless `key` was logged within the window; True when it was logged."""
        return self.log(logging.ERROR, key, msg, *args, exc_info=exc_info)

    def warning(self, key: str, msg: str, *args) -> bool:
        """Bad input rather than a bug: at WARNING, without a traceback, limited like error()."""
        return self.log(logging.WARNING, key, msg, *args, exc_info=False)

    def log(self, level: int, key: str, msg: str, *args, exc_info: bool = False) -> bool:
        """Log `msg` at `level` unless `key` was logged within the window; True when it was logged."""
        now = time.monotonic()
        with self._lock:
            start, repeats = self._seen.get(key, (0.0, 0))
            if now - start < self._window:
                self._seen[key] = (start, repeats + 1)
                return False
            self._seen[key] = (now, 0)
        if repeats:
            self._log.log(level, "the previous message repeated %d more times in %.0f s: %s", repeats, now - start,
                          key)
        self._log.log(level, msg, *args, exc_info=exc_info)
        return True
