"""How many experts: information criteria and split starts (``_selection``),
the bootstrap likelihood-ratio test, and the dendrogram of merged mixing
measures (``_dendrogram``).  Imports the estimator and everything below it.
"""
