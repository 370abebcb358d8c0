"""A run split with --shard K/N and joined with merge holds exactly the records of
the unsharded run; shards of different runs, or a shard missing or given twice,
are refused with one message."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance import cells as cells_module, profiles, shards
from conformance.cli import main

RUN = ["run", "--frameworks", "numpy", "--losses", "mse,l1,bce,nll,huber", "--profile", "quick",
       "--isolation", "none"]


def _lines(directory: Path, name: str) -> list[str]:
    return sorted((directory / name).read_text().splitlines())


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("shards")
    out = {"whole": root / "whole", "1": root / "s1", "2": root / "s2", "3": root / "s3"}
    assert main([*RUN, "--out", str(out["whole"])]) == 0
    for k in ("1", "2", "3"):
        assert main([*RUN, "--shard", f"{k}/3", "--out", str(out[k])]) == 0
    return out


def test_the_deal_gives_each_loss_to_exactly_one_shard_and_balances_the_cells():
    cells = cells_module.cells(None, profiles.get("default"))
    dealt = shards.deal(cells, 4)
    losses = [loss for shard in dealt for loss in shard]
    assert sorted(losses) == sorted({c.loss for c in cells})
    sizes = [len(shards.select(cells, k, 4)) for k in range(1, 5)]
    assert sum(sizes) == len(cells)
    assert max(sizes) - min(sizes) <= max(sum(c.loss == loss for c in cells) for loss in losses)
    assert dealt == shards.deal(cells, 4)


@pytest.mark.slow
def test_merged_shards_hold_exactly_the_records_of_the_whole_run(runs, tmp_path, capsys):
    metas = [json.loads((runs[k] / "run.json").read_text()) for k in ("1", "2", "3")]
    assert [m["shard"] for m in metas] == [{"index": k, "count": 3} for k in (1, 2, 3)]
    assert not set(metas[0]["losses"]) & set(metas[1]["losses"])
    merged = tmp_path / "merged"
    assert main(["merge", str(runs["1"]), str(runs["3"]), str(runs["2"]), "--out", str(merged)]) == 0
    assert _lines(merged, "results.jsonl") == _lines(runs["whole"], "results.jsonl")
    assert _lines(merged, "cases.jsonl") == _lines(runs["whole"], "cases.jsonl")
    meta = json.loads((merged / "run.json").read_text())
    whole = json.loads((runs["whole"] / "run.json").read_text())
    assert meta["counts"] == whole["counts"] and meta["losses"] == whole["losses"]
    assert [s["index"] for s in meta["shards"]] == [1, 2, 3]
    assert (merged / "report.html").is_file()
    assert "3 shard(s)" in capsys.readouterr().out


@pytest.mark.parametrize("bad", ["0/3", "4/3", "1/0", "a/b", "2"])
def test_a_bad_shard_is_refused_before_anything_runs(bad, tmp_path, capsys):
    assert main([*RUN, "--shard", bad, "--out", str(tmp_path / "x")]) == 2
    assert "--shard expects K/N" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_merge_refuses_what_is_not_one_whole_run(runs, tmp_path, capsys):
    def refused(*dirs: Path, extra: tuple = ()) -> str:
        assert main(["merge", *map(str, dirs), "--out", str(tmp_path / "m"), *extra]) == 2
        return capsys.readouterr().err
    assert "shard(s) 2/3 missing" in refused(runs["1"], runs["3"])
    assert "2/3 given more than once" in refused(runs["1"], runs["2"], runs["2"], runs["3"])
    assert "not written with --shard" in refused(runs["1"], runs["whole"])
    other = tmp_path / "other-seed"
    assert main([*RUN, "--shard", "2/3", "--seed", "9", "--out", str(other)]) == 0
    assert "seed is 9 there, 0 in" in refused(runs["1"], other, runs["3"])
    assert not (tmp_path / "m").exists()
    assert main(["merge", str(runs["1"]), str(runs["3"]), "--partial", "--out", str(tmp_path / "p")]) == 0
    assert json.loads((tmp_path / "p" / "run.json").read_text())["missing_shards"] == [2]
