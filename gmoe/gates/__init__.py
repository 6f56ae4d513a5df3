"""Gates: how a mixture of experts weighs its experts at x.

Every gate is a softmax over per-expert scores (:class:`Gate`); the fitting
engine asks a gate for its scores, their derivatives with respect to each
expert's parameters, and which parameter directions leave the weights unchanged
(its gauge), and nothing else.  Strings name the gates' defaults:

====================  ==========================================================
``"softmax"``         :class:`Softmax`, ``exp(beta_0i + beta_1i' x)``
``"constant"``        :class:`Constant`, weights free of x (mixture of regressions)
``"sigmoid"``         :class:`Sigmoid`, normalised sigmoid of a linear predictor
``"cosine"``          :class:`Cosine`, perturbed cosine router (``theta = 0.1``)
``"laplace"``         :class:`Laplace`, ``exp(-|w_i - x| + b_i)``
``"top_k"``           :class:`TopK`, softmax over the K largest scores (K = 2)
``"top_p"``           :class:`TopP`, softmax over the smallest set of weight >= p
``"gaussian"``        :class:`Gaussian`, ``pi_i N(x; c_i, Gamma_i)`` (conditional
                      likelihood; ``Gaussian("joint")`` for that of ``(x, y)``)
====================  ==========================================================
"""

from collections.abc import Mapping

from gmoe.gates._base import Gate, log_softmax_active, log_softmax_groups
from gmoe.gates._distance import Cosine, Laplace
from gmoe.gates._gaussian import Gaussian
from gmoe.gates._linear import Constant, Sigmoid, Softmax
from gmoe.gates._shared import SharedRouted, shared_routed
from gmoe.gates._sparse import TopK, TopP

#: The gates by name: ``GATES[name]()`` is the gate with its default options.
GATES = {gate.name: gate for gate in (Softmax, Constant, Sigmoid, Cosine, Laplace,
                                      TopK, TopP, Gaussian)}


def get_gate(gate, likelihood="conditional"):
    """The gate object for a name of :data:`GATES`, a :class:`Gate` instance or a
    dict of a name and options (what :func:`gate_spec` writes), fitted by
    ``likelihood``.

    ``likelihood`` (``"conditional"`` or ``"joint"``) sets the likelihood of a
    gate given by its name (``get_gate("gaussian", "joint")``); a gate object
    carries its own, and ``likelihood`` must then be left at
    ``"conditional"`` or agree with it.

    Examples
    --------
    >>> get_gate("constant")
    Constant()
    >>> get_gate({"name": "cosine", "perturbation": 0.2})
    Cosine(perturbation=0.2)
    >>> get_gate("gaussian", "joint")
    Gaussian(likelihood='joint')
    >>> get_gate("nonsense")
    Traceback (most recent call last):
    ...
    ValueError: gate='nonsense' is not a known gate; use one of ['constant', \
'cosine', 'gaussian', 'laplace', 'sigmoid', 'softmax', 'top_k', 'top_p'] or a \
gmoe.gates.Gate instance.
    """
    if isinstance(gate, Gate):
        if likelihood not in ("conditional", gate.likelihood):
            raise ValueError(
                f"likelihood={likelihood!r} disagrees with gate={gate!r}; set the "
                "likelihood on the gate object or leave likelihood='conditional'.")
        return gate
    if isinstance(gate, str) and gate in GATES:
        return GATES[gate]().with_likelihood(likelihood)
    if isinstance(gate, Mapping) and gate.get("name") in GATES:
        options = {key: value for key, value in gate.items() if key != "name"}
        return GATES[gate["name"]](**options)
    raise ValueError(f"gate={gate!r} is not a known gate; use one of "
                     f"{sorted(GATES)} or a gmoe.gates.Gate instance.")


def gate_spec(gate):
    """A gate as plain data: its name, or a dict of its name and options.

    Examples
    --------
    >>> gate_spec(Cosine(0.2)), gate_spec(Softmax())
    ({'name': 'cosine', 'perturbation': 0.2}, 'softmax')
    """
    options = dict(vars(gate))
    return {"name": gate.name, **options} if options else gate.name


def same_gate(a, b):
    """Whether two gate objects are the same model (class and options).

    Examples
    --------
    >>> same_gate(Cosine(0.1), Cosine(0.1)), same_gate(Cosine(0.1), Cosine(0.0))
    (True, False)
    """
    return type(a) is type(b) and (a == b or vars(a) == vars(b))


__all__ = ["GATES", "Constant", "Cosine", "Gate", "Gaussian", "Laplace",
           "SharedRouted", "Sigmoid", "Softmax", "TopK", "TopP", "gate_spec",
           "get_gate", "log_softmax_active", "log_softmax_groups", "same_gate",
           "shared_routed"]
