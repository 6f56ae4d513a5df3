"""The fitting engine: the likelihood of a Gaussian mixture of experts and its
solvers, for the dense softmax gate (``_model``) and for any gate
(``_gated_model``); EM (``_em``), the Newton finish and its certificate
(``_newton``, ``_pieces`` for the sparse gates), the solver pipelines
(``_solvers``) and the start search (``_starts``, ``_search``).  Imports the
model, the gates and the kernels.
"""
