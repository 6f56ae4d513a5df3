"""The cache of a rate study: one small JSON file per finished fit, written
atomically as it arrives, keyed by the study's description."""

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from gmoe.simulation._spec import CACHE_FORMAT
from gmoe.simulation._truth import (
    NEAR_TRUTH_NOISE,  # noqa: F401 (re-exported)
)


def _jsonable(value):
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _fit_description(spec):
    """Everything that changes a fit, except k, n and the replication."""
    from gmoe import __version__

    return _jsonable({
        "cache_format": CACHE_FORMAT,
        "gmoe_version": __version__,
        "truth": spec["truth"],
        "random_state": spec["entropy"],
        "fit": spec["fit"],
    })


def study_key(spec):
    """Hex digest identifying the fits of a study (see :func:`run_rate_study`)."""
    text = json.dumps(_fit_description(spec), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _loss_key(loss):
    return json.dumps(_jsonable(loss), sort_keys=True)


class _Cache:
    """A folder of finished fits: ``<root>/<study key>/k<k>/n<n>_r<rep>.json``."""

    def __init__(self, root, spec):
        self.folder = Path(root) / study_key(spec)
        self.folder.mkdir(parents=True, exist_ok=True)
        description = self.folder / "study.json"
        if not description.exists():
            self._write(description, json.dumps(_fit_description(spec), indent=2,
                                                sort_keys=True))

    def path(self, k, n, replication):
        return self.folder / f"k{k}" / f"n{n}_r{replication}.json"

    def load(self, k, n, replication):
        path = self.path(k, n, replication)
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def store(self, record):
        path = self.path(record["k"], record["n"], record["replication"])
        path.parent.mkdir(parents=True, exist_ok=True)
        self._write(path, json.dumps(record))

    @staticmethod
    def _write(path, text):
        handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(handle, "w") as stream:
                stream.write(text)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
