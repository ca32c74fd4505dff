"""Training runs: metrics.json, checkpoint round trip, kill-and-resume, determinism, launchers."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from pipeline.config import compose
from pipeline.runs import RunError, load_run, read_metrics, run_dirs
from pipeline.train import train_run

ROOT = Path(__file__).resolve().parent.parent


def test_a_run_writes_metrics_and_a_checkpoint(tiny_data, tmp_path, train_cfg):
    metrics = train_run(train_cfg("model=conv2_5d", "reg=bn"), tmp_path / "run")
    on_disk = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert on_disk["eps"] == metrics["eps"] and on_disk["epochs"] == 6 and on_disk["label"] == "Conv2.5D"
    for split in ("train", "test"):
        for f in ("u", "v"):
            assert 0 < on_disk["eps"][split][f] < 2
    assert on_disk["parameters"] == sum(p.numel() for p in load_run(tmp_path / "run").model.parameters())
    assert on_disk["collapsed"] == [] and all(0.02 < on_disk["spread"]["train"][f] < 2 for f in "uv")
    assert on_disk["mean_epoch_seconds"] > 0 and on_disk["peak_memory_bytes"] > 1e6
    assert ">= 0.05" in on_disk["eps_definition"] and "dolfinx-solver-real" in on_disk["versions"]
    assert "model:" in on_disk["config"] and len(on_disk["eps_t"]["test"]["u"]) == 17
    # the recorded errors are those of the reloaded model's predictions: the field, and its trace
    from fe import dataset
    from fe.zone import boundary_trace
    from surrogate.metrics import ErrorSpec, epsilon

    test = dataset.load(tiny_data / "test.h5")
    u_hat, _ = load_run(tmp_path / "run").predict(test.params)
    assert epsilon(u_hat, test.u, ErrorSpec())["eps"] == pytest.approx(on_disk["eps"]["test"]["u"], rel=1e-6)
    trace = epsilon(boundary_trace(u_hat, test.boundary_index), test.boundary_u, ErrorSpec())["eps"]
    assert trace == pytest.approx(on_disk["eps_boundary"]["test"]["u"], rel=1e-6)
    assert trace != pytest.approx(on_disk["eps"]["test"]["u"], rel=1e-3)  # a different number
    # the other normaliser and the Euler residuals, recomputed independently
    u_hat, v_hat = load_run(tmp_path / "run").predict(test.params)
    sample = epsilon(u_hat, test.u, ErrorSpec("sample"))["eps"]
    assert on_disk["eps_by_normaliser"]["test"]["u"]["sample"] == pytest.approx(sample, rel=1e-6)
    assert on_disk["eps_by_normaliser"]["test"]["u"]["time"] == on_disk["eps"]["test"]["u"]
    train = dataset.load(tiny_data / "train.h5")
    dt, sigma = float(test.t[1] - test.t[0]), float(np.std(train.v.astype(np.float32)))
    step = (u_hat[:, 1:] - u_hat[:, :-1]) / dt - 0.5 * (v_hat[:, 1:] + v_hat[:, :-1])
    residual = on_disk["physics"]["euler_residual"]
    assert residual["test"] == pytest.approx(np.mean(step**2) / sigma**2, rel=1e-4)
    exact = (train.u[:, 1:] - train.u[:, :-1]) / dt - 0.5 * (train.v[:, 1:] + train.v[:, :-1])
    assert residual["reference"] == pytest.approx(np.mean(exact**2) / sigma**2, rel=1e-4)


def test_checkpoint_round_trip_gives_identical_predictions(tiny_data, tmp_path, train_cfg):
    cfg = train_cfg("model=conv1_5d_boundary", "reg=bn_sl")
    train_run(cfg, tmp_path / "run")
    from fe import dataset

    test = dataset.load(tiny_data / "test.h5")
    first, second = load_run(tmp_path / "run"), load_run(tmp_path / "run")
    a, b = first.predict(test.params), second.predict(test.params)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[0].shape == (4, 17, 32)


class Killed(Exception):
    pass


@pytest.mark.parametrize(("model", "reg"), [("conv2_5db", "e_sl"), ("fc_t", "bn")])
def test_kill_and_resume_equals_an_uninterrupted_run(tmp_path, model, reg, train_cfg):
    extra = [f"model={model}", f"reg={reg}", "train.times_per_sample=5"]
    clean = train_run(train_cfg(*extra), tmp_path / "clean")

    def kill_at_epoch_3(epoch: int) -> None:  # after the checkpoint of epoch 2, before that of epoch 4
        if epoch == 3:
            raise Killed

    with pytest.raises(Killed):
        train_run(train_cfg(*extra), tmp_path / "killed", on_epoch=kill_at_epoch_3)
    assert torch.load(tmp_path / "killed" / "checkpoint.pt", weights_only=False)["epoch"] == 2
    resumed = train_run(train_cfg(*extra), tmp_path / "killed")
    assert resumed["eps"] == clean["eps"] and resumed["final_loss"] == clean["final_loss"]
    wa = torch.load(tmp_path / "clean" / "checkpoint.pt", weights_only=False)["model"]
    wb = torch.load(tmp_path / "killed" / "checkpoint.pt", weights_only=False)["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_same_seed_same_metrics_other_seed_other_metrics(tmp_path, train_cfg):
    runs = [train_run(train_cfg("model=conv2d", f"seed={s}"), tmp_path / f"r{k}") for k, s in enumerate((3, 3, 4))]
    assert runs[0]["eps"] == runs[1]["eps"] and runs[0]["eps"] != runs[2]["eps"]


def test_a_checkpoint_of_another_config_is_refused(tmp_path, train_cfg):
    train_run(train_cfg("model=conv1d_boundary"), tmp_path / "run")
    with pytest.raises(RuntimeError, match="another config"):
        train_run(train_cfg("model=conv1d_boundary", "train.lr=0.01"), tmp_path / "run")


def test_unusable_runs_are_named(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".hydra").mkdir()
    with pytest.raises(RunError, match="run empty: no checkpoint"):
        load_run(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(RunError, match="run bad: no metrics.json"):  # a checkpoint alone is not finished
        load_run(tmp_path / "bad")
    with pytest.raises(RunError, match="run bad: no metrics.json"):
        read_metrics(tmp_path / "bad")
    (tmp_path / "bad" / "metrics.json").write_text("{}")
    with pytest.raises(RunError, match=r"run bad: .*checkpoint\.pt: unreadable checkpoint"):
        load_run(tmp_path / "bad")
    assert run_dirs(tmp_path) == [tmp_path / "bad", tmp_path / "empty"]


def test_the_slurm_launcher_config_composes():
    from hydra import compose as hcompose
    from hydra import initialize_config_dir

    from pipeline.config import CONF_DIR

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = hcompose("train", ["hydra/launcher=slurm", "hydra.launcher.partition=gpu"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher") and launcher.partition == "gpu"
    assert launcher.array_parallelism == 66 and launcher.timeout_min > 0


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["local", "submitit_local"])
def test_multirun_over_two_tiny_combos(tiny_data, tmp_path, launcher):
    """The grid mechanism for real: Hydra's multirun through the joblib and submitit (local
    executor) launchers, two combinations, each writing its metrics in the sweep folder."""
    cmd = [
        sys.executable,
        "-m",
        "pipeline.train",
        "-m",
        "model=fc_t_boundary,conv1_5d_boundary",
        "reg=basic",
        "data=tiny",
        f"paths.data_dir={tiny_data.parent}",
        f"paths.results_dir={tmp_path}",
        "train=quick",
        "train.epochs=2",
        "progress=false",
        "threads=1",
        f"hydra/launcher={launcher}",
    ]
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, timeout=600)
    sweep = tmp_path / "sweeps" / "tiny-quick"
    found = {p.name: read_metrics(p) for p in run_dirs(sweep)}
    assert set(found) == {"fc_t_boundary-basic-s0", "conv1_5d_boundary-basic-s0"}
    assert all(m["epochs"] == 2 for m in found.values())


def test_training_without_data_says_how_to_make_it(tmp_path):
    from fe.dataset import DatasetError

    with pytest.raises(DatasetError, match=r"data=tiny: .*python -m pipeline.data dataset=tiny paths.data_dir="):
        train_run(compose("train", ["data=tiny", f"paths.data_dir={tmp_path}"]), tmp_path / "run")


def test_a_failing_torch_compile_falls_back_to_the_eager_step(tmp_path, monkeypatch, caplog, train_cfg):
    """compile=true with a compiler that breaks at the first step: the run warns once and ends with
    exactly the eager run's metrics (the failed step is redone eagerly, nothing is half-applied)."""

    def broken(model, **kw):
        def call(*args, **kwargs):
            model(*args, **kwargs)  # touches the module like a real compiled graph would
            raise RuntimeError("inductor: no C++ compiler")

        return call

    eager = train_run(train_cfg("model=conv2_5db", "reg=e_sl"), tmp_path / "eager")
    monkeypatch.setattr(torch, "compile", broken)
    with caplog.at_level("WARNING"):
        fallback = train_run(train_cfg("model=conv2_5db", "reg=e_sl", "compile=true"), tmp_path / "c")
    assert fallback["eps"] == eager["eps"] and fallback["compiled"] is False and eager["compiled"] is False
    assert (
        sum("torch.compile failed (RuntimeError: inductor: no C++ compiler)" in r.message for r in caplog.records) == 1
    )


@pytest.mark.slow
def test_a_compiled_step_trains_as_the_eager_one(tmp_path, train_cfg):
    eager = train_run(train_cfg("model=conv2d_t", "reg=basic"), tmp_path / "eager")
    compiled = train_run(train_cfg("model=conv2d_t", "reg=basic", "compile=true"), tmp_path / "c")
    assert compiled["compiled"] is True
    for split in ("train", "test"):
        for f in ("u", "v"):
            assert compiled["eps"][split][f] == pytest.approx(eager["eps"][split][f], rel=1e-3)


def test_bf16_autocasts_the_training_forward_only_and_is_part_of_the_fingerprint(tmp_path, train_cfg, tiny_data):
    """precision=bf16: the training forward's fields differ from fp32's by bfloat16 round-off (not 0, under
    5%), come back in fp32, and the run trains and scores in fp32; the fingerprint names bf16 while an fp32
    run keeps the one it had before the knob; a bad value is refused naming the key."""
    from fe import dataset
    from pipeline.artefacts import ConfigError
    from pipeline.bench_surrogate import bench_trainer
    from pipeline.train import content
    from pipeline.validate import check_train
    from surrogate.models import Geometry

    geom = Geometry(9, 9, 9, 32)
    fp32, bf16 = (
        bench_trainer("conv2_5db", "basic", geom, tmp_path / k, overrides=(f"precision={k}",)) for k in ("fp32", "bf16")
    )
    bf16.model.load_state_dict(fp32.model.state_dict())
    with torch.no_grad():
        a, b = fp32._predict_batch(fp32.p, None), bf16._predict_batch(bf16.p, None)
    for x, y in zip(a, b, strict=True):
        assert y.dtype == torch.float32
        rel = float((x - y).norm() / x.norm())
        assert 1e-4 < rel < 5e-2, rel
    train = dataset.load(tiny_data / "train.h5")
    assert "precision" not in content(train_cfg("precision=fp32"), train)
    assert content(train_cfg("precision=bf16"), train)["precision"] == "bf16"
    run = train_run(train_cfg("model=conv2d", "precision=bf16"), tmp_path / "run")
    ref = train_run(train_cfg("model=conv2d"), tmp_path / "ref")
    assert run["precision"] == "bf16" and ref["precision"] == "fp32"
    for split in ("train", "test"):  # the same training, to bfloat16's round-off, but not bit for bit
        for f in "uv":
            assert run["eps"][split][f] == pytest.approx(ref["eps"][split][f], rel=2e-3)  # measured: 1e-4
    assert run["eps"] != ref["eps"]
    with pytest.raises(ConfigError, match=r"precision='fp16': allowed \['bf16', 'fp32'\]"):
        check_train(train_cfg("precision=fp16"))


def test_fused_adam_matches_the_per_parameter_loop_and_old_checkpoints_resume_unfused(tmp_path):
    """The trainer's fused Adam gives the per-parameter loop's weights to round-off; a checkpoint
    whose optimizer was saved unfused (runs begun before the switch) resumes unfused, bit for bit."""
    from pipeline.bench_surrogate import bench_trainer, train_step
    from surrogate import checkpoint
    from surrogate.models import Geometry

    geom = Geometry(9, 9, 9, 32)
    trainer = bench_trainer("conv2_5db", "e_sl", geom, tmp_path)
    assert trainer.optimizer.param_groups[0]["fused"] is True
    ref = [p.detach().clone().requires_grad_() for p in trainer.model.parameters()]
    loop = torch.optim.Adam(ref, lr=trainer.spec.lr, foreach=False)
    step = train_step(trainer)
    for _ in range(5):
        step()
        for mine, theirs in zip(trainer.model.parameters(), ref, strict=True):
            theirs.grad = mine.grad.clone()
        loop.step()
    for mine, theirs in zip(trainer.model.parameters(), ref, strict=True):
        torch.testing.assert_close(mine.detach(), theirs.detach(), rtol=1e-5, atol=1e-7)
    with torch.no_grad():  # the checkpoint of a run begun unfused: the loop's weights and moments
        for mine, theirs in zip(trainer.model.parameters(), ref, strict=True):
            mine.copy_(theirs)
    checkpoint.save({**trainer.state(), "optimizer": loop.state_dict()}, trainer.checkpoint_path)
    resumed = bench_trainer("conv2_5db", "e_sl", geom, tmp_path)
    assert resumed.resume() and not resumed.optimizer.param_groups[0]["fused"]
    for mine, theirs in zip(resumed.model.parameters(), ref, strict=True):
        mine.grad = torch.randn_like(mine)
        theirs.grad = mine.grad.clone()
    resumed.optimizer.step()
    loop.step()
    assert all(torch.equal(m, t) for m, t in zip(resumed.model.parameters(), ref, strict=True))


def test_lr_schedules_against_hand_values():
    """Geometric is the paper's (bit for bit the formula runs were made with); warm-up is linear to lr;
    cosine ends at lr_final; a bad schedule or warm-up is named."""
    from surrogate.protocol import TrainSpec

    s = TrainSpec(epochs=5, lr=1e-3, lr_final=1e-4)
    assert [s.lr_at(e) for e in range(5)] == [1e-3 * 0.1 ** (e / 4) for e in range(5)]
    c = TrainSpec(epochs=7, lr=1e-3, lr_final=1e-5, warmup=0.3, schedule="cosine")  # 2 warm-up epochs
    want = [5e-4, 1e-3] + [1e-5 + (1e-3 - 1e-5) * (1 + math.cos(math.pi * k / 5)) / 2 for k in range(1, 6)]
    assert [c.lr_at(e) for e in range(7)] == pytest.approx(want, rel=1e-12)
    g = TrainSpec(epochs=4, lr=1e-3, lr_final=1e-4, warmup=0.5)
    assert [g.lr_at(e) for e in range(4)] == pytest.approx([5e-4, 1e-3, 1e-3 * 0.1**0.5, 1e-4], rel=1e-12)
    assert TrainSpec(epochs=150, warmup=0.0667).warmup_epochs == 10
    assert TrainSpec(epochs=2, warmup=0.0667).warmup_epochs == 0  # a fraction: short test runs need no override
    with pytest.raises(ValueError, match=r"train\.schedule='onecycle': allowed: geometric, cosine"):
        TrainSpec(schedule="onecycle")
    for bad in (1.0, -0.1, "10"):
        with pytest.raises(ValueError, match=rf"train\.warmup={bad!r}: must be a fraction of the epochs in \[0, 1\)"):
            TrainSpec(epochs=5, warmup=bad)


def test_a_dead_network_is_named_collapsed(tiny_data, tmp_path, train_cfg, caplog):
    """Every hidden unit dead (an activation that outputs 0 with zero gradient: what a diverged lr leaves,
    ELUs saturated at -1): the prediction is one field for every p; metrics.json and the log say so."""
    dead = (
        "model.activation._target_=torch.nn.Threshold",
        "+model.activation.threshold=1e9",
        "+model.activation.value=0.0",
    )
    with caplog.at_level("WARNING"):
        metrics = train_run(train_cfg("model=conv2_5db", *dead), tmp_path / "run")
    assert metrics["collapsed"] == ["u", "v"] and max(metrics["spread"]["train"].values()) < 1e-6
    assert "the u network collapsed" in caplog.text and "lower train.lr" in caplog.text


def test_model_lr_max_caps_the_protocol_lr_with_the_fingerprint_of_the_lr_used(tiny_data, train_cfg):
    """quick asks 8e-3 and Conv3D's model.lr_max is 2e-3: the run is the one asked at 2e-3 (same
    fingerprint); at short (1e-3) the cap does not bind, and the fingerprint is that of runs made before it."""
    from fe import dataset
    from pipeline.runs import protocol
    from pipeline.train import content

    data = dataset.load(tiny_data / "train.h5")
    capped = train_cfg("model=conv3d")
    assert capped.train.lr == 8e-3 and protocol(capped)["lr"] == 2e-3 and protocol(capped)["lr_final"] == 1e-5
    asked = train_cfg("model=conv3d", "train.lr=2e-3", "model.lr_max=null")
    assert content(capped, data) == content(asked, data) and "lr_max" not in content(capped, data)["model"]
    short = ("train=short", "train.epochs=6")
    assert content(train_cfg("model=conv3d", *short), data) == content(
        train_cfg("model=conv3d", *short, "model.lr_max=null"), data
    )
    assert protocol(train_cfg("model=conv2_5d"))["lr"] == 8e-3  # no cap


def test_the_protocols_compose_to_their_documented_schedules():
    """short and long are the paper's (constant lr, batch 10; decayed to 1e-4); quick and short_cos
    are quick's warm-up and cosine schedule over 150 and 1000 epochs; quick_b10 the old quick; the
    default, quick_lbfgs, is quick and 600 L-BFGS iterations."""
    from pipeline.runs import train_spec

    def spec(name: str):
        return train_spec(compose("train", [f"train={name}", "model=conv2_5d"]))  # no lr cap

    short, long_, quick, cos, b10 = (spec(n) for n in ("short", "long", "quick", "short_cos", "quick_b10"))
    assert (short.epochs, short.batch_size, short.lr_at(0), short.lr_at(999)) == (1000, 10, 1e-3, 1e-3)
    assert long_.epochs == 10000 and long_.lr_at(9999) == pytest.approx(1e-4)
    assert (quick.epochs, quick.batch_size, quick.warmup_epochs, quick.lr_at(9)) == (150, 5, 10, 8e-3)
    assert (cos.epochs, cos.batch_size, cos.warmup_epochs, cos.lr_at(66), cos.schedule) == (1000, 5, 67, 8e-3, "cosine")
    assert cos.lr_at(999) == pytest.approx(1e-5) and b10.batch_size == 10 and b10.lr_at(149) == pytest.approx(3e-4)
    assert all(p.lbfgs_iters == 0 for p in (short, long_, quick, cos, b10))  # Adam only, as in the paper
    default = train_spec(compose("train", ["model=conv2_5d"]))  # make train: quick, then the L-BFGS finish
    assert default == dataclasses.replace(quick, lbfgs_iters=600)


def test_schedule_knobs_off_keep_the_fingerprint_of_runs_made_before_them(tiny_data, train_cfg):
    from fe import dataset
    from pipeline.train import content

    data = dataset.load(tiny_data / "train.h5")
    off = content(train_cfg("model=conv2_5db", "train.warmup=0.0", "train.schedule=geometric"), data)["train"]
    assert "warmup" not in off and "schedule" not in off
    on = content(train_cfg("model=conv2_5db", "train.warmup=0.2", "train.schedule=cosine"), data)["train"]
    assert on["warmup"] == 0.2 and on["schedule"] == "cosine"


def test_clip_grad_bounds_every_step_gradient_and_off_keeps_old_fingerprints(tiny_data, tmp_path, train_cfg):
    """train.clip_grad=c: the gradient Adam steps with never exceeds norm c, while the same run unclipped
    has larger ones (so the bound is the clipping's doing); null keeps the fingerprint of runs before it."""
    from fe import dataset
    from pipeline.train import content

    def norms(*extra: str) -> list[float]:
        seen: list[float] = []

        def hook(opt, args, kwargs):
            grads = [p.grad for g in opt.param_groups for p in g["params"] if p.grad is not None]
            seen.append(float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(x) for x in grads]))))

        handle = register_optimizer_step_pre_hook(hook)
        try:
            train_run(train_cfg("model=conv2_5db", "train.epochs=2", *extra), tmp_path / "-".join(("r", *extra)))
        finally:
            handle.remove()
        return seen

    free = norms()
    clip = sorted(free)[len(free) // 2]  # the median step's norm: half the steps must be cut
    clipped = norms(f"train.clip_grad={clip}")
    assert len(clipped) == len(free) and max(clipped) <= clip * (1 + 1e-5) and max(free) > 1.2 * clip
    assert clipped[0] == pytest.approx(clip, rel=1e-5) and free[0] > 1.2 * clip  # the first step, cut to c
    data = dataset.load(tiny_data / "train.h5")
    assert content(train_cfg("train.clip_grad=null"), data) == content(train_cfg(), data)
    assert content(train_cfg("train.clip_grad=0.5"), data)["train"]["clip_grad"] == 0.5
    with pytest.raises(ValueError, match=r"train.clip_grad=-1.0: must be a number > 0 or null"):
        train_run(train_cfg("train.clip_grad=-1.0"), tmp_path / "bad")


def test_eps_loss_weights_train_time_sampled_models_and_off_keeps_old_fingerprints(tiny_data, tmp_path, train_cfg):
    """train.loss_weights=eps runs on a model fed sampled snapshots (the weights gathered with them) and on
    a time-as-channels one, gives another run than uniform, whose fingerprint is that of runs before it."""
    from fe import dataset
    from pipeline.train import content

    sampled = ("model=conv2d_t", "train.times_per_sample=3", "train.epochs=2")
    weighted = train_run(train_cfg(*sampled, "train.loss_weights=eps"), tmp_path / "w")
    plain = train_run(train_cfg(*sampled), tmp_path / "p")
    assert weighted["eps"]["train"] != plain["eps"]["train"] and math.isfinite(weighted["final_loss"])
    assert math.isfinite(
        train_run(train_cfg("model=conv2d", "train.epochs=2", "train.loss_weights=eps"), tmp_path / "c")["final_loss"]
    )
    data = dataset.load(tiny_data / "train.h5")
    assert content(train_cfg("train.loss_weights=uniform"), data) == content(train_cfg(), data)
    with pytest.raises(ValueError, match=r"train.loss_weights='l1': allowed: uniform, eps"):
        train_run(train_cfg("train.loss_weights=l1"), tmp_path / "bad")


def test_the_epoch_pace_leaves_out_epochs_the_process_was_suspended_in():
    from surrogate.progress import mean_pace

    assert mean_pace([]) == (None, 0)
    assert mean_pace([0.8, 1.0, 1.2]) == (pytest.approx(1.0), 0)  # normal jitter: the plain mean
    # a SIGSTOP of 2 h in one epoch of 1000 at 0.8 s: the plain mean would be 8 s per epoch
    seconds = [0.8] * 999 + [7200.0]
    assert mean_pace(seconds) == (pytest.approx(0.8), 1)
    assert mean_pace([1.0, 1.0, 9.9]) == (pytest.approx(3.9667, rel=1e-4), 0)  # under 10x the median: kept
