"""The grid estimate of `make bench`: hours from step times and FLOPs, checked by hand arithmetic."""

from __future__ import annotations

import pytest

from pipeline.bench_grid import GridPlan, grid_estimate, grid_lines, plan_of


def test_grid_estimate_matches_hand_arithmetic():
    # Two models; each one's step is the mean of its Basic and SL steps: 0.2 s and 0.2 s, 2 and 2 GFLOP.
    models = {
        "a-basic": {"step_s": 0.1, "flops": 1e9},
        "a-sl": {"step_s": 0.3, "flops": 3e9},
        "b-basic": {"step_s": 0.2, "flops": 2e9},
        "b-sl": {"step_s": 0.2, "flops": 2e9},
    }
    plan = GridPlan(epochs=10, n_train=25, batch_size=10, regs=6, jobs=2)  # 3 steps per epoch: 30 per run
    g = grid_estimate(models, peak_gflops=10.0, plan=plan)
    assert g["runs"] == 12
    assert g["measured_h"] == pytest.approx(0.4 * 30 * 6 / 2 / 3600)  # 36 s
    assert g["at_peak_h"] == pytest.approx(4e9 / 10e9 * 30 * 6 / 2 / 3600)  # also 36 s
    assert g["needed_share"] == pytest.approx(0.01 / 4.0)
    assert grid_lines(g)[0].endswith("0.0 h PASS")
    slow = {k: {**m, "step_s": m["step_s"] * 4000} for k, m in models.items()}  # 40 h
    assert grid_lines(grid_estimate(slow, 10.0, plan))[0].endswith("40.0 h FAIL")


def test_plan_is_the_papers_short_grid():
    """The config's grid: 1000 epochs of batch 10 over 100 samples, the six regularisations."""
    assert plan_of() == GridPlan(epochs=1000, n_train=100, batch_size=10, regs=6, jobs=2)


def test_the_bench_times_the_step_of_the_grid_it_estimates(tmp_path):
    """The timed step is `short`'s (batch 10, lr 1e-3), whatever the laptop default protocol is."""
    from pipeline.bench_surrogate import bench_trainer
    from surrogate.models import Geometry

    trainer = bench_trainer("conv3d", "basic", Geometry(9, 9, 9, 32), tmp_path)
    assert trainer.spec.batch_size == plan_of().batch_size == 10 and trainer.spec.lr == 1e-3
    assert trainer.spec.epochs == plan_of().epochs
    quick = bench_trainer("conv3d", "basic", Geometry(9, 9, 9, 32), tmp_path / "q", overrides=("train=quick",))
    assert quick.spec.lr == 2e-3 and quick.spec.batch_size == 5  # the training stage's protocol, cap included


def test_every_bench_section_names_functions_that_exist_and_unknown_sections_are_refused():
    """``make bench`` resolves its sections lazily: a renamed function would only fail at bench time."""
    import importlib

    from pipeline.bench import DEFAULT, SECTIONS, main

    for module, measure, report in SECTIONS.values():
        mod = importlib.import_module(f"pipeline.{module}")
        assert callable(getattr(mod, measure)) and callable(getattr(mod, report))
    assert set(DEFAULT) <= set(SECTIONS) and not {"compile", "precision"} & set(DEFAULT)
    with pytest.raises(SystemExit, match="unknown benchmark section 'gpu'; allowed: fe, surrogate"):
        main(["gpu"])


def test_ab_steps_times_each_variant_of_each_model_and_the_extra_steps_in_one_run():
    from pipeline.bench_ab import Variant, ab_steps

    calls = []
    ab = ab_steps(
        ("conv2_5db",),
        {"a": Variant(), "b": Variant(("train.batch_size=2",))},
        rounds=2,
        extra={"x": lambda: calls.append(1)},
    )
    m = ab.models["conv2_5db"]
    assert m["label"] == "Conv2.5Db" and m["parameters"] > 0
    assert all(m[k]["step_s"] > 0 and m[k]["warmup_s"] > 0 for k in "ab")
    assert len(calls) == 2 and ab.extra["x"] >= 0


def test_width_bench_derives_shares_and_ratios_at_equal_width():
    from pipeline.bench_widths import derive

    cells = {
        "conv3d|x1": {"flops": 8e9, "step_s": 0.2},
        "conv2_5db|x1": {"flops": 1e9, "step_s": 0.1},
        "conv2_5db|x2": {"flops": 4e9, "step_s": 0.2},  # no Conv3D at x2: no ratio
    }
    out = derive(cells, peak_gflops=80.0)
    assert out["conv3d|x1"]["peak_share"] == pytest.approx(0.5)  # 40 GFLOP/s of 80
    assert out["conv2_5db|x1"]["gflops"] == pytest.approx(10.0)
    assert out["conv2_5db|x1"]["step_vs_conv3d"] == pytest.approx(0.5)
    assert out["conv2_5db|x2"]["peak_share"] == pytest.approx(0.25) and out["conv2_5db|x2"]["step_vs_conv3d"] is None


def test_width_bench_checks_the_step_targets_at_the_papers_size():
    from pipeline.bench_widths import derive, verdicts

    cells = {
        "conv3d|x8": {"label": "Conv3D", "flops": 60e9, "step_s": 1.0},  # 60 GFLOP/s of 80: 75%
        "conv2_5d|x8": {"label": "Conv2.5D", "flops": 9e9, "step_s": 0.31},  # 0.31x: over 0.3x
        "conv2_5db|x8": {"label": "Conv2.5Db", "flops": 4e9, "step_s": 0.2},  # 0.2x: under 0.25x
        "conv3d|x1": {"label": "Conv3D", "flops": 8e9, "step_s": 0.5},  # 16 GFLOP/s: 20%
        "conv2_5db|x1": {"label": "Conv2.5Db", "flops": 1e9, "step_s": 0.2},  # 0.4x
    }
    derived = derive(cells, peak_gflops=80.0)
    assert verdicts(derived) == [  # the paper's size only, not x1's cells
        "at x8: Conv2.5D step <= 0.3x Conv3D: 0.31x FAIL",
        "at x8: Conv2.5Db step <= 0.25x Conv3D: 0.20x PASS",
        "at x8: Conv3D >= 60% of the matmul peak: 75% PASS",
    ]
    assert verdicts(derived, width="x1") == [
        "at x1: Conv2.5Db step <= 0.25x Conv3D: 0.40x FAIL",
        "at x1: Conv3D >= 60% of the matmul peak: 20% FAIL",
    ]
    assert verdicts(derived, width="x2") == []


def test_surrogate_bench_verdicts_check_the_targets_on_the_basic_cells():
    from pipeline.bench_surrogate import verdicts

    def cell(label: str, reg: str, ratio: float, share: float) -> dict:
        return {"label": label, "reg": reg, "step_vs_base": ratio, "peak_share": share}

    out = {
        "models": {
            "conv3d-basic": cell("Conv3D", "Basic", 1.0, 0.57),
            "conv2_5d-basic": cell("Conv2.5D", "Basic", 0.29, 0.3),
            "conv2_5db-basic": cell("Conv2.5Db", "Basic", 0.41, 0.14),
            "conv2_5db-sl": cell("Conv2.5Db", "SL", 0.1, 0.05),  # not a Basic cell: no ratio target
        },
        "layer": {"2.5Db": {"over_roofline": 1.7}},
    }
    assert verdicts(out) == [
        "Conv2.5D step <= 0.3x Conv3D: 0.29x PASS",
        "Conv2.5Db step <= 0.25x Conv3D: 0.41x FAIL",
        "Conv3D >= 60% of the matmul peak: 57% FAIL",
        "no model below 20% of peak: lowest Conv2.5Db/SL 5% FAIL",
        "2.5Db layer within 2.0x of its roofline: 1.7x PASS",
    ]


def test_the_loop_bench_sets_one_epoch_against_as_many_bare_steps_and_checks_the_overhead():
    from pipeline.bench_loop import LOOP_OVERHEAD, bench, report
    from surrogate.models import Geometry

    out = bench(rounds=1, models=("conv2d",), geom=Geometry(9, 9, 9, 32))
    m = out["models"]["conv2d"]
    assert out["samples"] == 100 and m["steps_per_epoch"] == 10  # 100 samples in batches of `short`'s 10
    assert m["epoch_s"] > 0 and m["ratio"] == pytest.approx(m["epoch_s"] / m["steps_s"])
    fake = {"threads": 1, "samples": 100, "models": {"a": {**m, "label": "A", "ratio": LOOP_OVERHEAD + 0.01}}}
    assert report(fake).endswith("FAIL") and "worst A 1.11x" in report(fake)
    fake["models"]["a"]["ratio"] = 1.0
    assert report(fake).endswith("PASS")


def test_the_sharing_bench_times_each_model_alone_side_by_side_and_threaded_in_worker_processes():
    from pipeline.bench_share import bench, derive, report
    from surrogate.models import Geometry

    out = bench(rounds=1, steps=1, models=("conv2d",), cores=2, geometry=Geometry(9, 9, 9, 32))
    m = out["models"]["conv2d"]
    assert out["cores"] == 2 and all(m[f"{k}_s"] > 0 for k in ("alone", "side_by_side", "threaded"))
    assert "| conv2d |" in report(out)
    # by hand: 2 jobs of 0.3 s steps finish 2 / 0.3 steps per second, one 2-thread job 1 / 0.125
    d = derive({"alone": 0.2, "side_by_side": 0.3, "threaded": 0.125}, 2)
    assert d["slowdown"] == pytest.approx(1.5) and d["thread_speedup"] == pytest.approx(1.6)
    assert d["jobs_over_threads"] == pytest.approx((2 / 0.3) / (1 / 0.125))
