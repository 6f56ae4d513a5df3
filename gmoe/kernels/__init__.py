"""Compiled (numba) kernels: the passes over the samples of EM, the
log-likelihood and its Hessian, for the dense softmax gate (``_em``,
``_hessian``) and for any gate given by its scores (``_sources``, ``_scores``,
``_distance``); the numba settings (``_numba_config``) and the warm-up
(``_compile``).  Arrays in, arrays out: nothing here imports the rest of gmoe.
"""
