"""Records the size and shape of a default-profile run, without running it: one record
per check of the committed baseline (reports/baselines/default-cpu.json.gz: every cell
of the default run, with how many checks ended in each outcome and the worst error).
What a test of the report's size and load time needs: the same losses, frameworks,
modes, dtypes, cells and outcome counts as the report ``make report`` writes."""
from __future__ import annotations

from pathlib import Path

from conformance.vocab.records import FAILING, Record
from reports import gate

BASELINE = Path(__file__).resolve().parents[1] / "reports" / "baselines" / "default-cpu.json.gz"
_SUMMARY = {"dtype": "float64", "shape": [3], "data": [0.125, -2.5, 3.0]}


def run() -> tuple[dict, list[Record]]:
    """(run metadata, records) shaped like the default profile's run."""
    data = gate.load_baseline(BASELINE)
    meta = {"profile": data["profile"], "seed": data["seed"], "dtypes": data["dtypes"], "devices": data["devices"],
            "frameworks": data["frameworks"], "started": "2026-01-01T00:00:00+00:00",
            "finished": "2026-01-01T00:14:00+00:00", "elapsed_s": 840.0,
            "machine": {"python": "3.11", "platform": "linux"}}
    records = []
    for n_cell, (key, stat) in enumerate(sorted(data["cells"].items(), key=lambda kv: str(kv[0]))):
        fields = dict(zip(gate.KEY_FIELDS, key))
        for outcome, count in sorted(stat.outcomes.items()):
            failing = outcome in FAILING
            for i in range(count):
                error = stat.worst_error_eps if i == 0 else stat.worst_error_eps / 2
                records.append(Record(
                    case=f"case-{n_cell}-{i}", origin="hypothesis", outcome=outcome, **fields,
                    error_eps=None if outcome == "unsupported" else error, k=16.0, support="native",
                    api=f"{fields['framework']}.{fields['loss']}",
                    detail=f"3 element(s) beyond the tolerance; at (1,): expected -2.5, got -2.4{i % 10}",
                    finding="a-known-finding" if failing and i % 50 else None,
                    expected=_SUMMARY if failing else None, actual=_SUMMARY if failing else None))
    return meta, records
