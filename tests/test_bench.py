"""python -m conformance bench: figures per framework from a fresh process."""
from __future__ import annotations

import json

import pytest

from conformance import bench
from conformance.cli import main


@pytest.mark.slow
def test_measure_gives_every_figure_and_a_floor_below_the_suite():
    row = bench.measure("numpy", "float32", repeat=1)
    assert row["cases"] == len(bench.bench_cases()) > 100
    for key in ("import_s", "cold_s", "suite_s", "floor_s", "peak_mb"):
        assert row[key] >= 0, key
    assert 0 < row["floor_s"] < row["suite_s"]            # the oracle and the compare cost something
    assert abs(row["ratio"] - row["suite_s"] / row["floor_s"]) < 0.1 * row["ratio"]   # from unrounded times
    assert row["cases_per_s"] > 0
    assert 0 < row["oracle_s"] < row["suite_s"]           # part of the suite's pass, not more
    assert abs(row["bound"] - (row["oracle_s"] + row["floor_s"]) / row["floor_s"]) < 0.1 * row["bound"]
    assert 1 < row["bound"] <= row["ratio"] * 1.1          # no per-case suite beats the oracle plus the call


@pytest.mark.slow
def test_the_bench_command_prints_the_table_and_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--frameworks", "numpy", "--repeat", "1", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "floor_s" in text and "ratio" in text and "bound" in text and "numpy" in text
    (row,) = json.loads(out.read_text())
    assert row["framework"] == "numpy" and row["process_s"] > 0


@pytest.mark.slow
def test_prepare_runs_the_same_computation_as_run():
    from conformance import frameworks
    from conformance import oracle as oracles
    adapter = frameworks.get("numpy")
    case = bench.bench_cases()[0]
    o = oracles.oracle(case, "float32")
    wrt = oracles.differentiable(case, o)
    direct, prepared = adapter.run(case, o.arrays, "float32", "cpu", wrt), adapter.prepare(case, o.arrays,
                                                                                           "float32", "cpu", wrt)()
    assert (direct.value == prepared.value).all()
    assert direct.grads.keys() == prepared.grads.keys()


def test_an_unknown_framework_or_dtype_exits_2(capsys):
    assert main(["bench", "--frameworks", "mxnet"]) == 2
    assert main(["bench", "--dtype", "float8"]) == 2
    assert "unknown" in capsys.readouterr().err


def test_a_compile_key_is_the_loss_reduction_flags_and_shapes_not_the_values():
    import numpy as np

    from conformance import compile_keys
    from conformance.vocab.case import Case

    def case(x, reduction="mean", **params):
        return Case("mse", "plain", reduction, {"input": np.asarray(x, float), "target": np.zeros(np.shape(x))},
                    params)
    assert compile_keys.key(case([1.0, 2.0])) == compile_keys.key(case([3.0, -4.0]))      # values: one executable
    assert compile_keys.key(case([1.0, 2.0])) != compile_keys.key(case([1.0, 2.0, 3.0]))  # a new shape compiles
    assert compile_keys.key(case([1.0])) != compile_keys.key(case([1.0], "sum"))
    assert compile_keys.key(case([1.0], log_input=True)) != compile_keys.key(case([1.0], log_input=False))
    assert compile_keys.key(case([1.0], margin=0.5)) == compile_keys.key(case([1.0], margin=2.0))  # traced


def test_the_compile_key_count_of_a_profile(capsys):
    from conformance import compile_keys, profiles
    found = compile_keys.count(profiles.get("quick"), ("mse", "cross_entropy"))
    sources = found["by_source"]
    assert {"edge", "generated"} <= set(sources)
    assert all(0 < v["keys"] <= v["cases"] for v in sources.values())
    assert max(v["keys"] for v in sources.values()) <= found["keys"] <= sum(v["keys"] for v in sources.values())
    assert found["executables"] == found["keys"] * 2                                   # quick: two dtypes
    assert main(["bench", "--compile-keys", "nonesuch"]) == 2
    assert "unknown profile" in capsys.readouterr().err
