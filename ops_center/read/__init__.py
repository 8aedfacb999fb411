"""Read models, KPIs and reports: what screens and reports show, never a write path."""
