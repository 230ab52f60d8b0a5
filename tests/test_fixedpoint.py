"""The symmetric fixed point (the plateau) and its spectra (docs/model.md §4-5).

Tolerances: quantities computed exactly (closed forms, complex-step derivatives,
root finding polished by Newton) are compared at 1e-12 (fixed point) or 1e-8
(eigenvalues of matrices with ~1e-16 entry errors, allowing for eigenvalue
conditioning of (near-)degenerate clusters); central finite differences at 1e-6
(their truncation error ~h^2 = 1e-12 and rounding ~1e-16/h = 1e-10 relative).
"""

import math

import numpy as np
import pytest

import symphase as sp
from symphase import Committee, integrate
from symphase._fixedpoint import FixedPoint, rates
from symphase._fixedpoint_solve import symmetric_fixed_point

RULES = [dict(), dict(bn="paper"), dict(bn="exact"), dict(bn="exact", gain="fixed")]
RULE_IDS = ["plain", "bn-paper", "bn-exact", "bn-exact-fixed-gain"]


# -- the fixed point ------------------------------------------------------------------
@pytest.mark.parametrize("K", range(2, 11))
def test_plain_fixed_point_is_saad_solla(K):
    """eta -> 0, tau = 1: Q = C = 1/(2K-1), R = S = 1/sqrt(K(2K-1)), eps_g = (K/pi)(pi/6 - K asin(1/(2K)))."""
    fp = symmetric_fixed_point(Committee(K, K))
    Q, R = 1 / (2 * K - 1), 1 / math.sqrt(K * (2 * K - 1))
    assert np.max(np.abs(fp.Q - Q)) < 1e-12
    assert np.max(np.abs(fp.R - R)) < 1e-12
    assert fp.g is None
    assert abs(fp.eg - K / math.pi * (math.pi / 6 - K * math.asin(1 / (2 * K)))) < 1e-12
    assert np.max(np.abs(fp.residual())) < 1e-13


@pytest.mark.parametrize("bn", ["paper", "exact"])
@pytest.mark.parametrize("K,tau", [(2, 1.0), (3, 2.5), (6, 10.0)])
def test_bn_fixed_point_is_the_papers(bn, K, tau):
    """The paper's §3: R* = S* = sqrt((K+(K-1)tau)/(tau K)), Q* = (K+(K-1)tau)/tau, g* = sqrt(tau/(K+(K-1)tau)),
    with eps_g equal to the plain plateau's for a teacher of variance tau (same effective overlaps)."""
    fp = symmetric_fixed_point(Committee(K, K, bn=bn, tau=tau))
    D = K + (K - 1) * tau
    assert np.max(np.abs(fp.Q - D / tau)) < 1e-12 * D / tau
    assert np.max(np.abs(fp.R - math.sqrt(D / (tau * K)))) < 1e-12
    assert np.max(np.abs(fp.g - math.sqrt(tau / D))) < 1e-12
    plain = symmetric_fixed_point(Committee(K, K, tau=tau))
    assert abs(fp.eg - plain.eg) < 1e-12


def test_bn_norm_is_a_free_direction():
    """Under BN at eta -> 0 the fixed points form a family in Q_ii: another norm is a fixed point too, with
    the same effective overlaps (eps_g), R ~ sqrt(Q), and a zero Jacobian eigenvalue along the family."""
    m = Committee(3, 3, bn="exact")
    a, b = symmetric_fixed_point(m), symmetric_fixed_point(m, norm=1.0)
    assert abs(b.Q[0, 0] - 1.0) < 1e-14
    assert abs(a.eg - b.eg) < 1e-12
    assert abs(b.R[0, 0] / math.sqrt(b.Q[0, 0]) - a.R[0, 0] / math.sqrt(a.Q[0, 0])) < 1e-12
    assert np.min(np.abs(b.jacobian_eigenvalues)) < 1e-12
    # effective learning rate g^2/(tau Q): 1/Q^2 at the paper's norm Q = 1/g^2
    assert abs(a.effective_learning_rate - 1 / a.Q[0, 0] ** 2) < 1e-12


def test_fixed_gain_plateau_has_distinct_students():
    """BN with a fixed gain g = 1 (effective norm pinned at 1): the plateau reached from small random weights
    has R = S but C < Q; the C = Q point is another symmetric fixed point (offered in .others)."""
    m = Committee(2, 2, bn="exact", gain="fixed")
    fp = symmetric_fixed_point(m)
    assert fp.Q[0, 1] < fp.Q[0, 0] - 1e-3
    assert abs(fp.R[0, 0] - fp.R[0, 1]) < 1e-13
    # integrating the symmetric ODE from small overlaps (large batch: the O(eta) dynamics) reaches it
    res = integrate(m.with_(batch=10**12), 1.0, 300.0, start=(np.eye(2), np.full((2, 2), 1e-3), np.ones(2)),
                    alphas=[300.0])
    assert np.max(np.abs(res.Q[-1] - fp.Q)) < 1e-6  # the symmetric flow converges exponentially (rate ~0.2)
    assert any(abs(o.Q[0, 1] - o.Q[0, 0]) < 1e-8 for o in fp.others)


def test_perfect_student_is_among_the_others():
    """The plain symmetric subspace also holds the perfect student R = Q = 1, S = C = 0 (eps_g = 0)."""
    fp = symmetric_fixed_point(Committee(2, 2))
    assert any(abs(o.eg) < 1e-12 and abs(o.R[0, 0] - 1) < 1e-10 for o in fp.others)


@pytest.mark.parametrize("model,why", [
    (Committee(2, 3), "K = M"),
    (Committee(2, 2, T=[[1.0, 0.2], [0.2, 1.0]]), "T = I"),
    (Committee(1, 1), "K >= 2"),
    (Committee(2, 2, bn="paper", gain="fixed"), "no symmetric fixed point"),
])
def test_no_symmetric_fixed_point_is_a_value_error(model, why):
    with pytest.raises(ValueError, match=r"^model") as exc:
        symmetric_fixed_point(model)
    assert why in str(exc.value)


def test_bad_eta_and_norm():
    with pytest.raises(ValueError, match=r"^eta"):
        symmetric_fixed_point(Committee(2, 2), -0.1)
    with pytest.raises(ValueError, match=r"^eta.*norm Q_ii grows"):
        symmetric_fixed_point(Committee(2, 2, bn="exact"), 0.1)
    with pytest.raises(sp.SymphaseError, match=r"^eta: no symmetric fixed point"):  # a numerical failure
        symmetric_fixed_point(Committee(10, 10), 3.0)  # the branch from eta -> 0 ends (Saad & Solla's eta_max)
    with pytest.raises(ValueError, match=r"^norm"):
        symmetric_fixed_point(Committee(2, 2), norm=1.0)
    with pytest.raises(ValueError, match=r"^norm"):
        symmetric_fixed_point(Committee(2, 2, bn="exact"), norm=-1.0)
    with pytest.raises(ValueError, match=r"^eps0"):
        symmetric_fixed_point(Committee(2, 2)).plateau_length(2.0)


@pytest.mark.parametrize("K", [2, 3])
def test_fixed_point_moves_continuously_with_eta(K):
    """eta > 0 keeps the eta^2/b terms: the rhs vanishes there to 1e-12 and the point leaves the eta -> 0 one
    linearly: |y(eta) - y(0)|/eta at eta = 1e-3 and 1e-2 agree within 2 % (the O(eta) correction, ~0.5 %)."""
    m = Committee(K, K)
    y0 = symmetric_fixed_point(m).state
    slopes = []
    for eta in (1e-3, 1e-2, 0.5):
        fp = symmetric_fixed_point(m, eta)
        assert np.max(np.abs(fp.residual())) < 1e-12
        slopes.append(np.linalg.norm(fp.state - y0) / eta)
    assert abs(slopes[0] / slopes[1] - 1) < 0.02
    assert slopes[2] > 0


# -- spectra ----------------------------------------------------------------------------
@pytest.mark.parametrize("kw", RULES, ids=RULE_IDS)
@pytest.mark.parametrize("K,tau", [(2, 1.0), (3, 1.0), (4, 2.5)])
def test_escape_rate_is_minus_most_negative_weight_hessian_eigenvalue(kw, K, tau):
    """As eta -> 0 the plain and exact-BN ODEs are gradient flow dJ/dalpha = -eta grad_J eps_g (factor 1, not
    tau: the update is -eta/N times the per-example gradient, which already contains the input variance), so
    lambda/eta = -min mu (docs/model.md §5). The paper's rule is no gradient, but at this fixed point it agrees too."""
    fp = symmetric_fixed_point(Committee(K, K, tau=tau, **kw))
    mu = fp.weight_hessian_eigenvalues
    lam = fp.escape_rate
    assert lam > 0
    assert abs(lam + mu[0]) < 1e-8 * max(1.0, abs(mu[0]))


def _match(lam_J, mu, tol):
    """Assign each Jacobian eigenvalue to -mu_i or -(mu_i + mu_j); returns the unmatched ones."""
    mu = np.asarray(mu)
    cand = np.concatenate([-mu, -(mu[:, None] + mu[None, :])[np.triu_indices(mu.size)]])
    return [z for z in lam_J if np.min(np.abs(cand - z)) > tol]


@pytest.mark.parametrize("kw", RULES, ids=RULE_IDS)
@pytest.mark.parametrize("K", [2, 3])
def test_jacobian_spectrum_is_accounted_for_by_the_hessian(kw, K):
    """Every Jacobian eigenvalue (per unit eta) is -mu or -(mu + mu') for weight-Hessian eigenvalues mu, mu'
    (overlaps are quadratic in the weights, docs/model.md §5); tolerance 1e-8 (exact spectra, see module doc)."""
    fp = symmetric_fixed_point(Committee(K, K, **kw))
    lam = fp.jacobian_eigenvalues
    assert np.all(np.isreal(lam))
    assert _match(np.real(lam), fp.weight_hessian_eigenvalues, 1e-8) == []


def test_eigenvalue_matching_can_fail():
    """The matching is a real check: a shifted spectrum is not accounted for."""
    fp = symmetric_fixed_point(Committee(2, 2))
    assert _match(fp.jacobian_eigenvalues + 1e-3, fp.weight_hessian_eigenvalues, 1e-8) != []


@pytest.mark.parametrize("K", [2, 3])
def test_coinciding_students_escape_through_a_pair_of_weight_modes(K):
    """Finding: at the C = Q symmetric fixed point of BN with a fixed gain (exact rule, tau = 1; not the plateau,
    see test_fixed_gain_plateau_has_distinct_students) the largest Jacobian eigenvalue is -(mu + mu') = -2 mu
    for a doubly degenerate Hessian eigenvalue mu: it exceeds -mu_min, so there the escape rate is NOT
    -eta mu_min. (The overlaps are quadratic in the weights and the students coincide.) Tolerance 1e-8."""
    fp = symmetric_fixed_point(Committee(K, K, bn="exact", gain="fixed"))
    coincide = [o for o in fp.others if abs(o.Q[0, 1] - o.Q[0, 0]) < 1e-8]
    assert len(coincide) == 1
    o = coincide[0]
    mu = o.weight_hessian_eigenvalues
    lam = o.escape_rate
    assert lam > -mu[0] + 0.1
    nonzero = mu[np.abs(mu) > 1e-6]
    assert np.min(np.abs(-2 * nonzero - lam)) < 1e-8


@pytest.mark.parametrize("kw", RULES, ids=RULE_IDS)
def test_layout_coordinates_do_not_change_the_spectrum(kw):
    """The layout stores Q_ik once (i < k). In full-matrix coordinates (Q_ik, Q_ki separate, the flow reading
    the symmetric part) the spectrum is the layout's plus K(K-1)/2 zeros (antisymmetric part): a change of
    coordinates, which leaves the eigenvalues of the flow unchanged."""
    K = 3
    m = Committee(K, K, **kw)
    fp = symmetric_fixed_point(m)
    lay = m.layout
    n_full = K * K + lay.n_R + lay.n_g
    S = np.zeros((lay.size, n_full))  # full -> layout: y_ik = (z_ik + z_ki)/2
    P = np.zeros((n_full, lay.size))  # layout -> full: z_ik = z_ki = y_ik
    for i in range(K):
        for k in range(K):
            S[lay.Q_index[i, k], i * K + k] += 0.5 if i != k else 1.0
            P[i * K + k, lay.Q_index[i, k]] = 1.0
    for j in range(lay.n_R + lay.n_g):
        S[lay.n_Q + j, K * K + j] = P[K * K + j, lay.n_Q + j] = 1.0
    full = np.sort_complex(np.linalg.eigvals(P @ fp.jacobian @ S))
    expect = np.sort_complex(np.concatenate([fp.jacobian_eigenvalues, np.zeros(K * (K - 1) // 2)]))
    assert np.max(np.abs(full - expect)) < 1e-8


# -- exact derivatives against finite differences ---------------------------------------
@pytest.mark.parametrize("kw", RULES, ids=RULE_IDS)
def test_derivatives_agree_with_finite_differences(kw):
    """Complex-step Jacobian, derived weight gradient and complex-step weight Hessian against central
    differences (step 1e-6): agreement to 1e-6 relative (see module doc)."""
    m = Committee(3, 3, tau=1.7, **kw)
    fp = symmetric_fixed_point(m)
    h = 1e-6
    y = fp.state
    J_fd = np.empty_like(fp.jacobian)
    for j in range(y.size):
        e = np.zeros_like(y)
        e[j] = h
        J_fd[:, j] = (rates(m, y + e, 0.0) - rates(m, y - e, 0.0)) / (2 * h)
    assert np.max(np.abs(J_fd - fp.jacobian)) < 1e-6 * np.max(np.abs(fp.jacobian))
    # gradient of eps_g in the weights, away from the fixed point (a random weight point), vs FD of eps_g
    rng = np.random.default_rng(1)
    w0 = fp._w0 + 0.1 * rng.standard_normal(fp._w0.size)
    _, _, B = fp.weights

    def eg_of(v):
        Jw, gw, _ = fp._wvec_split(v)
        yv = m.layout.pack(Jw @ Jw.T, Jw @ B.T, gw)
        return m.system.eg(yv)

    grad = fp.weight_gradient(w0)
    g_fd = np.array([(eg_of(w0 + h * e) - eg_of(w0 - h * e)) / (2 * h) for e in np.eye(w0.size)])
    assert np.max(np.abs(g_fd - grad)) < 1e-6 * np.max(np.abs(grad))
    # Hessian at the fixed point vs FD of the gradient
    w = fp._w0
    H_fd = np.array([(fp.weight_gradient(w + h * e) - fp.weight_gradient(w - h * e)) / (2 * h)
                     for e in np.eye(w.size)])
    assert np.max(np.abs(H_fd - fp.weight_hessian)) < 1e-6 * np.max(np.abs(fp.weight_hessian))


def test_weights_realise_the_fixed_point():
    """J J^T = Q, J B^T = R, B B^T = T with N = K + M (to rounding)."""
    fp = symmetric_fixed_point(Committee(4, 4, bn="exact", tau=3.0))
    J, _g, B = fp.weights
    assert J.shape == (4, 8)
    assert np.max(np.abs(J @ J.T - fp.Q)) < 1e-12 * np.max(np.abs(fp.Q))
    assert np.max(np.abs(J @ B.T - fp.R)) < 1e-12
    assert np.max(np.abs(B @ B.T - np.eye(4))) == 0


# -- the plateau's length ------------------------------------------------------------------
def _escape_time(m, fp, eta, eps0, W):
    """alpha at which max |y - y*| first reaches 0.05, from weights J* + eps0 W (a valid Gram matrix)."""
    J, g, B = fp.weights
    n = J.size
    Jp = J + eps0 * W[:n].reshape(J.shape)
    gp = None if g is None else (g + eps0 * W[n:] if W.size > n else g)
    lam = fp.escape_rate * (eta if fp.eta == 0 else 1.0)
    amax = (math.log(1 / eps0) + 10) / lam
    res = integrate(m, eta, amax, start=(Jp @ Jp.T, Jp @ B.T, gp), alphas=np.linspace(0, amax, 4000), rtol=1e-10,
                    atol=1e-13)
    d = np.max(np.abs(m.layout.pack(res.Q, res.R, res.g) - fp.state), axis=1)
    j = int(np.argmax(d > 0.05))
    assert j > 0
    return float(np.interp(math.log(0.05), np.log(d[j - 1:j + 1]), res.alpha[j - 1:j + 1]))


@pytest.mark.parametrize("kw,eta", [(dict(), 0.5), (dict(bn="exact"), 10.0), (dict(bn="paper"), 10.0),
                                    (dict(bn="exact", gain="fixed"), 10.0)], ids=RULE_IDS)
def test_plateau_length_is_log_of_initial_asymmetry_over_lambda(kw, eta):
    """Integrating the full ODE from the plateau plus an asymmetry eps0 (weights moved along the most negative
    Hessian mode), the escape time grows like (1/lambda) ln(1/eps0) + O(1): the fitted slope is 1/lambda within
    2 %. Plain at eta = 0.5 with its own fixed point and Jacobian; BN at eta -> 0 realised by a huge batch (the
    eta^2/b terms ~1e-11), lambda = eta * (rate per unit eta)."""
    if kw:
        m = Committee(2, 2, batch=10**12, **kw)
        fp = symmetric_fixed_point(m)
    else:
        m = Committee(2, 2)
        fp = symmetric_fixed_point(m, eta)
    W = np.linalg.eigh(fp.weight_hessian)[1][:, 0]
    eps = np.array([1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8])
    times = [_escape_time(m, fp, eta, e, W) for e in eps]
    slope = np.polyfit(np.log(1 / eps), times, 1)[0]
    lam = fp.escape_rate * (eta if fp.eta == 0 else 1.0)
    assert abs(slope * lam - 1) < 0.02
    # plateau_length is that slope times ln(1/eps0), in units of alpha*eta at eta = 0
    assert abs(fp.plateau_length(1e-6) - math.log(1e6) / fp.escape_rate) < 1e-9


# -- the paper's reduced Hessian ---------------------------------------------------------------
@pytest.mark.parametrize("kw", [dict(), dict(bn="paper")], ids=["plain", "bn-paper"])
def test_reduced_hessian_is_the_papers(kw):
    """The reduced Hessian is symmetric of size 3 (plain) or 4 (BN) and has a negative eigenvalue (the
    paper's Figs. 1-2: the plateau is a saddle in Omega = (R, S, Q[, g]))."""
    fp = symmetric_fixed_point(Committee(3, 3, **kw))
    H, names = fp.reduced_hessian
    H = np.asarray(H, dtype=float)
    assert H.shape == ((3, 3) if not kw else (4, 4))
    assert len(names) == H.shape[0]
    assert np.max(np.abs(H - H.T)) < 1e-12 * np.max(np.abs(H))
    ev = fp.reduced_hessian_eigenvalues
    assert np.all(np.diff(ev) >= 0)
    assert ev[0] < 0


def test_fixed_point_type():
    fp = symmetric_fixed_point(Committee(2, 2))
    assert isinstance(fp, FixedPoint)
    assert fp.model == Committee(2, 2)
    assert fp.eta == 0.0
    assert np.allclose(fp.model.system.jacobian(fp.state, 1.0, part="linear"), fp.jacobian, rtol=0, atol=0)


# -- findings: batch norm against plain ------------------------------------------------------
@pytest.mark.parametrize("bn", ["paper", "exact"])
@pytest.mark.parametrize("K,tau", [(2, 1.0), (4, 1.0), (3, 2.5), (10, 10.0)])
def test_bn_escape_rate_is_plains_times_the_effective_learning_rate(bn, K, tau):
    """Finding: at eta -> 0, BN (either rule, learned gain) escapes at lambda_BN = h^2 lambda_plain with
    h^2 = g^2/(tau Q_ii) the effective learning rate (docs/model.md §5), plain at the same tau; the unstable
    eigenvalue has the same multiplicity. So BN delays escape per unit eta by exactly h^2 < 1 (tau/(K+(K-1)tau)^2
    at the paper's norm Q = 1/g^2, 1/(K+(K-1)tau) at unit norm): the delay is the learning rate, not the
    landscape. Tolerance 1e-10 relative (exact spectra)."""
    plain = symmetric_fixed_point(Committee(K, K, tau=tau))
    D = K + (K - 1) * tau
    for norm, h2 in ((None, tau / D ** 2), (1.0, 1 / D)):
        fp = symmetric_fixed_point(Committee(K, K, tau=tau, bn=bn), norm=norm)
        assert abs(fp.effective_learning_rate - h2) < 1e-12
        assert abs(fp.escape_rate / h2 - plain.escape_rate) < 1e-10 * plain.escape_rate
        assert fp.escape_rate < plain.escape_rate
        top = plain.escape_rate * h2
        assert (np.sum(np.abs(np.real(fp.jacobian_eigenvalues) - top) < 1e-9 * top)
                == np.sum(np.abs(np.real(plain.jacobian_eigenvalues) - plain.escape_rate) < 1e-9 * plain.escape_rate))


def test_paper_and_exact_rules_share_the_spectrum_not_the_jacobian():
    """Finding: at the plateau (eta -> 0) the two BN rules have different Jacobians (entries differ by O(0.1):
    the dropped term's derivative does not vanish) but the same spectrum, to 1e-8 (the zero cluster is
    degenerate, so its eigenvalues are conditioned like sqrt(rounding))."""
    pa = symmetric_fixed_point(Committee(3, 3, bn="paper"))
    ex = symmetric_fixed_point(Committee(3, 3, bn="exact"))
    assert np.max(np.abs(pa.jacobian - ex.jacobian)) > 0.1
    assert np.max(np.abs(np.sort(np.real(pa.jacobian_eigenvalues)) - np.sort(np.real(ex.jacobian_eigenvalues)))) < 1e-8


def test_cli_fixed_point(capsys):
    import json

    from symphase.cli import main
    assert main(["fixed-point", "--K", "2", "--bn", "exact", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    fp = symmetric_fixed_point(Committee(2, 2, bn="exact"))
    assert d["escape_rate"] == fp.escape_rate
    assert np.allclose(d["Q"], fp.Q, rtol=0, atol=0)
    assert main(["fixed-point", "--K", "3", "--eta", "0.1"]) == 0
    assert "escape rate" in capsys.readouterr().out
    assert main(["fixed-point", "--K", "2", "--M", "3"]) == 2
    assert "K = M" in capsys.readouterr().err


@pytest.mark.parametrize("kw", [dict(), dict(bn="paper")], ids=["plain", "bn"])
@pytest.mark.parametrize("K", [2, 5])
def test_plateau_is_not_stationary_in_the_papers_reduced_coordinates(kw, K):
    """Finding: eps_g on Omega = (R, S, Q[, g]) with C = Q has a NON-zero gradient at the fixed point (e.g. plain
    K = 2: (-0.805, -0.805, 0.986)), while its weight-space gradient vanishes: the plateau sits on the boundary
    of realisable overlaps (Q = K R^2 makes the Gram matrix singular), so the reduced Hessian there is no
    stability matrix and its eigenvalues need not give the escape rate. Gradients exact by complex step;
    thresholds 1e-12 (zero) and 1e-2 (clearly non-zero)."""
    m = Committee(K, K, **kw)
    fp = symmetric_fixed_point(m)
    from symphase._fixedpoint import symmetric_state
    om = [fp.R[0, 0], fp.R[0, 1], fp.Q[0, 0]] + ([fp.g[0]] if fp.g is not None else [])

    def eg(o):
        y = symmetric_state(m, o[2], o[2], o[0], o[1], o[3] if len(o) > 3 else None)
        return m.system.eg(y)

    grad = []
    for j in range(len(om)):
        oc = np.array(om, dtype=complex)
        oc[j] += 1e-30j
        grad.append(eg(oc).imag / 1e-30)
    assert np.max(np.abs(grad)) > 1e-2
    assert np.max(np.abs(fp.weight_gradient(fp._w0))) < 1e-12
