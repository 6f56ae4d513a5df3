"""Inference on a fitted mixture of experts: standard errors, intervals and
the summary table (``_inference``), and how the gate uses the experts
(``_routing``).  Imports the engine, the model, the gates and
:mod:`gmoe.datasets`; the estimator imports it for its ``summary`` and
``inference`` methods.
"""
