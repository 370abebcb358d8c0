"""The example CI workflow (.ci/workflows/conformance.yml) only uses commands and
options that exist: each `python -m conformance ...` line parses with the real CLI."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

from conformance.cli import parser

WORKFLOW = Path(__file__).resolve().parents[1] / ".ci" / "workflows" / "conformance.yml"


def test_every_conformance_command_in_the_example_workflow_parses():
    lines = re.findall(r"python -m conformance (.+)", WORKFLOW.read_text())
    assert {line.split()[0] for line in lines} >= {"run", "merge", "gate"}
    for line in lines:
        words = shlex.split(re.sub(r"\$\{\{[^}]*\}\}", "1", line.replace('"$PROFILE"', "ci")))
        parser().parse_args(words)            # SystemExit (a failure) on an unknown option
    assert "--shard 1/4" in re.sub(r"\$\{\{ matrix.shard \}\}", "1", WORKFLOW.read_text())
