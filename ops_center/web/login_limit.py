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

from ops_center.core.config import LoginLimitConfig

MAX_KEYS = 20_000  # user names and addresses tracked at most; the oldest are forgotten first


@dataclass
class _Record:
    failures: int
    last: datetime
    locked_until: datetime | None = None


@dataclass(frozen=True)
class Lock:
    """A failure that started (or lengthened) a lock: what the audit log records."""

    key: tuple[str, str]
    failures: int
    seconds: int


@dataclass(frozen=True)
class Verdict:
    """Whether an attempt may be checked; when not, which key is locked and for how long. An allowed attempt is
    already counted as a failure (so parallel guesses cannot all slip through before the first one fails);
    `locks` are the locks that count started, to audit if the password turns out wrong."""

    allowed: bool
    key: tuple[str, str] | None = None
    retry_after: timedelta = timedelta(0)
    locks: tuple[Lock, ...] = ()


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

    def _free(self, key: tuple[str, str]) -> int:
        return self.cfg.user_attempts if key[0] == "user" else self.cfg.address_attempts

    def attempt(self, username: str, address: str | None, now: datetime) -> Verdict:
        """Refuse while either key is locked (the longer wait wins); else count the attempt as a failure now."""
        keys = self.keys(username, address)
        with self._lock:
            worst: tuple[timedelta, tuple[str, str]] | None = None
            for key in keys:
                rec = self._fresh(key, now)
                if rec and rec.locked_until and rec.locked_until > now:
                    wait = rec.locked_until - now
                    if worst is None or wait > worst[0]:
                        worst = (wait, key)
            if worst is not None:
                return Verdict(False, worst[1], worst[0])
            locks = []
            for key in keys:
                rec = self._fresh(key, now) or _Record(0, now)
                rec.failures += 1
                rec.last = now
                free = self._free(key)
                if rec.failures >= free:
                    delay = min(self.cfg.first_delay * 2 ** min(rec.failures - free, 30), self.cfg.max_delay)
                    rec.locked_until = now + delay
                    locks.append(Lock(key, rec.failures, max(1, round(delay.total_seconds()))))
                self._records[key] = rec
                self._records.move_to_end(key)
            while len(self._records) > self.max_keys:
                self._records.popitem(last=False)
        return Verdict(True, locks=tuple(locks))

    def succeeded(self, username: str, address: str | None) -> None:
        """The password was right: forget the user name's failures and take this attempt off the address."""
        user, addr = self.keys(username, address)
        with self._lock:
            self._records.pop(user, None)
            rec = self._records.get(addr)
            if rec is not None:
                rec.failures = max(rec.failures - 1, 0)
                if rec.failures < self._free(addr):
                    rec.locked_until = None

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
