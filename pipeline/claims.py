"""The paper's claims, checked against the runs at hand: each with its numbers and a verdict.

A comparison of two cells (model x regularisation, one run per seed) is Welch's t-test on their
seeds' test eps: the difference of the means against its standard error
se = sqrt(s_a^2 / n_a + s_b^2 / n_b) (the seeds' sample standard deviations), with the two-sided 95%
quantile of Student's t at the Welch-Satterthwaite degrees of freedom. A difference within
t_0.975(df) se is "within noise". With 2 or 3 seeds per cell that quantile is 4.3 or 2.8, not the 2
of the normal approximation, which would call too many one-point gaps real. With a single seed in a
cell there is no noise estimate, and the verdict says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from scipy import stats

from pipeline.sweep import Stat, Sweep

HOLDS, FAILS, NOISE = "holds", "does not hold", "within noise"
ONE_SEED = "one seed, no noise estimate"


def show(s: Stat) -> str:
    return f"{s.format()}%" + (f" (n={s.n})" if s.n > 1 else "")


def eps_test_u(cell: dict) -> float:
    return 100 * float(cell["metrics"]["eps"]["test"]["u"])


def _zoom(doc: dict, field: str) -> float | None:
    """Test eps after zoom (%) of ``field`` in a submodel.json or one of its ``by_trace`` entries."""
    zoom = doc.get("eps_zoom", {}).get("test")
    return None if zoom is None else 100 * float(zoom[field])


def zoom_u(cell: dict) -> float | None:
    return _zoom(cell.get("submodel", {}), "u")


def gap_u(cell: dict) -> float:
    eps = cell["metrics"]["eps"]
    return 100 * (float(eps["test"]["u"]) - float(eps["train"]["u"]))


def stat(sweep: Sweep, model: str, reg: str, value: Callable[[dict], float | None] = eps_test_u) -> Stat | None:
    return Stat.of([v for c in sweep.groups.get((model, reg), []) if (v := value(c)) is not None])


def noise_band(a: Stat, b: Stat) -> float:
    """Half-width of the 95% interval of a.mean - b.mean (Welch): t_0.975(df) x se; 0 without spread."""
    if a.n < 2 or b.n < 2:
        raise ValueError(f"a noise band needs >= 2 seeds per cell, got n={a.n} and n={b.n}")
    va, vb = a.std**2 / a.n, b.std**2 / b.n
    if va + vb == 0:
        return 0.0
    df = (va + vb) ** 2 / (va**2 / (a.n - 1) + vb**2 / (b.n - 1))
    return float(stats.t.ppf(0.975, df)) * math.sqrt(va + vb)


def compare(a: Stat, b: Stat) -> tuple[float, str]:
    """a - b and whether it is below (-), above (+) or within the 95% interval of Welch's t-test."""
    diff = a.mean - b.mean
    if a.n < 2 or b.n < 2:
        return diff, f"{'lower' if diff < 0 else 'higher'}; {ONE_SEED}"
    if abs(diff) <= noise_band(a, b):
        return diff, NOISE
    return diff, "lower" if diff < 0 else "higher"


def _verdict(outcomes: list[str], want: str) -> str:
    """``want``: the outcome the claim predicts ("lower", or "not higher")."""
    if not outcomes:
        return "no runs"
    single = [o for o in outcomes if ONE_SEED in o]  # a direction without a noise estimate: no evidence
    if single:
        outcomes = [o for o in outcomes if ONE_SEED not in o]
        agree = sum(o.startswith("lower") for o in single)
        note = f"{agree} of {len(single)} one-seed comparisons point the claimed way"
        if not outcomes:
            return f"no verdict from one seed ({note})"
        return f"{_verdict(outcomes, want)} (from the comparisons with seeds; {note})"
    good = [o == "lower" or (want == "not higher" and o == NOISE) for o in outcomes]
    bad = [o == "higher" or (want == "lower" and o == NOISE) for o in outcomes]
    if all(good):
        return HOLDS
    if all(o == NOISE for o in outcomes) and want == "lower":
        return NOISE
    return FAILS if all(bad) else f"mixed ({sum(good)} of {len(outcomes)} comparisons agree)"


def _params(sweep: Sweep, model: str, reg: str) -> int | None:
    group = sweep.groups.get((model, reg))
    return int(group[0]["metrics"]["parameters"]) if group else None


# (decomposed model, label, its dense parent, label): the full-field 3D family and its boundary analogue
DECOMPOSED = (
    ("conv2_5d", "Conv2.5D", "conv3d", "Conv3D"),
    ("conv2_5db", "Conv2.5Db", "conv3d", "Conv3D"),
    ("conv1_5d_boundary", "Conv1.5D Boundary", "conv2d_boundary", "Conv2D Boundary"),
)


def decomposed(sweep: Sweep) -> list[str]:
    lines, outcomes = [], []
    for model, label, dense, dense_label in DECOMPOSED:
        for reg in sorted({r for m, r in sweep.groups if m == model}):
            a, b = stat(sweep, model, reg), stat(sweep, dense, reg)
            if a is None or b is None:
                continue
            diff, how = compare(a, b)
            outcomes.append(how)
            ratio = _params(sweep, dense, reg) / _params(sweep, model, reg)
            reg_label = sweep.groups[(model, reg)][0]["metrics"].get("reg_label", reg)
            lines.append(
                f"  - {label} / {reg_label}: {show(a)} vs {dense_label} {show(b)}: {diff:+.2f} points ({how}), "
                f"{ratio:.1f}x fewer parameters"
            )
    title = "Decomposed models match their dense parent with fewer parameters"
    return [f"- **{title}**: {_verdict(outcomes, 'not higher')}", *lines]


def _pairs(sweep: Sweep, better: str, than: str, title: str, value=eps_test_u) -> list[str]:
    lines, outcomes = [], []
    for model in sorted({m for m, r in sweep.groups if r == better}):
        a, b = stat(sweep, model, better, value), stat(sweep, model, than, value)
        if a is None or b is None:
            continue
        diff, how = compare(a, b)
        outcomes.append(how)
        label = sweep.groups[(model, better)][0]["metrics"]["label"]
        lines.append(f"  - {label}: {show(a)} vs {show(b)}: {diff:+.2f} points ({how})")
    return [f"- **{title}**: {_verdict(outcomes, 'lower')}", *lines]


def boundary_best(sweep: Sweep) -> list[str]:
    best: dict[str, tuple[float, str]] = {}
    for group in sweep.groups.values():
        s = Stat.of([v for c in group if (v := zoom_u(c)) is not None])
        if s is None:
            continue
        kind = group[0]["metrics"].get("target", "field")
        name = f"{group[0]['metrics']['label']} / {group[0]['metrics']['reg_label']}"
        if kind not in best or s.mean < best[kind][0]:
            best[kind] = (s.mean, name)
    if len(best) < 2:
        return ["- **Boundary models are best after zoom**: no runs of both kinds with errors after zoom"]
    (fb, fname), (bb, bname) = best["field"], best["boundary"]
    verdict = HOLDS if bb < fb else FAILS
    return [
        f"- **Boundary models are best after zoom**: {verdict}: best boundary model {bname} {bb:.2f}%, "
        f"best full-field model {fname} {fb:.2f}% (test eps of u after zoom, seed means)"
    ]


def overfit(sweep: Sweep) -> list[str]:
    a, b = stat(sweep, "conv2d", "basic", gap_u), stat(sweep, "conv3d", "basic", gap_u)
    if a is None or b is None:
        return ["- **Conv2D overfits**: needs Conv2D / Basic and Conv3D / Basic runs"]
    diff, how = compare(a, b)
    verdict = HOLDS if how == "higher" else (NOISE if how == NOISE else FAILS)
    if ONE_SEED in how:
        verdict = "no verdict from one seed"
    return [
        f"- **Conv2D overfits** (test - train eps of u, Basic): {verdict}: Conv2D {show(a)}, Conv3D {show(b)} ({how})"
    ]


def against_baselines(sweep: Sweep) -> list[str]:
    methods = (sweep.baselines or {}).get("methods", {})
    if not methods:
        return ["- **Networks against the baselines**: no baselines.json for this data (python -m pipeline.baselines)"]
    name, best = min(methods.items(), key=lambda kv: kv[1]["eps"]["test"]["u"])
    ref = 100 * best["eps"]["test"]["u"]
    cells = {k: Stat.of([eps_test_u(c) for c in g]) for k, g in sweep.groups.items()}
    beating = sorted(f"{k[0]}/{k[1]} ({s.mean:.2f}%)" for k, s in cells.items() if s.mean < ref)
    return [
        f"- **Networks against the best baseline** ({best['label']}, test eps u {ref:.2f}%): "
        f"{len(beating)} of {len(cells)} cells lower{': ' + ', '.join(beating) if beating else ''}"
    ]


def ensembles(sweep: Sweep) -> list[str]:
    """Beyond the paper: each seed ensemble (``pipeline.ensemble``) against the best baseline on u and
    on v (each field's best), test eps of the full field."""
    methods, cells = (sweep.baselines or {}).get("methods", {}), (sweep.ensembles or {}).get("methods", {})
    if not methods or not cells:
        return []
    best = {f: min(100 * m["eps"]["test"][f] for m in methods.values()) for f in "uv"}
    parts, both = [], 0
    for cell in cells.values():
        e = {f: 100 * cell["eps"]["test"][f] for f in "uv"}
        lower = [f for f in "uv" if e[f] < best[f]]
        both += len(lower) == 2
        parts.append(
            f"{cell['label']}, {len(cell['seeds'])} seeds: {e['u']:.2f} / {e['v']:.2f}"
            f" ({'lower on ' + ' and '.join(lower) if lower else 'not lower'})"
        )
    return [
        f"- **Beyond the paper: seed ensembles against the best baseline** (u {best['u']:.2f}%, v "
        f"{best['v']:.2f}%): {both} of {len(cells)} lower on both fields: " + "; ".join(parts)
    ]


def compare_paired(diffs: Stat) -> str:
    """Whether per-run differences (the same runs scored two ways) are below (-), above (+) or within
    the 95% interval of the paired t-test: t_0.975(n - 1) x std / sqrt(n)."""
    if diffs.n < 2:
        return f"{'lower' if diffs.mean < 0 else 'higher'}; {ONE_SEED}"
    band = float(stats.t.ppf(0.975, diffs.n - 1)) * diffs.std / math.sqrt(diffs.n)
    return NOISE if abs(diffs.mean) <= band else ("lower" if diffs.mean < 0 else "higher")


def traces(sweep: Sweep) -> list[str]:
    """Beyond the paper: each compared trace construction against the primary, after zoom, on the
    same runs (a paired comparison: the seeds' spread cancels)."""
    out = []
    for name in sweep.compared_traces:
        lines, outcomes, signs = [], [], []
        for group in (g for _, g in sorted(sweep.groups.items())):
            docs = [c["submodel"] for c in group if name in c.get("submodel", {}).get("by_trace", {})]
            parts = []
            for field in ("u", "v"):
                pairs = [(_zoom(d["by_trace"][name], field), _zoom(d, field)) for d in docs]
                pairs = [(x, y) for x, y in pairs if x is not None and y is not None]
                if not pairs:
                    continue
                signs += [x < y for x, y in pairs]
                a, b = Stat.of([x for x, _ in pairs]), Stat.of([y for _, y in pairs])
                how = compare_paired(Stat.of([x - y for x, y in pairs]))
                outcomes.append(how)
                parts.append(f"{field} {show(a)} vs {show(b)}: {a.mean - b.mean:+.2f} ({how})")
            if parts:
                lines.append(
                    f"  - {group[0]['metrics']['label']} / {group[0]['metrics']['reg_label']}: " + "; ".join(parts)
                )
        title = f"Beyond the paper: the {name} trace lowers the error after zoom (vs {sweep.trace}, same runs, u and v)"
        tally = f"; {sum(signs)} of {len(signs)} per-run changes lower" if signs else ""
        out += [f"- **{title}**: {_verdict(outcomes, 'lower')}{tally}", *lines]
    return out


def corrected(sweep: Sweep) -> list[str]:
    """Beyond the paper: each cell scored with a residual correction (``metrics.json: residual_rbf``),
    the network alone and the hybrid, against each field's best baseline, full-field test eps."""
    methods = (sweep.baselines or {}).get("methods", {})
    best = {f: min(100 * m["eps"]["test"][f] for m in methods.values()) for f in "uv"} if methods else None
    parts = []
    for _, group in sorted(sweep.groups.items()):
        hybrid = [c["metrics"]["residual_rbf"]["eps"]["test"] for c in group if "residual_rbf" in c["metrics"]]
        if not hybrid or group[0]["metrics"].get("target", "field") != "field":
            continue
        net = {f: Stat.of([100 * c["metrics"]["eps"]["test"][f] for c in group]) for f in "uv"}
        fix = {f: Stat.of([100 * h[f] for h in hybrid]) for f in "uv"}
        below = "" if best is None else sum(all(100 * h[f] < best[f] for f in "uv") for h in hybrid)
        parts.append(
            f"{group[0]['metrics']['label']} / {group[0]['metrics']['reg_label']}: network {net['u'].format()} / "
            f"{net['v'].format()}, hybrid {fix['u'].format()} / {fix['v'].format()}"
            + ("" if best is None else f" ({below} of {len(hybrid)} seeds below the baselines on both fields)")
        )
    if not parts:
        return []
    ref = "" if best is None else f" (best baselines: u {best['u']:.2f}%, v {best['v']:.2f}%)"
    return [
        "- **Beyond the paper: the network plus the RBF interpolation of its training residual**, test eps u / v "
        f"(%){ref}: " + "; ".join(parts)
    ]


def claims(sweep: Sweep) -> list[str]:
    """The Markdown section "The paper's claims" for a sweep."""
    return [
        "## The paper's claims",
        "",
        "Test eps of u (%), seed mean ± sample std; a difference inside the 95% interval of Welch's t-test "
        "(t quantile x standard error: 4.3 se with 2 seeds per cell, 2.8 se with 3) is 'within noise'.",
        "",
        *decomposed(sweep),
        *_pairs(sweep, "bn", "basic", "BN lowers the error (BN vs Basic)"),
        *_pairs(sweep, "e_sl", "basic", "E & SL lowers the error (E & SL vs Basic)"),
        *_pairs(sweep, "e", "basic", "E alone lowers the error (the paper: it does not)"),
        *boundary_best(sweep),
        *overfit(sweep),
        *against_baselines(sweep),
        *ensembles(sweep),
        *corrected(sweep),
        *traces(sweep),
        "",
    ]
