"""What defines the model apart from its gates: the conditional distribution of
y given x (``_conditional``), the canonical order of the experts and the rule
that compares fits (``_order``), and the parameter layouts of the mixing
measures (``_measure_params``).  Imports the gates, the kernels and
:mod:`gmoe.datasets` only.
"""
