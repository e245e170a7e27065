"""A trained behaviour-score model: the versioned artefact on disk and scoring.

An artefact is a directory ``<root>/<name>/<version>/`` holding ``model.txt`` (LightGBM's text
model) and ``card.json`` (features, category vocabularies, training months, row counts, metrics,
calibration, SHA-256 of the training file and of ``model.txt``, library versions). A version is
immutable: saving onto an existing version is refused. Loading checks the model file against the
card's SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from arrears.kit.errors import ArrearsError

__all__ = [
    "DEFAULT_THREADS",
    "SCORE_COLUMN",
    "BehaviourModel",
    "ModelError",
    "feature_matrix",
    "load_model",
    "probability_to_bp",
    "save_model",
]

#: The feature the strategy engine sees: probability of paying next, in basis points 0..10000.
SCORE_COLUMN = "behaviour_score"
#: LightGBM threads when none are given (results are deterministic for a given thread count).
DEFAULT_THREADS = 2
CARD_FILE = "card.json"
MODEL_FILE = "model.txt"
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}", re.ASCII)
_VERSION_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", re.ASCII)


class ModelError(ArrearsError):
    """A model artefact cannot be written, read or used."""

    status = 422


def feature_matrix(table: pa.Table, numeric: list[str], categorical: dict[str, list[str]]) -> np.ndarray:
    """Rows × features as float64, numeric columns first then categorical codes (index in the
    training vocabulary; missing or unseen categories are NaN, which LightGBM treats as missing)."""
    cols: list[np.ndarray] = []
    for name in numeric:
        cols.append(pc.cast(table[name], pa.float64()).to_numpy(zero_copy_only=False))
    for name, vocab in categorical.items():
        if name not in table.column_names:
            cols.append(np.full(table.num_rows, np.nan))
            continue
        codes = pc.index_in(table[name], value_set=pa.array(vocab, pa.string()))
        cols.append(pc.cast(codes, pa.float64()).to_numpy(zero_copy_only=False))
    return np.column_stack(cols) if cols else np.empty((table.num_rows, 0))


def probability_to_bp(p: np.ndarray) -> np.ndarray:
    """Probabilities to integer basis points 0..10000, half-up."""
    return np.clip(np.floor(np.asarray(p, dtype=np.float64) * 10_000 + 0.5), 0, 10_000).astype(np.int32)


@dataclass
class BehaviourModel:
    """A loaded (or just trained) model and its card."""

    booster: Any  # lightgbm.Booster
    card: dict[str, Any]
    path: Path | None = None
    num_threads: int = DEFAULT_THREADS
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.card["name"]

    @property
    def version(self) -> str:
        return self.card["version"]

    @property
    def numeric(self) -> list[str]:
        return list(self.card["features"]["numeric"])

    @property
    def categorical(self) -> dict[str, list[str]]:
        return {k: list(v) for k, v in self.card["features"]["categorical"].items()}

    @property
    def features(self) -> list[str]:
        return self.numeric + list(self.categorical)

    def probabilities(self, table: pa.Table) -> np.ndarray:
        missing = [c for c in self.numeric if c not in table.column_names]
        if missing:
            raise ModelError(f"the table lacks the model's feature(s) {', '.join(missing)}")
        x = feature_matrix(table, self.numeric, self.categorical)
        return self.booster.predict(x, num_threads=self.num_threads)

    def score(self, table: pa.Table) -> pa.Array:
        """``behaviour_score`` per row: probability of paying next, integer basis points."""
        return pa.array(probability_to_bp(self.probabilities(table)), pa.int32())

    def score_table(self, table: pa.Table) -> pa.Table:
        """``account_ref`` (and ``month`` when present) with ``behaviour_score``."""
        keep = [c for c in ("account_ref", "month") if c in table.column_names]
        return table.select(keep).append_column(SCORE_COLUMN, self.score(table))


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_model(model: BehaviourModel, root: str | Path) -> Path:
    """Write ``<root>/<name>/<version>/``; refuse if that version exists (versions are immutable).
    The directory appears whole or not at all (written aside, then renamed)."""
    name, version = model.card.get("name", ""), model.card.get("version", "")
    if not _NAME_RE.fullmatch(name):
        raise ModelError(f"model name {name!r} must be 1-64 lower-case letters, digits, '_' or '-'")
    if not _VERSION_RE.fullmatch(version) or set(version) == {"."}:
        raise ModelError(f"model version {version!r} must be 1-64 letters, digits, '.', '_' or '-'")
    parent = Path(root) / name
    target = parent / version
    if target.exists():
        raise ModelError(f"model {name} version {version} already exists at {target}: versions are immutable, "
                         "train under a new version")
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=parent))
    try:
        text = model.booster.model_to_string()
        (staging / MODEL_FILE).write_text(text, encoding="utf-8")
        card = dict(model.card)
        card["model_sha256"] = hashlib.sha256(text.encode("utf-8")).hexdigest()
        (staging / CARD_FILE).write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        if target.exists():  # someone else saved it meanwhile
            raise ModelError(f"model {name} version {version} already exists at {target}")
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    model.card, model.path = card, target
    return target


def load_model(path: str | Path, *, num_threads: int = DEFAULT_THREADS) -> BehaviourModel:
    """Load ``<root>/<name>/<version>/``, checking the model file against the card."""
    import lightgbm as lgb

    path = Path(path)
    card_path, model_path = path / CARD_FILE, path / MODEL_FILE
    if not card_path.is_file() or not model_path.is_file():
        raise ModelError(f"{path} is not a model directory (needs {CARD_FILE} and {MODEL_FILE})")
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise ModelError(f"{card_path}: unreadable card: {exc}") from None
    if _sha256_file(model_path) != card.get("model_sha256"):
        raise ModelError(f"{model_path} does not match the SHA-256 in its card: the artefact was changed")
    booster = lgb.Booster(model_str=model_path.read_text(encoding="utf-8"))
    return BehaviourModel(booster, card, path, num_threads)
