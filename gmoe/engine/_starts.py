"""Starting responsibilities of a search: k-means, random, random partitions,
random lines and local lines on the standardised ``(x, y)``, by name
(:data:`INITIALIZERS`), and the cycle of them that ``init_params="auto"`` runs
(:data:`AUTO_CYCLE`)."""

import numpy as np
from sklearn.cluster import KMeans


def _kmeans_responsibilities(Z, w, k, rng):
    """Hard responsibilities from k-means on the standardised ``(X, y)``."""
    labels = KMeans(n_clusters=k, n_init=1, random_state=rng).fit(
        Z, sample_weight=w
    ).labels_
    return np.eye(k)[labels]


def _random_responsibilities(Z, w, k, rng):
    """Responsibilities drawn uniformly at random and normalised per sample."""
    resp = rng.uniform(size=(Z.shape[0], k))
    return resp / resp.sum(axis=1, keepdims=True)


def _partition_responsibilities(Z, w, k, rng):
    """A random partition: each sample wholly to an expert drawn uniformly."""
    return np.eye(k)[rng.randint(k, size=Z.shape[0])]


def _lines_responsibilities(Z, w, k, rng):
    """Random lines: each expert fitted to ``d + 2`` random samples, each sample
    given to the expert whose line passes closest to it.

    ``Z`` is ``(x, y)`` standardised; the lines are least-squares fits of y on x
    through their few samples, so the starts differ in slope and intercept and
    cover regimes that k-means on the ``(x, y)`` cloud merges.
    """
    n, d1 = Z.shape
    design = np.column_stack([np.ones(n), Z[:, :-1]])
    y = Z[:, -1]
    positive = np.flatnonzero(w > 0)
    size = min(d1 + 1, positive.size)
    residuals = np.empty((n, k))
    for i in range(k):
        rows = rng.choice(positive, size=size, replace=False)
        coef = np.linalg.lstsq(design[rows], y[rows], rcond=None)[0]
        residuals[:, i] = np.abs(y - design @ coef)
    return np.eye(k)[np.argmin(residuals, axis=1)]


def _local_lines_responsibilities(Z, w, k, rng):
    """Local lines: each expert fitted to a random sample and its nearest
    neighbours in the standardised ``(x, y)``, each sample given to the expert
    under whose line (with the residual variance of its neighbourhood) it is
    most likely.

    A neighbourhood holds ``max(d + 3, n / (4 k))`` samples, so that a line follows
    a dense stretch of the data (a regime, or many tied responses) rather than a
    chance pair of points; its own residual variance lets a tight line (tied
    responses) claim only the samples it fits.
    """
    n, d1 = Z.shape
    design = np.column_stack([np.ones(n), Z[:, :-1]])
    y = Z[:, -1]
    positive = np.flatnonzero(w > 0)
    size = min(max(d1 + 2, positive.size // (4 * k)), positive.size)
    log_density = np.empty((n, k))
    for i in range(k):
        centre = Z[rng.choice(positive)]
        distance = np.sum((Z[positive] - centre) ** 2, axis=1)
        rows = positive[np.argsort(distance, kind="stable")[:size]]
        coef = np.linalg.lstsq(design[rows], y[rows], rcond=None)[0]
        local = y[rows] - design[rows] @ coef
        var = max(local @ local / max(size - d1, 1), 1e-6)
        resid = y - design @ coef
        log_density[:, i] = -0.5 * (np.log(var) + resid**2 / var)
    return np.eye(k)[np.argmax(log_density, axis=1)]


#: Initialisation strategies by name: ``f(Z, w, k, rng) -> resp (n, k)`` where
#: ``Z`` (n, d + 1) is the standardised ``(X, y)``.
INITIALIZERS = {
    "kmeans": _kmeans_responsibilities,
    "random": _random_responsibilities,
    "partition": _partition_responsibilities,
    "lines": _lines_responsibilities,
    "local": _local_lines_responsibilities,
}

#: The kinds of start that ``init_params="auto"`` cycles through, start by start.
AUTO_CYCLE = ("kmeans", "lines", "random", "local",
              "partition", "lines", "random", "local")
