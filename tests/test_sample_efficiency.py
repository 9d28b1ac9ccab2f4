"""The sample-efficiency benchmark's tabulation (benchmarks/sample_efficiency.py): steps to a
target, t-intervals over seeds, runs that never reach the target. Pure functions, no training."""

from __future__ import annotations

import importlib
import math
from pathlib import Path

import pytest

from reverie.core import stats

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def se(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module("sample_efficiency")


def test_t_quantiles_match_tables(se):
    # two-sided 95% quantiles of Student's t (any printed table)
    for df, want in ((1, 12.7062), (2, 4.3027), (3, 3.1824), (4, 2.7764), (9, 2.2622), (30, 2.0423)):
        assert stats.t_quantile(df) == pytest.approx(want, abs=1e-4)
    assert stats.t_quantile(2, 0.90) == pytest.approx(2.9200, abs=1e-4)
    assert stats.t_two_sided_probability(0.0, 5) == 0.0
    assert stats.t_quantile(200) == pytest.approx(1.9719, abs=1e-4)


def test_steps_to_target_is_the_first_evaluation_at_or_above(se):
    curve = [[500, -1400.0], [1000, -600.0], [1500, -250.0], [2000, -300.0], [2500, -180.0]]
    assert se.steps_to_target(curve, -250) == 1500          # equal counts as reached
    assert se.steps_to_target(curve, -200) == 2500
    assert se.steps_to_target(list(reversed(curve)), -700) == 1000  # order of the records does not matter
    assert se.steps_to_target(curve, -100) is None
    assert se.return_at(curve, 2000) == -300.0 and se.return_at(curve, 2100) is None


def test_interval_over_seeds_by_hand(se):
    m = stats.mean_interval([1000.0, 2000.0, 3000.0])
    half = 4.302653 * 1000.0 / math.sqrt(3)  # t(0.975, 2) * s / sqrt(n), s = 1000
    assert m["n"] == 3 and m["mean"] == pytest.approx(2000.0)
    assert (m["low"], m["high"]) == (pytest.approx(2000 - half, rel=1e-6), pytest.approx(2000 + half, rel=1e-6))
    one = stats.mean_interval([5.0])
    assert one == {"n": 1, "mean": 5.0, "low": None, "high": None}
    assert stats.mean_interval([])["mean"] is None


def test_never_reached_run_counts_at_the_budget_and_is_flagged(se):
    s = se.steps_summary([2000, None, 4000], budget=10_000)
    assert s["counted"] == [2000, 10_000, 4000]
    assert s["reached"] == 2 and s["censored"] == 1
    assert s["mean"] == pytest.approx(16_000 / 3)
    ref = stats.mean_interval([2000.0, 10_000.0, 4000.0])
    assert (s["low"], s["high"]) == (ref["low"], ref["high"])


def test_speedup_bounds_follow_censoring(se):
    plain = {"mean": 4000.0, "censored": 0}
    assert se.speedup({"mean": 2000.0, "censored": 0}, plain) == {"ratio": 2.0, "bound": "estimate"}
    assert se.speedup({"mean": 8000.0, "censored": 1}, plain)["bound"] == "at most"
    assert se.speedup(plain, {"mean": 10_000.0, "censored": 2})["bound"] == "at least"
    assert se.speedup({"mean": 9000.0, "censored": 1}, {"mean": 10_000.0, "censored": 2})["bound"] == "unknown"


def test_summary_and_table_with_a_never_reached_seed(se):
    def run(seed, values, wall=10.0):
        return {"seed": seed, "curve": [[500 * (i + 1), v] for i, v in enumerate(values)], "wall_seconds": wall}

    records = {"sac": [run(0, [-900, -240, -200, -190]), run(1, [-900, -600, -230, -200]),
                       run(2, [-1000, -800, -700, -260])],
               "sac+mbpo": [run(0, [-500, -200, -190, -180]), run(1, [-400, -240, -200, -190]),
                            run(2, [-600, -230, -210, -200])]}
    out = se.summarize(records, target=-250, budget=2000, at=[1000, 2000])
    sac = out["sac"]
    assert sac["per_seed_steps_to_target"] == [1000, 1500, None]
    assert sac["steps_to_target"]["counted"] == [1000, 1500, 2000] and sac["steps_to_target"]["censored"] == 1
    assert sac["returns"]["2000"]["mean"] == pytest.approx((-190 - 200 - 260) / 3)
    assert out["sac+mbpo"]["steps_to_target"]["mean"] == pytest.approx(1000.0)
    assert out["sac+mbpo"]["speedup_vs_base"] == {"ratio": pytest.approx(1.5), "bound": "at least"}
    result = {"budget": 2000, "target": -250.0, "return_steps": [1000, 2000], "configs": out, "seeds": [0, 1, 2],
              "eval_episodes": 10, "eval_every": 500, "command": "x", "machine": "m", "threads": 1, "date": "d"}
    text = se.markdown(result)
    row = next(line for line in text.splitlines() if line.startswith("| sac |"))
    assert "&ge; 1,500 [" in row and "]*" in row and "| 2/3 |" in row
    assert "counted at 2,000" in text and "&ge; 1.50x vs sac" in text
    assert "sac: seed 0 1,000, seed 1 1,500, seed 2 -" in text


def test_grid_checkpoints_and_record_fit(se):
    assert se.checkpoints(10_000, 500) == [2500, 5000, 10_000]
    assert se.checkpoints(600, 200) == [600]
    record = {"curve": [[s, -1.0] for s in range(500, 10_001, 500)], "eval_episodes": 10}
    assert se.fits(record, 10_000, 500, 10) and se.fits(record, 5000, 500, 10)
    assert not se.fits(record, 10_000, 250, 10) and not se.fits(record, 10_000, 500, 5)
    band = se.band([[[1, 0.0], [2, 2.0]], [[1, 2.0], [2, 2.0], [3, 9.0]]])
    assert [b[0] for b in band] == [1, 2] and band[0][1] == 1.0 and band[1][2] == band[1][3] == 2.0
