"""Sphinx extension: the command-line reference, generated from the argparse parser.

``.. cli-reference::`` (MyST: ```` ```{cli-reference} ````) calls
:func:`symphase.cli.build_parser` at build time and renders the top-level
``symphase --help`` and every subcommand's ``format_help()`` as a literal
block under its own section, so the reference cannot drift from the code.
"""
from __future__ import annotations

import argparse
import os

from docutils import nodes
from docutils.parsers.rst import Directive

#: Width of the rendered help (argparse reads ``COLUMNS``): fixed so the page does not
#: depend on the terminal the docs were built in.
WIDTH = "88"


def _subcommands(parser: argparse.ArgumentParser) -> dict:
    """``{name: sub-parser}`` of the parser's sub-commands, in the order they were added."""
    for action in parser._actions:  # argparse has no public accessor for sub-parsers
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _help(parser: argparse.ArgumentParser) -> str:
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        return parser.format_help()
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


class CliReference(Directive):
    """Render ``symphase --help`` and ``symphase COMMAND --help`` for every command."""

    has_content = False

    def run(self):
        try:
            from symphase.cli import build_parser

            parser = build_parser()
        except Exception as exc:  # noqa: BLE001  (a broken command module: one build error, not a Sphinx crash)
            msg = f"cli-reference: symphase.cli.build_parser() failed: {type(exc).__name__}: {exc}"
            return [self.state.document.reporter.error(msg, line=self.lineno)]
        out = []
        top = nodes.literal_block(text=_help(parser))
        top["language"] = "text"
        out.append(top)
        for name, sub in _subcommands(parser).items():
            section = nodes.section(ids=[f"cli-{name}"], names=[f"symphase {name}"])
            section += nodes.title(text=f"symphase {name}")
            block = nodes.literal_block(text=_help(sub))
            block["language"] = "text"
            section += block
            out.append(section)
        return out


def setup(app):
    app.add_directive("cli-reference", CliReference)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
