"""Model versions on disk: which one runs, adopt and rollback (audited), all from the project's own files.

Layout under `rules.text_model.dir`: one `<version>.npz` per `run.py rules learn`, and `active.json`
with the adopted version and the history of adoptions, so a rollback knows what ran before.
Without `active.json` the shipped model (`rules.text_model.shipped`) runs.
"""

from __future__ import annotations

import json
import logging
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from ops_center.core.config import Config
from rules.textmodel import ModelError, TextModel

log = logging.getLogger(__name__)

SHIPPED = "shipped"
ACTIVE = "active.json"
VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class AdoptError(Exception):
    """An adopt or rollback that cannot be done; the running model is unchanged."""


def model_dir(cfg: Config) -> Path:
    return cfg.path_of(cfg.rules.text_model.dir)


def version_path(cfg: Config, version: str) -> Path:
    """Where a version lives; the shipped one is the configured file, the rest are <dir>/<version>.npz."""
    if version == SHIPPED:
        return cfg.path_of(cfg.rules.text_model.shipped)
    if not VERSION_RE.match(version):
        raise AdoptError(f"invalid model version {version!r}")
    return model_dir(cfg) / f"{version}.npz"


def read_state(cfg: Config) -> dict[str, Any]:
    """The adopted version and its history; a missing file means the shipped model runs."""
    path = model_dir(cfg) / ACTIVE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"active": SHIPPED, "history": []}
    except (OSError, ValueError) as exc:
        log.error("%s unreadable (%s): running the shipped model", path, exc)
        return {"active": SHIPPED, "history": [], "error": str(exc)}
    state.setdefault("history", [])
    return state


def state_digest(cfg: Config) -> str:
    """What changes when an admin adopts or rolls back: the holder reloads the model then."""
    path = model_dir(cfg) / ACTIVE
    try:
        st = path.stat()
    except OSError:
        return "shipped"
    return f"{st.st_mtime_ns}:{st.st_size}"


def load_version(cfg: Config, version: str) -> TextModel:
    """One version with the configured threshold override applied."""
    model = TextModel.load(version_path(cfg, version))
    if cfg.rules.text_model.threshold is not None:
        model.threshold = cfg.rules.text_model.threshold
    return model


def load_active(cfg: Config) -> TextModel | None:
    """The model that should run now; None when the second stage is switched off or unusable."""
    if not cfg.rules.text_model.enabled:
        return None
    active = read_state(cfg).get("active", SHIPPED)
    for version in dict.fromkeys((active, SHIPPED)):
        try:
            return load_version(cfg, version)
        except (ModelError, AdoptError) as exc:
            log.error("text model %s unusable: %s", version, exc)
    return None


def list_versions(cfg: Config) -> list[dict[str, Any]]:
    """Every version on disk with its metadata (metrics, backtest), newest first; shipped last."""
    out = []
    folder = model_dir(cfg)
    for path in sorted(folder.glob("*.npz"), reverse=True) if folder.is_dir() else []:
        try:
            meta = TextModel.load(path).meta
        except ModelError as exc:
            meta = {"version": path.stem, "error": str(exc)}
        out.append(meta)
    try:
        out.append({**TextModel.load(version_path(cfg, SHIPPED)).meta, "version": SHIPPED})
    except ModelError as exc:
        out.append({"version": SHIPPED, "error": str(exc)})
    return out


def _write_state(cfg: Config, state: dict[str, Any]) -> None:
    """Replace active.json atomically: a reader sees the old file or the new one, never half."""
    folder = model_dir(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{ACTIVE}.tmp"
    tmp.write_text(json.dumps(state, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(tmp, folder / ACTIVE)


def adopt(cfg: Config, version: str, actor: str, now: datetime, note: str = "") -> dict[str, Any]:
    """Make `version` the running model; the previous one is kept in the history for rollback."""
    load_version(cfg, version)  # refuse a file that would not load, before anything changes
    state = read_state(cfg)
    previous = state.get("active", SHIPPED)
    if previous == version:
        raise AdoptError(f"model {version} is already in use")
    history = [*state["history"], {"action": "adopt", "version": version, "previous": previous,
                                   "by": actor, "at": now.isoformat(), "note": note}]
    _write_state(cfg, {"active": version, "history": history})
    log.info("text model %s adopted by %s (was %s)", version, actor, previous)
    return {"version": version, "previous": previous}


def rollback(cfg: Config, actor: str, now: datetime, note: str = "") -> dict[str, Any]:
    """Go back to the model that ran before the current one was adopted."""
    state = read_state(cfg)
    current = state.get("active", SHIPPED)
    adoptions = [h for h in state["history"] if h.get("action") == "adopt" and h.get("version") == current]
    if current == SHIPPED or not adoptions:
        raise AdoptError("nothing to roll back: the shipped model is in use")
    previous = adoptions[-1]["previous"]
    load_version(cfg, previous)
    history = [*state["history"], {"action": "rollback", "version": previous, "previous": current,
                                   "by": actor, "at": now.isoformat(), "note": note}]
    _write_state(cfg, {"active": previous, "history": history})
    log.info("text model rolled back from %s to %s by %s", current, previous, actor)
    return {"version": previous, "previous": current}
