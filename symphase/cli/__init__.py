"""The ``symphase`` command line: ``symphase COMMAND [options]`` (also ``python -m symphase``).

Each command lives in its own module of this package with ``register(sub)``
(add its sub-parser) and ``run(args)`` (do it, return the exit code). Bad
input prints one line and exits 2, a numerical failure one line and exits 1,
with no traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from .._results import SymphaseError
from .._version import __version__

# command name -> module of this package
COMMANDS = {
    "ode": "ode",
    "simulate": "simulate",
    "sweep": "sweep",
    "reproduce": "reproduce",
    "fixed-point": "fixed_point",
    "curvature": "curvature",
    "escape-time": "escape_time",
}


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse's default prints usage too)
        raise UsageError(message)


def build_parser() -> Parser:
    parser = Parser(prog="symphase", description="Statistical mechanics of online learning in soft committee "
                    "machines, with and without batch normalization.")
    parser.add_argument("--version", action="version", version=f"symphase {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for module in COMMANDS.values():
        importlib.import_module(f".{module}", __name__).register(sub)
    return parser


def main(argv=None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the exit code:
    0 success, 1 a numerical failure or a run that did not complete, 2 bad input, 130 Ctrl-C
    (a run interrupted by Ctrl-C keeps, prints and with ``--out`` saves what it computed)."""
    try:
        args = build_parser().parse_args(argv)
        return int(args.run(args) or 0)
    except SymphaseError as exc:  # a numerical failure, not bad input
        print(f"symphase: failed: {exc}", file=sys.stderr)
        return 1
    except (UsageError, ValueError, TypeError, NotImplementedError) as exc:
        print(f"symphase: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # outside a run (a run keeps its partial result and returns it)
        print("symphase: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("symphase: failed: out of memory: the run's arrays do not fit (lower what sizes them: --points, "
              "--samples, --seeds, --workers, N or K)", file=sys.stderr)
        return 1
    except BrokenPipeError:  # output piped into e.g. `head`: stop quietly, like other Unix tools
        import os
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except OSError as exc:  # e.g. the disk filled up while saving (after BrokenPipeError, its subclass)
        print(f"symphase: failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
