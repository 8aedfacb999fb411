"""Every Dash component id in one place, so pages and callbacks never drift apart."""

# --- shared shell (layouts/common.py) ---

# --- wall (layouts/wall.py) ---

# --- console (layouts/console.py) ---

# --- drill-down (layouts/areas.py) ---

# --- reports (layouts/reports.py) ---

# --- admin (layouts/admin.py) ---
