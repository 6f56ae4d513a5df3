"""The theory's objects: mixing measures (``_measure``; ``_voronoi_gaussian``
for the Gaussian gate), Voronoi cells and losses (``_voronoi``, with the atoms
of ``_voronoi_atoms`` and the search of ``_voronoi_search``).  Imports the
model, the gates and :mod:`gmoe.datasets`.
"""
