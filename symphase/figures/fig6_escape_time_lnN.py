"""Escape time vs ln N: simulation against the diffusion theory's distribution up to N = 10^6, and its asymptote.

Two starts (plain K = M = 2, eta = 1):
- ``plateau``: on the symmetric fixed point with the random O(1/sqrt(N))
  asymmetry of a random start (:func:`symphase.near_fixed_point`); the same
  seed draws the same normalized asymmetry at every N, so the slope is taken
  seed by seed (paired). Asymptotic slope ``1/(2 lambda)``, ``lambda`` the
  escape rate of that fixed point (C = Q).
- ``random``: the paper's random start ``J_il ~ N(0, 1/N)``, which must first
  reach the plateau. SGD from it reaches the symmetric fixed point where the
  students have not coincided (C < Q, docs/model.md §12.2), whose escape rate
  ``lambda_u`` sets the asymptotic slope ``1/(2 lambda_u)``.

Escape: the first crossing of ``eps_g`` below half the plateau level, the
``eps_g`` of the fixed point the start sits on (C = Q or C < Q), the same
threshold in simulation (read on a grid of step 0.5 from the plateau, 0.25 from
the random start) and theory (interpolated within steps of 0.25).
Simulation: SGD on the exact overlap chain (``simulate(..., method="overlaps")``,
docs/model.md §11), the same process as SGD on the weights in distribution, at a
cost per step independent of N: the figure is about escape times, which depend
on the weights only through the overlaps. Each seed starts from the same
overlaps as on the weights (its initial weights, reduced to their overlaps);
its path is another realisation. Before issue 21 this figure simulated the
weights (``simulated_escapes(..., method="weights")`` still does); the two agree
within their standard errors (``python benchmarks/compare_fig_methods.py``).
Theory: :func:`symphase.escape_time` (the diffusion approximation of SGD,
docs/model.md §12.1) from the same start, at the simulated N and beyond, up to
N = 10^6; from the plateau it draws the simulation's own starts (seeds 0, 1, ...).
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from .._escape import escape_time
from .._fixedpoint import FixedPoint
from .._fixedpoint_solve import symmetric_fixed_point
from .._model import Committee
from .._ode import integrate
from .._plateau import escape_alpha
from .._reduced import reduced_rhs
from .._results import SymphaseError
from .._simulate import simulate
from ._reproduce import main_for
from ._style import subplots

NAME = "fig6_escape_time_lnN"
TITLE = ("Plateau escape time vs ln N, plain K = M = 2: simulation against the escape-time distribution of the "
         "diffusion theory up to N = 10^6 and its asymptotic slope")
#: Rough seconds of the full figure on an idle 2-core machine: orders the queue of ``reproduce --jobs`` only.
COST_S = 36
ETA = 1.0
SERIES = ("plateau", "random")
FRACTION = 0.5
#: The simulator of the SGD runs: the exact overlap chain (equal in distribution to "weights").
METHOD = "overlaps"
NAN_THEORY = ("no escape time: the sample had not escaped by alpha_max or left the valid overlaps "
              "(escape_theory_*_message says which)")


def unspecialised_fixed_point(model, eta):
    """The symmetric fixed point with R = S but C < Q that the exactly symmetric ODE from the random start's
    mean (Q = I, R = 0) reaches (docs/model.md §12.2), solved on the reduced (symmetric) rates."""
    from scipy.optimize import root

    ode = integrate(model, eta, 300.0, start=(np.eye(model.K), np.zeros((model.K, model.M))),
                    eg_tol=0.0).raise_for_status()
    x0 = [ode.Q[-1][0, 0], ode.Q[-1][0, 1], ode.R[-1][0, 0], ode.R[-1][0, 1]]
    sol = root(lambda x: list(reduced_rhs(model, *x, eta=eta).values()), x0, tol=1e-14)
    Q, C, R, S = sol.x
    residual = max(abs(v) for v in reduced_rhs(model, Q, C, R, S, eta=eta).values())
    if not (residual < 1e-10 and C < Q - 0.05 and abs(R - S) < 1e-8):
        raise SymphaseError(f"the C < Q symmetric fixed point was not found (Q, C, R, S = {sol.x})")
    K = model.K
    return FixedPoint(model, (Q - C) * np.eye(K) + C, (R - S) * np.eye(K) + S, None, eta, kind="symmetric")


def _theory(model, Ns, start, level, samples):
    """Escape-time samples of the diffusion approximation at each N, and escape_time's message per N
    (how many samples escaped, ran out of alpha or left the valid overlaps)."""
    out, messages = np.full((len(Ns), samples), np.nan), []
    for j, N in enumerate(Ns):
        et = escape_time(model, int(N), ETA, start=start, threshold=FRACTION * level, samples=samples, seed=0)
        out[j] = et.samples
        messages.append(et.message)
    return out, np.array(messages, dtype=object)


def simulated_escapes(model, series, Ns, seeds, fp, method=METHOD):
    """Escape times ``(len(Ns), seeds)`` of SGD simulated with ``method`` at each N: from the plateau
    (``series="plateau"``: ``near_fixed_point(fp, N, seed)``, read on a grid of step 0.5 up to alpha = 120,
    the threshold half of ``fp.eg``) or from the random start (``"random"``: step 0.25 up to alpha = 300, half
    the ``eg`` of ``fp``, the C < Q point). NaN: no escape by the end."""
    if series == "plateau":
        alpha_max = 120.0
        alphas = np.linspace(0.0, alpha_max, 241)
    else:
        alpha_max = 300.0
        alphas = np.arange(0.0, alpha_max + 0.125, 0.25)
    esc = np.full((len(Ns), seeds), np.nan)
    for j, N in enumerate(Ns):
        start = fp if series == "plateau" else "random"  # a fixed point: near_fixed_point(fp, N, seed) per seed
        res = simulate(model, N, ETA, alpha_max, seeds=seeds, alphas=alphas, start=start, method=method)
        esc[j] = [escape_alpha(res.alpha, e, FRACTION, plateau=fp.eg) for e in res.eg]
    return esc


def compute(quick: bool):
    model = Committee(2, 2)
    fp = symmetric_fixed_point(model, eta=ETA)
    fpu = unspecialised_fixed_point(model, ETA)
    samples = 6 if quick else 64
    data, coords = {}, {}
    # start on the plateau (paired across N by seed)
    Ns = [125, 250, 500] if quick else [125, 250, 500, 1000]
    seeds = 8 if quick else 64
    esc = simulated_escapes(model, "plateau", Ns, seeds, fp)
    data["escape_alpha_plateau"] = (("N_plateau", "seed_plateau"), esc,
                                    {"long_name": "escape time (alpha), start on the plateau (SGD on the exact "
                                                   "overlap chain)",
                                     "nan_means": "no escape"})
    coords.update(N_plateau=Ns, seed_plateau=np.arange(seeds))
    Nt = [125, 500, 4000] if quick else [125, 250, 500, 1000, 4000, 16000, 64000, 250000, 10**6]
    t, msg = _theory(model, Nt, fp, fp.eg, samples)
    data["escape_theory_plateau_message"] = (("N_theory_plateau",), msg, {"long_name": "escape_time's account of "
                                                                             "the samples at each N"})
    data["escape_theory_plateau"] = (("N_theory_plateau", "sample"), t,
                                     {"long_name": "escape time (alpha) from the diffusion approximation, start on "
                                                   "the plateau (the simulation's starts, seeds 0, 1, ...)",
                                      "nan_means": NAN_THEORY})
    coords.update(N_theory_plateau=Nt)
    # random start
    Ns = [100, 200, 400] if quick else [100, 200, 400, 800, 1600]
    seeds = 4 if quick else 12
    esc = simulated_escapes(model, "random", Ns, seeds, fpu)
    data["escape_alpha_random"] = (("N_random", "seed_random"), esc,
                                   {"long_name": "escape time (alpha), random start (eps_g below half that of the "
                                                 "C < Q fixed point; SGD on the exact overlap chain)",
                                                 "nan_means": "no escape"})
    coords.update(N_random=Ns, seed_random=np.arange(seeds))
    Nt = [100, 400, 4000] if quick else [100, 200, 400, 800, 1600, 6400, 25000, 100000, 400000, 10**6]
    t, msg = _theory(model, Nt, "random", fpu.eg, samples)
    data["escape_theory_random_message"] = (("N_theory_random",), msg, {"long_name": "escape_time's account of "
                                                                             "the samples at each N"})
    data["escape_theory_random"] = (("N_theory_random", "sample"), t,
                                    {"long_name": "escape time (alpha) from the diffusion approximation, random start",
                                     "nan_means": NAN_THEORY})
    coords.update(N_theory_random=Nt, sample=np.arange(samples))
    data["escape_rate"] = ((), fp.escape_rate,
                           {"long_name": "lambda, largest Jacobian eigenvalue at the fixed point (per alpha)"})
    data["escape_rate_unspecialised"] = ((), fpu.escape_rate,
                                         {"long_name": "lambda_u, largest Jacobian eigenvalue at the C < Q symmetric "
                                                       "fixed point (per alpha)"})
    data["plateau_eg"] = ((), fp.eg, {"long_name": "eps_g at the fixed point (C = Q): the plateau start's level"})
    data["plateau_eg_unspecialised"] = ((), fpu.eg, {"long_name": "eps_g at the C < Q fixed point: the random "
                                                                  "start's plateau level"})
    return xr.Dataset(data, coords=coords, attrs={"eta": ETA, "K": 2, "M": 2, "fraction": FRACTION})


def predicted_slope(ds, series):
    """The asymptotic slope of the escape time in ln N: 1/(2 lambda) from the plateau, 1/(2 lambda_u) from the
    random start."""
    lam = float(ds["escape_rate"] if series == "plateau" else ds["escape_rate_unspecialised"])
    return 1.0 / (2.0 * lam)


def theory_slope(ds, series, N_min=1e4):
    """Least-squares slope of the theory's mean escape time vs ln N over ``N >= N_min`` and its standard
    error (from the samples' scatter at each N): ``(slope, se)``."""
    Nt, mt, _, se = theory(ds, series)
    big = Nt >= N_min
    x = np.log(Nt[big])
    w = (x - x.mean()) / np.sum((x - x.mean()) ** 2)
    return float(w @ mt[big]), float(np.sqrt(np.sum((w * se[big]) ** 2)))


def theory(ds, series):
    """``(N, mean, std, s.e. of the mean)`` of the theory's escape time."""
    t = ds[f"escape_theory_{series}"].values
    n = np.sum(np.isfinite(t), axis=1)
    return (ds[f"N_theory_{series}"].values, np.nanmean(t, axis=1), np.nanstd(t, axis=1, ddof=1),
            np.nanstd(t, axis=1, ddof=1) / np.sqrt(n))


def _arrays(ds, series):
    return np.log(ds[f"N_{series}"].values), ds[f"escape_alpha_{series}"].values


def fit(ds, series="plateau"):
    """Slope and its standard error of escape time vs ln N.

    ``plateau`` (paired by seed): the mean and s.e. of each seed's
    least-squares slope (seeds that escaped at every N). ``random``
    (independent seeds): least squares on the seed means, s.e. from their
    seed scatter. Returns ``(slope, se, intercept)``.
    """
    x, esc = _arrays(ds, series)
    xc = x - x.mean()
    w = xc / np.sum(xc ** 2)
    if series == "plateau":
        ok = np.all(np.isfinite(esc), axis=0)
        per_seed = w @ esc[:, ok]
        slope, se = float(per_seed.mean()), float(per_seed.std(ddof=1) / np.sqrt(ok.sum()))
        icpt = float(esc[:, ok].mean() - slope * x.mean())
        return slope, se, icpt
    mean = np.nanmean(esc, axis=1)
    se_pt = np.nanstd(esc, axis=1, ddof=1) / np.sqrt(np.sum(np.isfinite(esc), axis=1))
    slope = float(w @ mean)
    return slope, float(np.sqrt(np.sum((w * se_pt) ** 2))), float(mean.mean() - slope * x.mean())


def plot(ds):
    fig, axes = subplots(1, 2, figsize=(10.0, 4.2))
    titles = {"plateau": r"start on the plateau ($C=Q$), asymmetry $O(N^{-1/2})$",
              "random": r"random start (paper): plateau $C<Q$"}
    lam_names = {"plateau": r"$1/(2\lambda)$", "random": r"$1/(2\lambda_u)$"}
    for ax, series in zip(axes[0], SERIES):
        x, esc = _arrays(ds, series)
        n = np.sum(np.isfinite(esc), axis=1)
        mean = np.nanmean(esc, axis=1)
        se = np.nanstd(esc, axis=1, ddof=1) / np.sqrt(n)
        if f"escape_theory_{series}" in ds:
            Nt, mt, st, _ = theory(ds, series)
            xt = np.log(Nt)
            ax.fill_between(xt, mt - st, mt + st, color="C3", alpha=0.18, lw=0)
            ax.plot(xt, mt, "C3-", marker=".", label=f"theory (diffusion): mean ± s.d., "
                                                     f"{ds.sizes['sample']} samples per N")
            pred = predicted_slope(ds, series)
            xx = np.linspace(xt[0], xt[-1], 10)
            ax.plot(xx, mt[-1] + pred * (xx - xt[-1]), "C3:", lw=1.5,
                    label=f"asymptotic slope {lam_names[series]} = {pred:.3g}")
        for s in range(esc.shape[1]):
            ax.plot(x, esc[:, s], ".", color="0.7", ms=2.5, zorder=1)
        ax.errorbar(x, mean, yerr=se, fmt="o", color="k", ms=4, zorder=3,
                    label=f"SGD (exact overlap chain), mean of {esc.shape[1]} seeds ±1 s.e.")
        slope, sse, icpt = fit(ds, series)
        xx = np.linspace(x[0], x[-1], 10)
        ax.plot(xx, slope * xx + icpt, "k--", lw=1, zorder=4,
                label=f"fit to simulation: slope {slope:.3g} ± {sse:.2g}")
        ax.set_xlabel(r"$\ln N$")
        ax.set_ylabel(r"escape time $\alpha_{\rm esc}$")
        ax.set_title(titles[series], fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
        ax.set_ylim(0, 1.3 * ax.get_ylim()[1])     # room for the legend above the points
        top = ax.secondary_xaxis("top", functions=(np.exp, np.log))
        top.set_xscale("log")
        top.set_xlabel("N", fontsize=8)
    fig.suptitle(rf"plain $K=M=2$, $\eta={ds.attrs['eta']:g}$: $\varepsilon_g$ below half its plateau value",
                 fontsize=10)
    return fig


def summary(ds):
    pred = 1 / (2 * float(ds["escape_rate"]))
    parts = []
    for series in SERIES:
        slope, se, _ = fit(ds, series)
        parts.append(f"{series} start {slope:.3g} +- {se:.2g} (ratio {slope / pred:.2f})")
    text = f"slope of escape time vs ln N: {'; '.join(parts)}; theory 1/(2 lambda) = {pred:.3g}"
    if "escape_theory_plateau" in ds:
        for series in SERIES:
            Nt = ds[f"N_theory_{series}"].values
            N_min = 1e4 if Nt[-1] > 1e4 else Nt[-2]
            ts, tse = theory_slope(ds, series, N_min)
            text += (f"; {series}: theory slope {ts:.3g} +- {tse:.2g} at N = {N_min:g}..{Nt[-1]:g} "
                     f"(asymptote {predicted_slope(ds, series):.3g})")
            lost = np.sum(~np.isfinite(ds[f"escape_theory_{series}"].values), axis=1)
            if lost.any():
                text += ", theory samples without an escape time: " + ", ".join(
                    f"{k} at N = {n:g}" for k, n in zip(lost, Nt) if k)
    return text


if __name__ == "__main__":
    import sys

    main_for(sys.modules[__name__])
