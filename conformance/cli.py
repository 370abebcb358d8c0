"""Command line: python -m conformance {run,report,bench,list,baseline,gate,diff,merge,corpus,docs}.

Each subcommand is a module of conformance/commands/; this module wires them and
turns every error a person can fix (an unknown loss, framework, dtype, device or
profile, an unreadable results directory or baseline, a full disk) into one
message and exit code 2. SIGTERM and Ctrl-C stop a command cleanly (exit 143 and
130); a run keeps what it has written.
"""
from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import threading
from typing import Any, Sequence

from adapters.base import AdapterContractError
from adapters.native_logs import quiet_tensorflow
from reports.gate import BaselineError

from . import corpus, profiles, shards, version
from .commands import bench, corpus as corpus_command, docs, gating, listing, merging, report, run
from .commands.options import EXIT_USAGE, Interrupted, UsageError
from .results import ResultsError
from .vocab import catalog
from .vocab.schema import SchemaError

COMMANDS = (run, report, bench, listing, gating, merging, corpus_command, docs)
#: errors that are the user's to fix: one line, exit 2
USAGE_ERRORS = (UsageError, ResultsError, BaselineError, corpus.CorpusError, shards.ShardError,
                profiles.UnknownProfile, catalog.UnknownLoss, SchemaError, AdapterContractError)


def program_name(argv0: str) -> str:
    """The command as the user typed it: ``python -m conformance`` or the console
    script's name (``conformance``, ``loss-conformance``)."""
    name = os.path.basename(argv0)
    return "python -m conformance" if name in ("__main__.py", "-m", "-c", "") else name


def parser(prog: str = "python -m conformance") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Differential conformance suite for loss functions.")
    p.add_argument("--version", action=_Version, nargs=0,
                   help="print the suite's version and the installed frameworks' and exit")
    sub = p.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.add(sub)
    return p


class _Version(argparse.Action):
    """Prints ``version.text`` as it is written (argparse's own action reflows it)."""

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        print(version.text(parser.prog))
        parser.exit()


def _interrupt(signum: int, _frame: Any) -> None:
    raise Interrupted(signum)


def main(argv: Sequence[str] | None = None) -> int:
    quiet_tensorflow()                  # before any command imports it, in this process or a worker
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser(program_name(sys.argv[0])).parse_args(argv)
    args.argv = argv
    # SIGTERM as an exception, so that what a command writes is cleaned up or kept whole
    previous = signal.signal(signal.SIGTERM, _interrupt) if threading.current_thread() is threading.main_thread() \
        else None
    try:
        return args.func(args)
    except (KeyboardInterrupt, Interrupted) as exc:
        name = "SIGINT" if isinstance(exc, KeyboardInterrupt) else str(exc)
        print(f"error: interrupted by {name}; {args.command} stopped", file=sys.stderr)
        return 130 if name == "SIGINT" else 128 + signal.SIGTERM
    except USAGE_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # an --out that is a file, an unreadable directory, a full disk ...
        why = "the disk is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
        print(f"error: {why}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return EXIT_USAGE
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
