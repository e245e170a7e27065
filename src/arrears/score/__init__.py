"""Behaviour score: a propensity-to-pay model trained on the bank's own history.

- :mod:`arrears.score.fileformat` — the training and features files, validated whole;
- :mod:`arrears.score.training` — split by time, LightGBM, hold-out AUC / Brier / calibration;
- :mod:`arrears.score.model` — versioned artefacts (``models/<name>/<version>/``) and scoring to
  ``behaviour_score`` in basis points;
- :mod:`arrears.score.commands` — ``arrears score train`` and ``arrears score apply``.

See ``docs/behaviour-score.md``.
"""

import os

# LightGBM's OpenMP threads spin while waiting by default; on a shared machine (the batch next to
# other jobs) spinning threads starve each other: training 100k rows on 2 threads measured 16.8 s
# spinning vs 1.5 s passive. Set before lightgbm (libgomp) is loaded; an explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
