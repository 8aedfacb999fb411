"""Login back-off per user name and per client address, so passwords cannot be guessed at the speed of the hash.

After `user_attempts` failures for one user name (or `address_attempts` from one client address)
each further failure locks that key for first_delay × 2^(n−1), capped at max_delay. A locked key
is refused without checking the password. A success clears its user name; an address is only
forgotten after `forget_after` without failures, so one valid account cannot reset the count
between guesses at another. Pure state over `now` (the context's clock), bounded in size.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from ops_center.config import LoginLimitConfig

MAX_KEYS = 20_000  # user names and addresses tracked at most; the oldest are forgotten first


@dataclass
class _Record:
    failures: int
    last: datetime
    locked_until: datetime | None = None


@dataclass(frozen=True)
class Verdict:
    """Whether an attempt may be checked; when not, which key is locked and for how long."""

    allowed: bool
    key: tuple[str, str] | None = None
    retry_after: timedelta = timedelta(0)


@dataclass(frozen=True)
class Lock:
    """A failure that started (or lengthened) a lock: what the audit log records."""

    key: tuple[str, str]
    failures: int
    seconds: int


class LoginLimiter:
    """Failure counts and locks per ("user", name) and ("address", ip); thread-safe."""

    def __init__(self, cfg: LoginLimitConfig, max_keys: int = MAX_KEYS):
        self.cfg = cfg
        self.max_keys = max_keys
        self._records: OrderedDict[tuple[str, str], _Record] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def keys(username: str, address: str | None) -> list[tuple[str, str]]:
        return [("user", username.strip().lower()[:64]), ("address", address or "?")]

    def check(self, username: str, address: str | None, now: datetime) -> Verdict:
        """Refuse while either key is locked; the longer wait wins."""
        worst = Verdict(True)
        with self._lock:
            for key in self.keys(username, address):
                rec = self._fresh(key, now)
                if rec and rec.locked_until and rec.locked_until > now:
                    wait = rec.locked_until - now
                    if wait > worst.retry_after:
                        worst = Verdict(False, key, wait)
        return worst

    def failed(self, username: str, address: str | None, now: datetime) -> list[Lock]:
        """Count a failure on both keys; the locks it starts are returned for the audit log."""
        locks = []
        with self._lock:
            for key in self.keys(username, address):
                rec = self._fresh(key, now) or _Record(0, now)
                rec.failures += 1
                rec.last = now
                free = self.cfg.user_attempts if key[0] == "user" else self.cfg.address_attempts
                if rec.failures >= free:
                    delay = min(self.cfg.first_delay * 2 ** min(rec.failures - free, 30), self.cfg.max_delay)
                    rec.locked_until = now + delay
                    locks.append(Lock(key, rec.failures, max(1, round(delay.total_seconds()))))
                self._records[key] = rec
                self._records.move_to_end(key)
            while len(self._records) > self.max_keys:
                self._records.popitem(last=False)
        return locks

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._records.pop(self.keys(username, None)[0], None)

    def _fresh(self, key: tuple[str, str], now: datetime) -> _Record | None:
        """The key's record unless it has been quiet for forget_after (and is not locked)."""
        rec = self._records.get(key)
        if rec is None:
            return None
        quiet = now - rec.last >= self.cfg.forget_after
        if quiet and (rec.locked_until is None or rec.locked_until <= now):
            del self._records[key]
            return None
        return rec
