"""Login back-off as pure state over `now`: doubling locks, the cap, forgetting, and what a success clears."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from ops_center.core.config import LoginLimitConfig
from ops_center.web.login_limit import LoginLimiter

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
CFG = LoginLimitConfig(user_attempts=3, address_attempts=5, first_delay=timedelta(seconds=2),
                       max_delay=timedelta(seconds=30), forget_after=timedelta(hours=1))


def test_locks_double_up_to_the_cap():
    lim = LoginLimiter(CFG)
    now = T0
    waits = []
    for _ in range(8):
        verdict = lim.attempt("admin", f"10.0.0.{len(waits)}", now)  # a new address each time: the user locks
        assert verdict.allowed
        if verdict.locks:
            waits.append(verdict.locks[0].seconds)
            refused = lim.attempt("admin", "10.9.9.9", now + timedelta(seconds=verdict.locks[0].seconds - 1))
            assert not refused.allowed and refused.key == ("user", "admin")
            now += timedelta(seconds=verdict.locks[0].seconds)
    assert waits == [2, 4, 8, 16, 30, 30]


def test_a_success_clears_the_user_but_not_the_address():
    lim = LoginLimiter(CFG)
    for i in range(4):
        lim.attempt(f"guess{i}", "10.0.0.1", T0)
    ok = lim.attempt("officer", "10.0.0.1", T0)  # the 5th attempt from the address: counted, locks it …
    assert ok.allowed and [lock.key for lock in ok.locks] == [("address", "10.0.0.1")]
    lim.succeeded("officer", "10.0.0.1")  # … but it was the right password: the address is back to 4
    assert lim.attempt("guess5", "10.0.0.1", T0).allowed  # 5 again: locked now
    assert not lim.attempt("officer", "10.0.0.1", T0).allowed


def test_quiet_keys_are_forgotten_and_the_table_is_bounded():
    lim = LoginLimiter(CFG, max_keys=10)
    for _ in range(2):
        lim.attempt("admin", "10.0.0.1", T0)
    later = T0 + CFG.forget_after
    assert lim.attempt("admin", "10.0.0.1", later).allowed
    assert lim.attempt("admin", "10.0.0.1", later).allowed  # counting started again: 2 of 3
    for i in range(100):
        lim.attempt(f"user{i}", f"10.1.0.{i}", T0)
    assert len(lim._records) <= 10  # noqa: SLF001 - the bound itself is what is tested


def test_parallel_guesses_cannot_slip_past_the_limit():
    lim = LoginLimiter(CFG)
    allowed = []
    gate = threading.Barrier(20)

    def guess() -> None:
        gate.wait()
        allowed.append(lim.attempt("admin", "10.0.0.1", T0).allowed)

    threads = [threading.Thread(target=guess) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert allowed.count(True) == CFG.user_attempts
