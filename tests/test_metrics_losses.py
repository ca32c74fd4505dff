"""eps computed by hand, the Euler residual on analytic fields, the scalers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from surrogate.losses import eps_weights, euler_residual, euler_residual_series, mse, physical
from surrogate.metrics import ErrorSpec, epsilon, epsilon_pt, spread
from surrogate.scaling import Scaler

REF = np.array(
    [  # (N=2, NT=3, 2x2)
        [[[0, 0], [0, 0]], [[1, -2], [0, 1]], [[4, 0], [-1, 2]]],
        [[[0, 0], [0, 0.001]], [[0, 3], [1, 0]], [[0, 0], [0, 0]]],
    ],
    dtype=float,
)
PRED = REF + np.array(
    [
        [[[0, 0], [0, 0]], [[0.5, 0], [0, 0.5]], [[0, 0.4], [0, 0]]],
        [[[0.01, 0], [0, 0]], [[0, 0], [0.3, 0.3]], [[0.2, 0], [0, 0]]],
    ]
)


def test_epsilon_by_hand_time_normaliser():
    eps_pt, active = epsilon_pt(PRED, REF, ErrorSpec("time", 0.05))
    # sample 0: t0 silent; t1: mean|e| = 1/4, max|U| = 2 -> 1/8; t2: 0.1 / 4 -> 0.025
    # sample 1: peak 3; t0 max 0.001 < 0.05 * 3 (inactive); t1: 0.15 / 3 = 0.05; t2 silent
    assert active.tolist() == [[False, True, True], [False, True, False]]
    assert eps_pt[active].tolist() == pytest.approx([0.125, 0.025, 0.05])
    out = epsilon(PRED, REF, ErrorSpec("time", 0.05))
    assert out["eps"] == pytest.approx((0.125 + 0.025 + 0.05) / 3)
    assert out["eps_t"][0] is None and out["eps_t"][1] == pytest.approx((0.125 + 0.05) / 2)


def test_epsilon_by_hand_sample_normaliser():
    out = epsilon(PRED, REF, ErrorSpec("sample"))
    # sample 0 / peak 4: 0, 0.25, 0.1 -> 0, 1/16, 1/40; sample 1 / peak 3: 0.0025, 0.15, 0.05 -> /3
    expected = [0, 1 / 16, 1 / 40, 0.0025 / 3, 0.05, 0.05 / 3]
    assert out["eps"] == pytest.approx(np.mean(expected))


def test_spread_over_p_by_hand():
    """0 for one field for every sample, 1 for the data itself, whatever constant is added; scales with
    the prediction's variation: by hand on two samples."""
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(5, 4, 3, 3))
    assert spread(np.broadcast_to(ref[2], ref.shape), ref) < 1e-15  # round-off of the mean
    assert spread(ref + 7.0, ref) == pytest.approx(1.0, rel=1e-12)
    assert spread(2 * ref, ref) == pytest.approx(2.0, rel=1e-12)
    pair = np.array([[1.0, 3.0], [3.0, 1.0]])  # deviations from the mean: +-1 in each entry, norm 2
    assert spread(pair / 4, pair) == pytest.approx(0.25)


def test_epsilon_spec_is_validated():
    with pytest.raises(ValueError, match="normaliser"):
        ErrorSpec("median")
    assert "active" not in ErrorSpec("sample").caption() and "0.05" in ErrorSpec().caption()


def test_euler_residual_vanishes_for_consistent_fields_in_physical_units():
    """The trapezoidal residual (u(t+dt) - u(t))/dt - (v(t) + v(t+dt))/2 is exact for u quadratic in
    time. It is computed after undoing the scaling, so scaled predictions of those fields give zero."""
    t = torch.linspace(0, 2, 17, dtype=torch.float64)
    a, b, c = (torch.randn(3, 1, 5, 4, dtype=torch.float64) for _ in range(3))
    tt = t.view(1, -1, 1, 1)
    u, v = a * tt**2 + b * tt + c, 2 * a * tt + b
    su, sv = Scaler.fit(u + 0.1 * torch.randn_like(u)), Scaler.fit(v + 0.1 * torch.randn_like(v))
    up, vp = physical(su.transform(u), su, None), physical(sv.transform(v), sv, None)
    dt = float(t[1] - t[0])
    assert euler_residual(up[:, :-1], up[:, 1:], vp[:, :-1], vp[:, 1:], dt, 1.0).item() < 1e-24
    assert euler_residual_series(u.numpy(), v.numpy(), dt, 1.0) < 1e-24
    # a cubic u = t^3, v = 3 t^2 leaves exactly -dt^2 / 2 at every pair
    q, w = (tt**3).expand(3, 17, 5, 4), (3 * tt**2).expand(3, 17, 5, 4)
    assert euler_residual_series(q, w, dt, 2.0) == pytest.approx(dt**4 / 16, rel=1e-10)
    idx = torch.tensor([[0, 5], [3, 16], [1, 2]])
    picked = physical(su.transform(u)[torch.arange(3)[:, None], idx], su, idx)
    assert torch.allclose(picked, u[torch.arange(3)[:, None], idx])


def test_scaler_floors_silent_points_and_round_trips():
    x = torch.zeros(10, 4)
    x[:, 1] = torch.arange(10.0)
    x[:, 2] = 1e-9 * torch.arange(10.0)
    s = Scaler.fit(x, floor=1e-3)
    assert s.scale[0] == pytest.approx(1e-3 * x[:, 1].std(unbiased=False).item())
    assert s.scale[2] == s.scale[0] and torch.all(s.transform(x)[:, 0] == 0)
    assert torch.allclose(s.inverse(s.transform(x)), x, atol=1e-12)


def test_each_regularisation_is_one_object_with_its_check_and_loss_term():
    from pathlib import Path

    import hydra
    import yaml

    from surrogate.regularization import Regularization

    conf = Path(__file__).resolve().parent.parent / "conf" / "reg"
    regs = {p.stem: hydra.utils.instantiate(yaml.safe_load(p.read_text())) for p in conf.glob("*.yaml")}
    assert all(isinstance(r, Regularization) for r in regs.values()) and len(regs) == 6
    assert [r.label for r in sorted(regs.values(), key=lambda r: r.order)] == [
        "Basic", "BN", "E", "SL", "BN & SL", "E & SL"
    ]  # fmt: skip
    assert {n for n, r in regs.items() if r.uses_euler} == {"e", "e_sl"}
    with pytest.raises(ValueError, match="batch_norm with euler > 0 is not allowed"):
        Regularization("bn_e", "BN & E", batch_norm=True, euler=1.0)
    with pytest.raises(ValueError, match="reg.euler=-0.5"):
        Regularization("x", "x", euler=-0.5)
    u = torch.randn(2, 5, 3, dtype=torch.float64)
    v = torch.randn(2, 5, 3, dtype=torch.float64)
    args = (u[:, :-1], u[:, 1:], v[:, :-1], v[:, 1:], 0.1, 2.0)
    e = Regularization("e", "E", euler=0.7)
    assert e.loss_term(*args).item() == pytest.approx(0.7 * euler_residual(*args).item(), rel=1e-14)
    assert regs["basic"].loss_term(*args).item() == 0.0


def test_eps_weights_make_the_scaled_mse_the_mean_square_of_eps_summand():
    """REF's sample 0 peaks at 2 (t1) and 4 (t2), t0 is silent (floored at 0.05 x 4 = 0.2); sample 1
    peaks at 3 (t1), its t0 (0.001) and t2 (0) at the floor 0.15. With any per-point scale, the
    weighted MSE of scaled fields is mean((M - U)^2 / A(p, t)^2) / mean(w), w = (scale / A)^2."""
    ref, pred = torch.tensor(REF), torch.tensor(PRED)
    scaler = Scaler.fit(ref, floor=1e-3)
    w = eps_weights(ref, scaler.scale)
    peak = torch.tensor([[0.2, 2.0, 4.0], [0.15, 3.0, 0.15]]).reshape(2, 3, 1, 1)
    raw = (scaler.scale / peak) ** 2
    assert torch.allclose(w, raw / raw.mean()) and float(w.mean()) == pytest.approx(1.0)
    loss = mse(scaler.transform(pred), scaler.transform(ref), w)
    assert float(loss) == pytest.approx(float((((pred - ref) / peak) ** 2).mean() / raw.mean()), rel=1e-7)
    assert float(mse(pred, ref)) == pytest.approx(float(((pred - ref) ** 2).mean()))  # no weight: the plain MSE
    zero = torch.zeros(1, 2, 2)  # a sample that is zero throughout: finite weights
    assert torch.isfinite(eps_weights(zero, torch.ones(2, 2))).all()
