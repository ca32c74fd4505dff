"""Late-epoch weight averaging: the running mean, BN statistics, and the training runs that use it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pipeline.artefacts import ConfigError, RunError
from pipeline.train import train_run
from pipeline.validate import check_train
from surrogate import checkpoint
from surrogate.averaging import WeightAverage, refresh_batch_norm

MODEL = "model=conv2_5d"


def test_the_running_mean_is_the_arithmetic_mean_and_counters_keep_their_last_value():
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    avg, seen = WeightAverage(), []
    for k in range(5):
        with torch.no_grad():
            for p in net.parameters():
                p.copy_(torch.randn_like(p) * (k + 1))
        net[1].num_batches_tracked.fill_(10 * k)
        seen.append({key: v.clone() for key, v in net.state_dict().items()})
        avg.update(net)
    again = WeightAverage.from_state(avg.state())
    target = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    again.apply(target)
    for key, value in target.state_dict().items():
        if value.is_floating_point():
            assert torch.allclose(value, torch.stack([s[key] for s in seen]).mean(0), atol=1e-6), key
    assert int(target[1].num_batches_tracked) == 40 and again.count == 5
    with pytest.raises(RuntimeError, match="no weights were averaged"):
        WeightAverage().apply(target)


def test_refreshed_batch_norm_statistics_are_the_average_over_the_batches():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3, momentum=0.1))
    batches = [torch.randn(8, 2) * (k + 1) + k for k in range(3)]
    net[1].running_mean.fill_(99.0)  # stale statistics, replaced

    def feed() -> None:
        for b in batches:
            net(b)

    net.eval()
    refresh_batch_norm(net, feed)
    with torch.no_grad():
        hidden = [net[0](b) for b in batches]
    assert torch.allclose(net[1].running_mean, torch.stack([h.mean(0) for h in hidden]).mean(0), atol=1e-6)
    assert torch.allclose(net[1].running_var, torch.stack([h.var(0) for h in hidden]).mean(0), atol=1e-5)
    assert net[1].momentum == 0.1 and not net.training  # restored
    plain = nn.Linear(2, 2)
    refresh_batch_norm(plain, lambda: pytest.fail("no BN layer: nothing to feed"))


@pytest.mark.parametrize("reg", ["basic", "bn"])
def test_an_averaged_run_returns_the_mean_of_its_last_epochs_and_scores_its_last_iterate(tmp_path, reg, train_cfg):
    plain = train_run(train_cfg(MODEL, f"reg={reg}"), tmp_path / "plain")
    seen: dict[int, dict[str, torch.Tensor]] = {}
    cfg = train_cfg(MODEL, f"reg={reg}", "train.average_last=3", "train.checkpoint_every=1")

    def grab(epoch: int) -> None:  # the weights after epochs 4 and 5, from that epoch's checkpoint
        if epoch in (4, 5):
            seen[epoch] = checkpoint.load(tmp_path / "avg" / "checkpoint.pt")["model"]

    averaged = train_run(cfg, tmp_path / "avg", on_epoch=grab)
    state = checkpoint.load(tmp_path / "avg" / "checkpoint.pt")
    last = state["last_model"]
    # the trajectory is the plain run's: its last iterate is that run, bit for bit
    assert averaged["last_iterate"]["eps"] == plain["eps"] and averaged["final_loss"] == plain["final_loss"]
    plain_weights = checkpoint.load(tmp_path / "plain" / "checkpoint.pt")["model"]
    assert all(torch.equal(last[k], plain_weights[k]) for k in last)
    # the model is the mean of the weights after epochs 4, 5 and 6 (BN statistics aside: recomputed)
    for key, value in state["model"].items():
        if value.is_floating_point() and "running" not in key:
            mean = (seen[4][key] + seen[5][key] + last[key]) / 3
            assert torch.allclose(value, mean, atol=1e-6), key
    assert averaged["averaged_epochs"] == 3 and averaged["eps"] != plain["eps"]
    assert set(averaged["last_iterate"]) == {"eps", "euler_residual"}


def test_a_run_killed_inside_the_averaging_window_resumes_exactly(tmp_path, train_cfg):
    extra = ("reg=bn", "train.average_last=4")
    clean = train_run(train_cfg(MODEL, *extra), tmp_path / "clean")

    class Killed(Exception):
        pass

    def kill(epoch: int) -> None:
        if epoch == 5:  # after the checkpoint of epoch 4, two epochs into the window
            raise Killed

    with pytest.raises(Killed):
        train_run(train_cfg(MODEL, *extra), tmp_path / "killed", on_epoch=kill)
    resumed = train_run(train_cfg(MODEL, *extra), tmp_path / "killed")
    assert resumed["eps"] == clean["eps"] and resumed["last_iterate"] == clean["last_iterate"]


def test_average_off_keeps_the_fingerprint_of_runs_made_before_the_knob(tiny_data, train_cfg):
    from fe import dataset
    from pipeline.train import content

    data = dataset.load(tiny_data / "train.h5")
    off = content(train_cfg(MODEL), data)
    assert "average_last" not in off["train"]
    assert content(train_cfg(MODEL, "train.average_last=2"), data)["train"]["average_last"] == 2


@pytest.mark.parametrize("value", [-1, 7, 1.5, "last"])
def test_a_bad_average_window_is_named(value, train_cfg):
    with pytest.raises(ConfigError, match=r"train\.average_last="):
        check_train(train_cfg(MODEL, f"train.average_last={value}"))


def test_the_submodel_scores_the_last_iterate_of_an_averaged_run_as_the_plain_run(tmp_path, train_cfg, tiny_data):
    """The last epoch's weights of an averaged run are the plain run's model: after zoom too, their
    errors are that run's, bit for bit; a plain run has no last iterate to load."""
    from pipeline.config import compose
    from pipeline.runs import load_run
    from pipeline.submodel import submodel_run

    train_run(train_cfg(MODEL), tmp_path / "plain")
    train_run(train_cfg(MODEL, "train.average_last=3"), tmp_path / "avg")
    base = ["data=tiny", f"paths.data_dir={tiny_data.parent}", "submodel.time_full_solve=false"]
    cfg = compose("submodel", base)
    plain, averaged = submodel_run(tmp_path / "plain", cfg), submodel_run(tmp_path / "avg", cfg)
    assert "last_iterate" not in plain
    assert averaged["last_iterate"]["eps_zoom"] == plain["eps_zoom"]
    assert averaged["last_iterate"]["eps_trace"] == plain["eps_trace"] and averaged["eps_zoom"] != plain["eps_zoom"]
    off = submodel_run(tmp_path / "avg", compose("submodel", [*base, "submodel.last_iterate=false"]))
    assert "last_iterate" not in off
    with pytest.raises(RunError, match="run plain: no last-epoch weights in checkpoint.pt"):
        load_run(tmp_path / "plain", last_iterate=True)
