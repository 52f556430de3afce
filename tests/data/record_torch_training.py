"""Record torch.optim's trajectories for tests/test_training.py into tests/data/torch_training.json.

Needs torch (float64, CPU); run from the repository root after installing the package with torch:

    python tests/data/record_torch_training.py

The tests compare the tutor with this file on every machine, and with live torch where it is installed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    # torch only when run: pytest imports every .py under tests/ (--doctest-modules), torch is optional
    import torch

    sys.path.insert(0, str(ROOT))
    from tests.test_training import TORCH_RECORD, torch_cases, torch_history

    cases = {case: [[a.tolist() for a in step] for step in torch_history(torch, case)] for case in torch_cases()}
    TORCH_RECORD.parent.mkdir(parents=True, exist_ok=True)
    doc = {"torch": torch.__version__, "dtype": "float64", "cases": cases}
    TORCH_RECORD.write_text(json.dumps(doc, indent=0, sort_keys=True) + "\n", encoding="utf-8")
    print(f"recorded {len(cases)} trajectories with torch {torch.__version__} into {TORCH_RECORD}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
