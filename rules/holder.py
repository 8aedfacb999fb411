"""Hot reload: a changed rule file is validated first and swapped in whole, or rejected whole."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

from ops_center.core.config import Config
from ops_center.core.yamlsource import SourceError
from rules import model_store
from rules.engine import RuleSet, RuleState, digest_files, rule_files

log = logging.getLogger(__name__)


class RulesHolder:
    """Owns the running RuleSet; readers take `.current` (one attribute read, always a whole set)."""

    def __init__(self, paths: Sequence[Path | str], cfg: Config):
        self.paths = tuple(Path(p) for p in paths)
        self.cfg = cfg
        self._model_seen = model_store.state_digest(cfg)
        model = model_store.load_active(cfg)
        self.current: RuleSet = RuleSet.load(self.paths, cfg, model)  # a bad set at start-up stops start-up
        self.state = RuleState()  # pending `for` conditions survive reloads (keyed by rule id)
        self.version = 1
        self.last_error: str | None = None
        self._seen = self.current.digest
        self._lock = threading.Lock()

    def _digest(self) -> str:
        try:
            return digest_files(rule_files(self.paths))
        except (OSError, SourceError) as exc:
            return f"unreadable:{exc}"

    def reload_model(self) -> None:
        """Swap in the adopted text model (after adopt/rollback, here or in another process)."""
        with self._lock:
            self._model_seen = model_store.state_digest(self.cfg)
            model = model_store.load_active(self.cfg)
            self.current = self.current.with_model(model)
            log.info("text model in use: %s", model.version if model else "none")

    def reload_if_changed(self) -> str | None:
        """Reload when files changed; return the error text of a rejected change (old set keeps running)."""
        if model_store.state_digest(self.cfg) != self._model_seen:
            self.reload_model()
        with self._lock:
            digest = self._digest()
            if digest == self._seen:
                return None
            self._seen = digest
            try:
                fresh = RuleSet.load(self.paths, self.cfg, self.current.model)
            except (SourceError, OSError) as exc:
                self.last_error = str(exc)
                log.error("rule change rejected, keeping version %d: %s", self.version, exc)
                return self.last_error
            self.current = fresh
            self._seen = fresh.digest
            self.version += 1
            self.last_error = None
            log.info("rules reloaded: version %d (%s), %d rules", self.version, fresh.digest, len(fresh.rules))
            return None
