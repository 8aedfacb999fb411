"""The lifecycle walk every synthetic incident takes, so a synthetic history can only be a legal one."""

from __future__ import annotations

import numpy as np

from ops_center.core.domains import STATUSES
from ops_center.core.lifecycle import ACTIONS, TRANSITIONS, target

TIMELINE_ACTIONS = ("created", *ACTIONS)  # timeline actions: the creation record and the lifecycle's steps
STATUS_CODE = {s: i for i, s in enumerate(STATUSES)}  # status codes: positions in the shared STATUSES
# action -> the status code it leads to from each status code (-1: the lifecycle does not allow it there)
MOVES = {a: np.array([STATUS_CODE.get(target(a, s) or "", -1) for s in STATUSES]) for a in TRANSITIONS}


def walk_lifecycle(created: np.ndarray, steps) -> tuple[np.ndarray, list]:
    """Take every incident's steps through the lifecycle, so a synthetic history can only be a legal one.

    `steps` are (action, mask of incidents taking it, µs time) in the order they happen; returns the final
    status codes and, per step, (action, mask, time, status codes before, status codes after).
    """
    status = np.full(len(created), STATUS_CODE["new"])
    last = created.copy()
    walk = []
    for action, mask, at in steps:
        before = status[mask]
        after = MOVES[action][before]
        if (after < 0).any() or (at[mask] < last[mask]).any():
            raise ValueError(f"synthetic history: {action} taken where or when the lifecycle does not allow it")
        status[mask] = after
        last[mask] = at[mask]
        walk.append((action, mask, at, before, after))
    return status, walk
