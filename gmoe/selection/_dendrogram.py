"""The dendrogram of mixing measures [DSC]: merge the atoms of one over-fitted
fit two at a time, and choose the number of experts from the merge heights and
the likelihoods of the merged models.

References
----------
.. [DSC] D. Do et al., "Dendrogram of mixing measures", arXiv 2403.01684, and its
   softmax-gated mixture-of-experts follow-up, arXiv 2510.12744.
"""

import numbers

import numpy as np

from gmoe.model._conditional import require_dense_gate
from gmoe.theory._measure import MixingMeasure

__all__ = ["DISTANCES", "MixingDendrogram", "check_mergeable", "dendrogram", "merge"]


# ---------------------------------------------------------- merge distances
def _pair_weight(beta0_i, beta0_j):
    """:math:`p_i p_j / (p_i + p_j) = 1 / (e^{-\\beta_{0i}} + e^{-\\beta_{0j}})`."""
    return float(np.exp(-np.logaddexp(-beta0_i, -beta0_j)))


def moe_distance(beta0_i, atom_i, beta0_j, atom_j):
    """Merge distance of the softmax-gated MoE follow-up of [DSC] (its code).

    .. math::

        \\frac{1}{e^{-\\beta_{0i}} + e^{-\\beta_{0j}}}
        \\left( (b_i - b_j)^2 + \\sqrt{\\|a_i - a_j\\|^2 +
        (\\sigma_i - \\sigma_j)^2} \\right)

    The gate slopes do not enter.  ``atom`` is a dict with ``gate_coef`` (d,),
    ``expert_intercept``, ``expert_coef`` (d,), ``expert_variance``.

    Examples
    --------
    >>> atom = dict(gate_coef=np.zeros(1), expert_intercept=0.0,
    ...             expert_coef=np.zeros(1), expert_variance=1.0)
    >>> other = dict(atom, expert_intercept=2.0)
    >>> moe_distance(0.0, atom, 0.0, other)  # (1 / 2) * 2 ** 2
    2.0
    """
    da = np.asarray(atom_i["expert_coef"]) - atom_j["expert_coef"]
    db = atom_i["expert_intercept"] - atom_j["expert_intercept"]
    dv = atom_i["expert_variance"] - atom_j["expert_variance"]
    return _pair_weight(beta0_i, beta0_j) * float(db**2 + np.sqrt(da @ da + dv**2))


def euclidean_distance(beta0_i, atom_i, beta0_j, atom_j):
    """Merge distance of [DSC] for mixtures (arXiv 2403.01684): the weight
    factor times the squared Euclidean distance of the whole atoms.

    .. math::

        \\frac{p_i p_j}{p_i + p_j} \\left( \\|\\beta_{1i} - \\beta_{1j}\\|^2 +
        \\|a_i - a_j\\|^2 + (b_i - b_j)^2 + (\\sigma_i - \\sigma_j)^2 \\right),
        \\qquad p = e^{\\beta_0}

    with :math:`\\beta_1` the gate part of the atom (every entry of the atom
    dict: the gate slopes, directions or centres; none for the constant gate).

    Examples
    --------
    >>> atom = dict(gate_coef=np.zeros(1), expert_intercept=0.0,
    ...             expert_coef=np.zeros(1), expert_variance=1.0)
    >>> other = dict(atom, gate_coef=np.ones(1), expert_intercept=2.0)
    >>> euclidean_distance(0.0, atom, 0.0, other)  # (1 / 2) * (1 + 4)
    2.5
    """
    total = 0.0
    for name in atom_i:
        diff = np.atleast_1d(np.asarray(atom_i[name]) - atom_j[name])
        total += float(diff @ diff)
    return _pair_weight(beta0_i, beta0_j) * total


#: The merge distances by name: ``f(beta0_i, atom_i, beta0_j, atom_j) -> float``.
DISTANCES = {"moe": moe_distance, "euclidean": euclidean_distance}


def _atoms_of(params):
    """The atoms as dicts: every parameter array but the intercepts (the first)."""
    names = list(params)[1:]
    k = len(params[names[0]])
    return [{name: np.asarray(params[name])[i] for name in names} for i in range(k)]


def _merged_atom(beta0_i, atom_i, beta0_j, atom_j):
    """Weight ``p_i + p_j`` (intercept ``log(p_i + p_j)``) and the weight-averaged
    gate part, expert coefficients and variance."""
    beta0 = float(np.logaddexp(beta0_i, beta0_j))
    s_i, s_j = np.exp(beta0_i - beta0), np.exp(beta0_j - beta0)
    atom = {name: s_i * np.asarray(atom_i[name]) + s_j * np.asarray(atom_j[name])
            for name in atom_i}
    return beta0, atom


def _as_params(gate, intercept, beta0s, atoms):
    """The gate's and the experts' parameter arrays of merged atoms given in the
    gate's identified parametrisation."""
    identified = {intercept: np.array(beta0s, dtype=float),
                  **{name: np.array([atom[name] for atom in atoms], dtype=float)
                     for name in atoms[0]}}
    return MixingMeasure.from_identified_params(gate=gate, **identified).to_params()


def check_mergeable(gate):
    """Raise a ValueError unless two atoms of ``gate`` can be merged into one.

    Merging needs scores that add the intercept :math:`\\beta_{0i}`
    (:meth:`gmoe.gates.Gate.additive_intercept`): then two experts with the same
    gate part act as one whose weight :math:`e^{\\beta_{0i}} + e^{\\beta_{0j}}`
    is the sum of theirs, and the merged atom's weight and weighted mean are
    that limit.  The atoms are those of a :class:`gmoe.MixingMeasure`: a dense
    gate whose attributes are ``gate_intercept`` (and ``gate_coef``); the
    sparse gates and the Gaussian gate have none here.
    """
    if gate.sparse or not set(gate.attributes) <= {"gate_intercept", "gate_coef"}:
        raise ValueError(
            f"merging mixing measures (the dendrogram, merge, DSC) is defined for the "
            f"dense gates of gmoe.MixingMeasure; gate={gate!r} has no such measure. "
            "Choose its number of experts with select_n_experts(..., "
            "criterion='bic') (or 'icl', 'aic') or bootstrap_lrt.")
    if not gate.additive_intercept():
        raise ValueError(
            f"merging mixing measures (the dendrogram, merge, DSC) needs a gate whose "
            f"scores add the intercept beta_0i, so that two experts with the same "
            f"gate part act as one of weight e^beta_0i + e^beta_0j; gate={gate!r} "
            "has none (for the normalised sigmoid gate, sigma(eta + b_i) + "
            "sigma(eta + b_j) is not a sigmoid of eta). Choose its number of "
            "experts with select_n_experts(..., criterion='bic') (or 'icl', "
            "'aic') or bootstrap_lrt.")


def _measure_of(source):
    """The mixing measure of an estimator, a measure or a dict of parameters."""
    if isinstance(source, MixingMeasure):
        return source
    if hasattr(source, "expert_variance_"):
        require_dense_gate(source, "merging mixing measures (the dendrogram, merge, "
                                   "DSC)")
        return MixingMeasure.from_estimator(source)
    if isinstance(source, dict):
        return MixingMeasure.from_dict(source)
    raise ValueError("expected a fitted GaussianMoERegressor, a MixingMeasure or a "
                     "dict of the parameters (as MixingMeasure.to_dict writes); got "
                     f"{type(source).__name__}.")


# ----------------------------------------------------------- the dendrogram
class MixingDendrogram:
    """The dendrogram of the mixing measure of one (over-)fitted model [DSC].

    Starting from the fitted measure :math:`G = \\sum_i e^{\\beta_{0i}}
    \\delta_{\\theta_i}` with ``K`` atoms, merge the two atoms of smallest merge
    distance (``distance``), K - 1 times, down to one atom.  The merged atom
    has weight :math:`p_i + p_j` (gate intercept :math:`\\log(p_i + p_j)`) and the
    weight-averaged gate part of the atoms (:attr:`gmoe.MixingMeasure.gate_atoms`:
    the softmax gate's slopes, the cosine gate's :math:`v_i = w_i / (\\|w_i\\| +
    \\theta)`, the Laplace gate's centres; none for the constant gate), expert
    coefficients and variance; the merged gate part is mapped back to the
    gate's attributes (:meth:`gmoe.MixingMeasure.from_identified_params`: an
    average of points of the cosine gate's unit ball stays in it).  Merging is
    defined for the gates whose scores
    add the intercept (:func:`check_mergeable`: softmax, constant, cosine,
    Laplace); the normalised sigmoid gate raises a ValueError.  The height
    :math:`h_\\kappa` is the distance of the merge from :math:`\\kappa` atoms to
    :math:`\\kappa - 1`.  With data, every level's model is scored and

    .. math::

        \\mathrm{DSC}(\\kappa) = -\\left( h_\\kappa + \\log n \\cdot
        \\frac{1}{n} \\sum_n \\log g_{G_\\kappa}(y_n \\mid x_n) \\right),
        \\qquad \\kappa = 2, \\dots, K,

    is minimised (kappa = 1 has no height, so DSC never chooses one expert).

    The weights :math:`p_i = e^{\\beta_{0i}}` depend on the translation of the
    gate (adding :math:`t_0` to every intercept multiplies every weight by
    :math:`e^{t_0}`; a translation of the gate parts changes neither the
    weights nor the merges, which are averages).  They are made comparable by
    translating the intercepts first so that one atom, the ``reference``, has
    gate intercept 0, in the original units of X and y.  The
    code of the MoE follow-up of [DSC] takes the last expert (``reference=-1``,
    also the convention of :class:`~gmoe.GaussianMoERegressor`).  The default
    here, ``"max"``, takes the atom of largest intercept (after that
    convention), so that every weight is at most 1 and every weight factor at
    most 1/2: over-fitted fits often have a nearly step gate whose other
    intercepts reach hundreds, and with the last expert as reference their
    weights (up to :math:`e^{300}`) make heights of that size, which then
    dominate DSC.  On ten experts fitted to three lines (n = 1000 to 5000,
    three data sets each) DSC with the gate weights chose 3 in 8 of 9 fits with
    ``"max"`` and 4 of 9 with ``-1``.  Even so, the gate weights :math:`e^{\\beta_{0i}}`
    are the gate odds at x = 0, which may lie far from the data: on the [N23]
    truth (k0 = 2, 4 experts fitted, n = 400 and 2000, two data sets each) DSC
    with gate weights chose 2 once in 4, with the data shares
    (``weights="proportion"``, the default when X is given) 4 times in 4, and
    on the three lines 8 of 9.  Heights, and hence DSC, depend on the units of
    X and y and on these choices.

    Parameters
    ----------
    estimator : GaussianMoERegressor, MixingMeasure or dict
        A fitted model (or its parameters, original units).
    X : array-like of shape (n_samples, n_features) or None, default=None
    y : array-like of shape (n_samples,) or None, default=None
        Data to score the levels on (DSC); None: the tree only.
    sample_weight : array-like of shape (n_samples,) or None, default=None
        Then the log-likelihoods are weighted and :math:`n = \\sum_n w_n`.
    distance : {"moe", "euclidean"} or callable, default="moe"
        ``"moe"``: :func:`moe_distance` (the MoE follow-up's last version);
        ``"euclidean"``: :func:`euclidean_distance` (the mixture paper's);
        a callable ``f(beta0_i, atom_i, beta0_j, atom_j) -> float``.
    weights : {"gate", "proportion"} or None, default=None
        None: ``"proportion"`` when X is given, else ``"gate"``.  The weights
        :math:`p_i` of the merge distance.  ``"gate"``:
        :math:`e^{\\beta_{0i}}` after the translation of ``reference`` (the
        theory's).  ``"proportion"``: the share of the data of each atom's gate,
        :math:`\\sum_n w_n \\pi_i(x_n) / \\sum_n w_n` (needs X), free of the
        translation and of where x = 0 lies; a merged atom's is the sum of its
        two.  The merged parameters are the same either way (averages with the
        gate weights, intercept :math:`\\log(e^{\\beta_{0i}} + e^{\\beta_{0j}})`).
    reference : int or "max", default="max"
        The atom whose gate intercept is translated to 0 first; ``"max"``: the
        atom of largest gate intercept.

    Attributes
    ----------
    n_atoms : int
        K, the atoms of the fitted measure.
    levels_ : dict of int to dict
        ``levels_[kappa]``: the parameter arrays (the gate's and the experts') of
        the merged measure with kappa atoms (``levels_[K]`` is the translated
        fit).
    members_ : dict of int to list of tuple
        ``members_[kappa][i]``: the original atoms merged into atom ``i``.
    heights_ : dict of int to float
        ``heights_[kappa]``: :math:`h_\\kappa`, kappa = 2..K.
    merges_ : list of dict
        In order: ``n_atoms`` (kappa before the merge), ``atoms`` (the two
        merged, as tuples of original atoms), ``height``.
    linkage_ : ndarray of shape (K - 1, 4)
        The merges as a :func:`scipy.cluster.hierarchy.linkage` matrix.
    log_likelihood_, mean_log_likelihood_ : dict of int to float
        Total and per-sample log-likelihood of each level on (X, y).
    dsc_ : dict of int to float
        DSC(kappa), kappa = 2..K.
    n_experts_ : int
        argmin of DSC (the fewer atoms on a tie).

    Examples
    --------
    >>> from gmoe import GaussianMoERegressor, MixingDendrogram
    >>> from gmoe.datasets import make_moe_regression
    >>> X, y = make_moe_regression(2000, random_state=0)
    >>> moe = GaussianMoERegressor(4, n_init=3, random_state=0).fit(X, y)
    >>> tree = MixingDendrogram(moe, X, y)
    >>> tree.n_experts_
    2
    >>> sorted(tree.dsc_)
    [2, 3, 4]
    """

    def __init__(self, estimator, X=None, y=None, *, sample_weight=None,
                 distance="moe", reference="max", weights=None):
        if isinstance(distance, str):
            if distance not in DISTANCES:
                raise ValueError(f"distance must be one of {sorted(DISTANCES)} or a "
                                 f"callable; got {distance!r}.")
            distance_fn = DISTANCES[distance]
        elif callable(distance):
            distance_fn = distance
        else:
            raise ValueError(f"distance must be one of {sorted(DISTANCES)} or a "
                             f"callable; got {distance!r}.")
        measure = _measure_of(estimator)
        check_mergeable(measure.gate)
        if isinstance(reference, str):
            if reference != "max":
                raise ValueError("reference must be an atom index or 'max'; got "
                                 f"{reference!r}.")
            intercept = measure.gate_intercept
            reference = int(np.argmax(intercept - intercept[-1]))
        if not isinstance(reference, numbers.Integral) or not (
                -measure.n_atoms <= reference < measure.n_atoms):
            raise ValueError(f"reference must be an atom index in [-{measure.n_atoms}"
                             f", {measure.n_atoms}) or 'max'; got {reference!r}.")
        measure = measure.translated(-float(measure.gate_intercept[reference]))
        # merge the atoms of the gate's identified parametrisation
        params = measure.identified_params()
        self.gate = measure.gate
        self.distance = distance
        self.reference = reference
        self.n_atoms = K = measure.n_atoms
        intercept = measure.gate.attributes[0]
        beta0s = list(params[intercept])
        atoms = _atoms_of(params)
        if weights is None:
            weights = "gate" if X is None else "proportion"
        if weights not in ("gate", "proportion"):
            raise ValueError("weights must be 'gate' or 'proportion'; got "
                             f"{weights!r}.")
        self.weights = weights
        if weights == "proportion":
            if X is None:
                raise ValueError("weights='proportion' needs X (the mean gate "
                                 "probabilities over X); pass X and y.")
            from gmoe.selection._common import _check_Xy

            Xc, _, wc = _check_Xy(X, np.zeros(len(X)), sample_weight)
            gate = measure.gate_probabilities(Xc)
            # log of the share of the data each atom's gate takes
            logp = list(np.log(np.maximum(wc @ gate / wc.sum(), 1e-300)))
        else:
            logp = list(beta0s)
        members = [(i,) for i in range(K)]
        nodes = list(range(K))
        self.levels_ = {K: _as_params(self.gate, intercept, beta0s, atoms)}
        self.members_ = {K: list(members)}
        self.heights_, self.merges_ = {}, []
        linkage = []
        next_node = K
        while len(atoms) > 1:
            kappa = len(atoms)
            best = (np.inf, 0, 1)
            for i in range(kappa):
                for j in range(i + 1, kappa):
                    h = float(distance_fn(logp[i], atoms[i], logp[j], atoms[j]))
                    if not np.isfinite(h) or h < 0:
                        raise ValueError(f"the merge distance gave {h!r} for atoms "
                                         f"{members[i]} and {members[j]}; it must "
                                         "be finite and non-negative.")
                    if h < best[0]:
                        best = (h, i, j)
            h, i, j = best
            beta0, atom = _merged_atom(beta0s[i], atoms[i], beta0s[j], atoms[j])
            merged = tuple(sorted(members[i] + members[j]))
            self.heights_[kappa] = h
            self.merges_.append({"n_atoms": kappa, "atoms": (members[i], members[j]),
                                 "height": h})
            linkage.append([nodes[i], nodes[j], h, len(merged)])
            log_weight = float(np.logaddexp(logp[i], logp[j]))
            for index in (j, i):
                del beta0s[index], atoms[index], members[index], nodes[index]
                del logp[index]
            # the merged atom takes the place of the first of the two
            logp.insert(i, log_weight)
            beta0s.insert(i, beta0)
            atoms.insert(i, atom)
            members.insert(i, merged)
            nodes.insert(i, next_node)
            next_node += 1
            self.levels_[kappa - 1] = _as_params(self.gate, intercept, beta0s, atoms)
            self.members_[kappa - 1] = list(members)
        self.linkage_ = np.array(linkage, dtype=float).reshape(-1, 4)
        self.log_likelihood_, self.mean_log_likelihood_ = {}, {}
        self.dsc_, self.n_experts_ = {}, None
        if y is not None:
            self.score(X, y, sample_weight=sample_weight)

    def score(self, X, y, sample_weight=None):
        """Score every level on (X, y): log-likelihoods, DSC and its argmin.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,) or None

        Returns
        -------
        self : MixingDendrogram
        """
        from gmoe.selection._common import _check_Xy

        X, y, w = _check_Xy(X, y, sample_weight)
        d = self.levels_[self.n_atoms]["expert_coef"].shape[1]
        if X.shape[1] != d:
            raise ValueError(f"X has {X.shape[1]} features but the model {d}.")
        n = float(w.sum())
        for kappa in self.levels_:
            total = float(w @ self.measure(kappa).log_density(X, y))
            self.log_likelihood_[kappa] = total
            self.mean_log_likelihood_[kappa] = total / n
        self.dsc_ = {kappa: -(self.heights_[kappa]
                              + np.log(n) * self.mean_log_likelihood_[kappa])
                     for kappa in sorted(self.heights_)}
        if self.dsc_:
            kappas = np.array(sorted(self.dsc_))
            values = np.array([self.dsc_[k] for k in kappas])
            self.n_experts_ = int(kappas[np.argmin(values)])
        return self

    def params(self, n_experts):
        """The merged parameters with ``n_experts`` atoms (original units).

        Parameters
        ----------
        n_experts : int
            1..K.

        Returns
        -------
        params : dict
            The gate's attributes (``gate_intercept`` (k,) and, but for the
            constant gate, ``gate_coef`` (k, d)), ``expert_intercept`` (k,),
            ``expert_coef`` (k, d), ``expert_variance`` (k,): usable as
            ``GaussianMoERegressor(n_experts, init_params=params, gate=gate)``.
        """
        if not isinstance(n_experts, numbers.Integral) or \
                n_experts not in self.levels_:
            raise ValueError(f"n_experts must be an integer from 1 to {self.n_atoms} "
                             f"(the atoms of the fit); got {n_experts!r}.")
        return {name: value.copy()
                for name, value in self.levels_[int(n_experts)].items()}

    def measure(self, n_experts):
        """The merged mixing measure with ``n_experts`` atoms.

        Returns
        -------
        G : MixingMeasure
        """
        return MixingMeasure.from_params(gate=self.gate, **self.params(n_experts))

    def estimator(self, n_experts):
        """A :class:`~gmoe.GaussianMoERegressor` holding the merged parameters
        as they are (no fit): it predicts and scores like a fitted model; its
        ``n_iter_`` is 0 and ``converged_`` False.

        Returns
        -------
        estimator : GaussianMoERegressor
        """
        from gmoe.estimator._estimator import GaussianMoERegressor

        params = self.params(n_experts)
        model = GaussianMoERegressor(int(n_experts), init_params=params,
                                     gate=self.gate)
        for name, value in params.items():
            setattr(model, name + "_", value)
        model.gate_ = self.gate
        model.n_features_in_ = params["expert_coef"].shape[1]
        model.converged_, model.n_iter_ = False, 0
        k = int(n_experts)
        model.degenerate_experts_ = np.zeros(k, dtype=bool)
        return model

    def refit(self, X, y, n_experts=None, *, sample_weight=None, **estimator_params):
        """Fit ``n_experts`` experts starting from the merged parameters.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        n_experts : int or None, default=None
            None: ``n_experts_`` (the DSC choice).
        sample_weight : array-like of shape (n_samples,) or None
        **estimator_params
            Passed to :class:`~gmoe.GaussianMoERegressor` (one start: the merge;
            the gate is the dendrogram's unless given).

        Returns
        -------
        estimator : GaussianMoERegressor
            Fitted.
        """
        from gmoe.estimator._estimator import GaussianMoERegressor

        if n_experts is None:
            if self.n_experts_ is None:
                raise ValueError("no DSC choice without data: pass n_experts, or "
                                 "build the dendrogram with X and y.")
            n_experts = self.n_experts_
        estimator_params.pop("n_init", None)
        estimator_params.setdefault("gate", self.gate)
        model = GaussianMoERegressor(int(n_experts),
                                     init_params=self.params(n_experts),
                                     **estimator_params)
        return model.fit(X, y, sample_weight=sample_weight)

    def table(self):
        """One row per level: ``n_experts``, ``height``, ``log_likelihood``,
        ``mean_log_likelihood``, ``dsc``, ``members``.

        Returns
        -------
        table : pandas.DataFrame
        """
        import pandas as pd

        rows = []
        for kappa in sorted(self.levels_, reverse=True):
            rows.append({"n_experts": kappa,
                         "height": self.heights_.get(kappa, np.nan),
                         "log_likelihood": self.log_likelihood_.get(kappa, np.nan),
                         "mean_log_likelihood": self.mean_log_likelihood_.get(
                             kappa, np.nan),
                         "dsc": self.dsc_.get(kappa, np.nan),
                         "members": self.members_[kappa]})
        return pd.DataFrame(rows)

    def plot(self, ax=None, *, labels=None):
        """Draw the dendrogram: the merges at their heights, the DSC cut.

        Parameters
        ----------
        ax : matplotlib Axes or None
            None: a new figure.
        labels : list of str or None
            One per fitted atom; None: ``"1"`` to ``"K"``.

        Returns
        -------
        ax : matplotlib Axes
        """
        import matplotlib.pyplot as plt
        from scipy.cluster.hierarchy import dendrogram as scipy_dendrogram

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.6))
        K = self.n_atoms
        labels = [str(i + 1) for i in range(K)] if labels is None else labels
        if K == 1:
            ax.text(0.5, 0.5, "one atom: nothing to merge", ha="center",
                    transform=ax.transAxes)
            return ax
        Z = self.linkage_.copy()
        # scipy draws a merge at its height; keep the drawing a tree when the
        # heights are not monotone by drawing each merge at the running maximum
        Z[:, 2] = np.maximum.accumulate(Z[:, 2])
        scipy_dendrogram(Z, labels=labels, ax=ax, color_threshold=0,
                         above_threshold_color="0.3")
        if self.n_experts_ is not None:
            kappa = self.n_experts_
            top = Z[K - kappa, 2]
            below = Z[K - kappa - 1, 2] if kappa < K else 0.0
            ax.axhline(0.5 * (top + below), color="C3", ls="--", lw=1,
                       label=f"DSC: {kappa} experts")
            ax.legend(fontsize=8)
        ax.set_xlabel("fitted atom")
        ax.set_ylabel("merge height")
        return ax


def dendrogram(estimator, X=None, y=None, **options):
    """The dendrogram of mixing measures of a fitted model; see
    :class:`MixingDendrogram` (same parameters).

    Returns
    -------
    tree : MixingDendrogram

    Examples
    --------
    >>> import gmoe
    >>> from gmoe.datasets import N23_TRUTH
    >>> G = gmoe.MixingMeasure.from_params(**N23_TRUTH)
    >>> tree = gmoe.dendrogram(G)
    >>> round(tree.heights_[2], 4)  # (400 + 40.00006) / (e^8 + 1)
    0.1476
    >>> tree.members_[1]
    [(0, 1)]
    """
    return MixingDendrogram(estimator, X, y, **options)


def merge(estimator, n_experts, *, distance="moe", reference="max", X=None,
          weights=None):
    """Merge the atoms of a fitted model down to ``n_experts`` (the dendrogram's
    level); the parameters as ``init_params`` for a refit.

    Parameters
    ----------
    estimator : GaussianMoERegressor, MixingMeasure or dict
    n_experts : int
        1..K.
    distance, reference, weights
        As in :class:`MixingDendrogram`.
    X : array-like of shape (n_samples, n_features) or None
        Needed for ``weights="proportion"``.

    Returns
    -------
    params : dict
        The parameter arrays (original units) of the merged measure: the
        gate's attributes and the experts'.

    Examples
    --------
    >>> import numpy as np
    >>> from gmoe.datasets import N23_TRUTH
    >>> doubled = {name: np.concatenate([v, v]) for name, v in N23_TRUTH.items()}
    >>> doubled["gate_intercept"] = doubled["gate_intercept"] - np.log(2)
    >>> merged = merge(doubled, 2)
    >>> bool(np.allclose(merged["expert_intercept"], [15.0, -5.0]))
    True
    """
    tree = MixingDendrogram(estimator, X, None, distance=distance,
                            reference=reference, weights=weights)
    return tree.params(n_experts)
