"""The ``gmoe`` command line: a thin layer over the library.

Each command lives in its own module of :mod:`gmoe.commands`, which exposes
``add_parser(subparsers)``; the parser it adds sets ``func`` to the function that runs
the command.
"""

import argparse
import sys

from gmoe import __version__
from gmoe.commands import _demo, _fit, _simulate

COMMANDS = [_demo, _fit, _simulate]


def build_parser():
    """The argument parser of the ``gmoe`` command."""
    parser = argparse.ArgumentParser(
        prog="gmoe",
        description=("Fit, simulate and study softmax-gated Gaussian mixtures of "
                     "experts."),
    )
    parser.add_argument("--version", action="version", version=f"gmoe {__version__}")
    subparsers = parser.add_subparsers(title="commands", dest="command", required=True)
    for module in COMMANDS:
        module.add_parser(subparsers)
    return parser


def main(argv=None):
    """Run the ``gmoe`` command with ``argv`` (default: ``sys.argv[1:]``)."""
    args = build_parser().parse_args(argv)
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
