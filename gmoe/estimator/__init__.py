"""The scikit-learn estimator :class:`gmoe.GaussianMoERegressor`
(``_estimator``) and its helpers.  Imports the engine, inference, theory, the
model, the gates and :mod:`gmoe.datasets`.
"""
