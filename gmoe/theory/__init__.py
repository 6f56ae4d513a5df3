"""The theory's objects: mixing measures (``_measure``; ``_voronoi_gaussian``
for the Gaussian gate), Voronoi cells and losses (``_voronoi``, with the atoms
of ``_voronoi_atoms`` and the search of ``_voronoi_search``), and the measure of
shared and routed experts (``_shared_measure``) with its losses
(``_voronoi_shared``).  Imports the
model, the gates and :mod:`gmoe.datasets`.
"""
