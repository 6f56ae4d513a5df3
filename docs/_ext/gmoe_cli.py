"""Sphinx directive that shows the ``--help`` text of the ``gmoe`` command.

``.. gmoe-cli-help::`` shows ``gmoe --help``; ``.. gmoe-cli-help:: demo`` shows
``gmoe demo --help``.  The text comes from the argument parser itself
(:func:`gmoe.cli.build_parser`), so the pages cannot fall behind the code.
"""

import argparse
import os

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

#: Width of the rendered help, in characters.
HELP_WIDTH = 79


def command_help(command=None):
    """The help text of ``gmoe`` or of ``gmoe <command>``."""
    from gmoe.cli import build_parser

    parser = build_parser()
    if command is not None:
        actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        choices = actions[0].choices if actions else {}
        if command not in choices:
            raise ValueError(
                f"'gmoe {command}' is not a command of gmoe.cli; the commands are "
                f"{sorted(choices)}."
            )
        parser = choices[command]
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(HELP_WIDTH)
    try:
        return parser.format_help()
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


class GmoeCliHelp(SphinxDirective):
    """Insert the help text of a ``gmoe`` command as a literal block."""

    optional_arguments = 1
    has_content = False

    def run(self):
        command = self.arguments[0] if self.arguments else None
        try:
            text = command_help(command)
        except ValueError as exc:
            raise self.error(str(exc)) from None
        block = nodes.literal_block(text, text)
        block["language"] = "text"
        return [block]


def setup(app):
    app.add_directive("gmoe-cli-help", GmoeCliHelp)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
