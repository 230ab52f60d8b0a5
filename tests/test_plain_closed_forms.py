"""Plain ODE: the closed-form plateau, eps_g closed forms, symmetries (docs/model.md §3-4)."""
import numpy as np
import pytest
from conftest import plateau, random_state

import symphase as sp


@pytest.mark.parametrize("K", [2, 3, 4, 5, 6])
def test_saad_solla_plateau_is_fixed_point_of_linear_part(K):
    # docs/model.md §4: Q = C = 1/(2K-1), R = S = 1/sqrt(K(2K-1)) makes the O(eta) part vanish.
    # Tolerance 1e-12: rounding of O(K^3) sums of O(1) terms, far below any truncation.
    Q, R = plateau(K)
    dQ, dR, _, _ = sp.rhs(sp.Committee(K, K), (Q, R), 1.0, part="linear")
    assert np.abs(dQ).max() <= 1e-12
    assert np.abs(dR).max() <= 1e-12


@pytest.mark.parametrize("K", [2, 3, 4, 5, 6])
def test_plateau_error_closed_form(K):
    Q, R = plateau(K)
    eg = sp.generalization_error(sp.Committee(K, K), (Q, R))
    assert eg == pytest.approx((K / np.pi) * (np.pi / 6 - K * np.arcsin(1 / (2 * K))), rel=1e-13, abs=1e-15)


def test_plateau_is_not_fixed_point_away_from_it():
    # the check above can fail: a perturbed plateau has a non-zero O(eta) part
    Q, R = plateau(3)
    R = 0.99 * R  # still a valid Gram matrix: Q - R R^T = (1 - 0.99^2) Q
    _dQ, dR, _, _ = sp.rhs(sp.Committee(3, 3), (Q, R), 1.0, part="linear")
    assert np.abs(dR).max() > 1e-5


@pytest.mark.parametrize("bn", [None, "paper", "exact"])
def test_student_equal_teacher_has_zero_error(bn, rng):
    T = np.array([[1.0, 0.3], [0.3, 0.8]])
    model = sp.Committee(2, 2, bn=bn, T=T)
    if bn is None:
        assert sp.generalization_error(model, (T, T)) == pytest.approx(0, abs=1e-15)
        dQ, dR, _, _ = sp.rhs(model, (T, T), 0.7)
        assert np.abs(dQ).max() < 1e-15 and np.abs(dR).max() < 1e-15
    else:
        # BN: the student equals the teacher when g_i / sqrt(tau Q_ii) J_i = B_i (tau = 1)
        g = np.sqrt(np.diag(T))
        assert sp.generalization_error(model, (T, T, g)) == pytest.approx(0, abs=1e-15)


def test_generalization_error_positive_otherwise(rng):
    model = sp.Committee(3, 2)
    Q, R, _ = random_state(model, rng)
    assert sp.generalization_error(model, (Q, R)) > 1e-3


@pytest.mark.parametrize("bn", [None, "paper", "exact"])
def test_permuting_students_commutes_with_rhs(bn, rng):
    model = sp.Committee(4, 3, bn=bn, tau=1.7, batch=3, noise=0.1)
    Q, R, g = random_state(model, rng)
    perm = np.array([2, 0, 3, 1])
    dQ, dR, dg, _ = sp.rhs(model, (Q, R, g), 0.8)
    gp = None if g is None else g[perm]
    dQp, dRp, dgp, _ = sp.rhs(model, (Q[np.ix_(perm, perm)], R[perm], gp), 0.8)
    np.testing.assert_allclose(dQp, dQ[np.ix_(perm, perm)], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(dRp, dR[perm], rtol=1e-13, atol=1e-15)
    if bn:
        np.testing.assert_allclose(dgp, dg[perm], rtol=1e-13, atol=1e-15)


def test_permuting_teachers_commutes_with_rhs(rng):
    T = np.diag([1.0, 0.5, 2.0])
    model = sp.Committee(2, 3, T=T)
    Q, R, _ = random_state(model, rng)
    perm = np.array([1, 2, 0])
    dQ, dR, _, _ = sp.rhs(model, (Q, R), 0.8)
    dQp, dRp, _, _ = sp.rhs(sp.Committee(2, 3, T=T[np.ix_(perm, perm)]), (Q, R[:, perm]), 0.8)
    np.testing.assert_allclose(dQp, dQ, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(dRp, dR[:, perm], rtol=1e-13, atol=1e-15)


def test_rhs_is_linear_plus_quadratic_in_eta(rng):
    model = sp.Committee(3, 3, batch=4, noise=0.05, tau=2.0)
    Q, R, _ = random_state(model, rng)
    lin = sp.rhs(model, (Q, R), 1.0, part="linear")[0]
    quad = sp.rhs(model, (Q, R), 1.0, part="quadratic")[0]
    full = sp.rhs(model, (Q, R), 0.3)[0]
    np.testing.assert_allclose(full, 0.3 * lin + 0.09 * quad, rtol=1e-12, atol=1e-15)
    # the eta^2 term scales like tau/b
    quad2 = sp.rhs(model.with_(batch=8), (Q, R), 1.0, part="quadratic")[0]
    np.testing.assert_allclose(quad2, quad / 2, rtol=1e-12, atol=1e-15)


def test_q_stays_symmetric_along_trajectory(rng):
    model = sp.Committee(3, 2)
    Q, R, _ = random_state(model, rng)
    res = sp.integrate(model, 0.5, 50.0, start=(Q, R))
    np.testing.assert_array_equal(res.Q, np.swapaxes(res.Q, -1, -2))
    assert res.success
