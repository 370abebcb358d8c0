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


def _steps(job: str) -> list[str]:
    """The steps of one job of the workflow, each as its text (no YAML parser needed:
    a step starts at '      - ' under the job)."""
    text = WORKFLOW.read_text()
    body = re.search(rf"^  {job}:\n(.*?)(?=^  \S|\Z)", text, re.S | re.M).group(1)
    return re.split(r"^      - ", body.split("    steps:\n", 1)[1], flags=re.M)[1:]


def test_the_gate_step_writes_its_outputs_and_the_steps_after_it_post_them_whatever_the_verdict():
    steps = _steps("merge")
    (gate,) = [s for s in steps if "python -m conformance gate" in s]
    args = parser().parse_args(shlex.split(re.search(r"python -m conformance (gate .+)", gate).group(1)))
    assert args.markdown and args.junit and args.json and "id: gate" in gate
    after = steps[steps.index(gate) + 1:]
    assert after and all("always() && steps.gate.outcome != 'skipped'" in s for s in after)
    posted = "\n".join(after)
    assert f'cat {args.markdown} >> "$GITHUB_STEP_SUMMARY"' in posted
    upload = next(s for s in after if "actions/upload-artifact" in s)
    folder = re.search(r"path: (\S+) }", upload).group(1)
    assert all(Path(p).parent == Path(folder) for p in (args.markdown, args.junit, args.json))
    comment = next(s for s in after if "gh pr comment" in s)
    assert f"--body-file {args.markdown}" in comment and "github.event_name == 'pull_request'" in comment
    assert "GH_TOKEN: ${{ github.token }}" in comment
    assert "pull-requests: write" in WORKFLOW.read_text().split("  merge:")[1]


def test_a_labelled_pull_request_reaches_the_gate():
    """The comment step is for pull requests: the sharded run must be able to run on one."""
    shard = re.search(r"^  shard:\n    if: (.+)$", WORKFLOW.read_text(), re.M).group(1)
    assert "contains(github.event.pull_request.labels.*.name, 'conformance-gate')" in shard
    assert "labeled" in re.search(r"pull_request:\n    types: \[(.+)\]", WORKFLOW.read_text()).group(1)
