"""`run.py rules learn`: officers' labels from the store + the shipped corpus → a new model version.

A label is the domain of an incident a duty officer either set by hand (set_domain) or dispatched
without changing it later; its hotline/grid event texts are the examples. The new version is
evaluated on a held-out split, backtested against the running model on stored events, and written
next to the others; it runs only after an admin adopts it on the admin screen.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ops_center.core.config import Config
from ops_center.core.domains import DOMAIN_CODES, UNCLASSIFIED
from ops_center.core.model import Event
from ops_center.store.store import to_db
from rules import model_store
from rules.engine import RuleSet
from rules.learn import Example, evaluate, fit, read_corpus, split
from rules.textmodel import TextModel

log = logging.getLogger(__name__)

LABEL_SQL = """
    SELECT DISTINCT e.text, i.domain
    FROM events e JOIN incidents i ON e.incident_id = i.incident_id
    WHERE e.source IN ('hotline', 'grid') AND coalesce(e.text, '') <> ''
      AND i.domain IN (SELECT unnest(?::VARCHAR[]))
      AND e.occurred_at >= ?
      AND EXISTS (SELECT 1 FROM incident_timeline t
                  WHERE t.incident_id = i.incident_id AND t.action IN ('set_domain', 'dispatch'))
    ORDER BY e.text
"""
BACKTEST_MAX = 200_000  # the newest stored texts a backtest replays: enough to see the shift, bounded memory
EVENTS_SQL = """
    SELECT source, source_id, natural_key, occurred_at, received_at, kind, text, category
    FROM events WHERE source IN ('hotline', 'grid') AND coalesce(text, '') <> '' AND occurred_at >= ?
    ORDER BY occurred_at DESC, natural_key LIMIT ?
"""


def site_examples(conn: Any, since: datetime) -> list[Example]:
    """The officers' labels: set_domain'd or dispatched incidents (their domain as it stands now)."""
    rows = conn.execute(LABEL_SQL, [list(DOMAIN_CODES), to_db(since)]).fetchall()
    return [Example(text, domain, "site") for text, domain in rows]


def stored_text_events(conn: Any, since: datetime) -> list[Event]:
    """The newest hotline and grid events with text since `since` (at most BACKTEST_MAX), as rules take them."""
    out = []
    for source, source_id, key, occurred, received, kind, text, category in conn.execute(
            EVENTS_SQL, [to_db(since), BACKTEST_MAX]).fetchall():
        out.append(Event(source=source, source_id=source_id, natural_key=key, occurred_at=occurred.replace(tzinfo=UTC),
                         received_at=received.replace(tzinfo=UTC), kind=kind, text=text, category=category))
    return out


def backtest(ruleset: RuleSet, new_model: TextModel | None, events: Sequence[Event]) -> dict[str, Any]:
    """Domains the running model and the new one give stored text events (rules unchanged)."""
    fresh = ruleset.with_model(new_model)
    before: Counter = Counter()
    after: Counter = Counter()
    changed: Counter = Counter()
    for ev in events:
        old = ruleset.evaluate(ev)[0].domain
        new = fresh.evaluate(ev)[0].domain
        before[old] += 1
        after[new] += 1
        if old != new:
            changed[f"{old}->{new}"] += 1
    domains = [*DOMAIN_CODES, UNCLASSIFIED]
    return {"events": len(events), "changed": sum(changed.values()),
            "per_domain": [{"domain": d, "current": before[d], "new": after[d], "diff": after[d] - before[d]}
                           for d in domains],
            "top_changes": changed.most_common(10)}


def learn(cfg: Config, ruleset: RuleSet, conn: Any | None, since: datetime, now: datetime,
          corpus: Path | None = None) -> tuple[TextModel, Path]:
    """Train, evaluate on a held-out split, backtest, and write a new version (not adopted)."""
    examples = read_corpus(corpus) if corpus else read_corpus()
    site = site_examples(conn, since) if conn is not None else []
    events = stored_text_events(conn, since) if conn is not None else []
    train, held_out = split([*examples, *site])
    version = now.strftime("m%Y%m%dT%H%M%SZ")
    scored = fit(train, version)
    metrics = evaluate(scored, held_out)
    site_held = [e for e in held_out if e.origin == "site"]
    model = fit([*examples, *site], version, extra_meta={
        "created_at": now.isoformat(), "site_labels": len(site), "site_labels_by_domain": dict(Counter(e.label for e in site)),
        "held_out": {k: metrics[k] for k in ("domain_accuracy", "domain_correct", "domain_total", "out_of_scope_kept_out",
                                             "confusion")},
        "held_out_site": evaluate(scored, site_held)["domain_accuracy"] if site_held else None,
    })
    model.meta["backtest"] = backtest(ruleset, model, events)
    model.meta["backtest_against"] = ruleset.model.version if ruleset.model else None
    path = model_store.version_path(cfg, version)
    model.save(path)
    log.info("text model %s written to %s (%d site labels)", version, path, len(site))
    return model, path


def build_shipped(cfg: Config, corpus: Path | None = None, path: Path | None = None) -> tuple[TextModel, Path]:
    """The shipped model: the shipped corpus alone, version "shipped"; the same corpus gives the same model."""
    examples = read_corpus(corpus) if corpus else read_corpus()
    train, held_out = split(examples)
    metrics = evaluate(fit(train, model_store.SHIPPED), held_out)
    model = fit(examples, model_store.SHIPPED, extra_meta={
        "held_out": {k: metrics[k] for k in ("domain_accuracy", "domain_correct", "domain_total", "out_of_scope_kept_out",
                                             "confusion")}})
    path = path or model_store.version_path(cfg, model_store.SHIPPED)
    model.save(path)
    return model, path
