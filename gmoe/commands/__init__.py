"""The commands of the ``gmoe`` command line (:mod:`gmoe.cli`): ``fit``
(``_fit``), ``demo`` (``_demo``) and ``simulate`` (``_simulate``).  Each
exposes ``add_parser(subparsers)``.  The top layer: imports anything below.
"""
