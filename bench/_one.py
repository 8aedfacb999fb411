"""Run one bench in this process and write its Result as JSON: `python3 -m bench._one NAME OUT.json [args…]`."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path


def main() -> int:
    name, out, *argv = sys.argv[1:]
    module = importlib.import_module(f"bench.{name}")
    result = module.main(argv)
    Path(out).write_text(json.dumps(result.to_dict(), ensure_ascii=False, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
