"""Methods as data (issue 19 item 2): the simulators of ``simulate`` and the integrators of ``integrate``
are registered classes that declare what they run; refusals come from the declarations; one driver
loop (``symphase._driver.Driver``) runs every simulator and ``escape_time``."""
import inspect
import os
import re
import signal

import numpy as np
import pytest

import symphase as sp
from symphase import _driver, _methods, _sgd
from symphase._methods import ODE_METHODS, RK4, SIM_METHODS, SimulationMethod, Weights
from symphase._simulate import METHODS, simulate

FEATURES = ("two_layer", "batch_stats", "n_test", "relu")
# the smallest run that asks for each feature: (model, simulate keywords)
ASKS = {
    "two_layer": (sp.Committee(2, 2, second_layer="learned"), {}),
    "batch_stats": (sp.Committee(2, 2, bn="exact", batch=2), {"bn_stats": "batch"}),
    "n_test": (sp.Committee(2, 2), {"n_test": 50}),
    "relu": (sp.Committee(2, 2, activation="relu"), {}),
}
OPTION = {"two_layer": "model", "batch_stats": "bn_stats", "n_test": "n_test", "relu": "model"}


def small(model, method, **kw):
    return simulate(model, 20, 0.5, 0.5, seeds=[3, 4], alphas=[0.0, 0.25, 0.5], method=method, workers=1, **kw)


def test_registry_names_are_the_methods_and_classes_are_accepted():
    assert tuple(SIM_METHODS) == METHODS == ("weights", "overlaps", "sde")
    for name, cls in SIM_METHODS.items():
        assert cls.name == name and issubclass(cls, SimulationMethod)
        by_name, by_class = small(sp.Committee(2, 2, bn="paper"), name), small(sp.Committee(2, 2, bn="paper"), cls)
        assert by_class.info["method"] == name
        for field in ("alpha", "Q", "R", "g", "eg", "v"):
            np.testing.assert_array_equal(getattr(by_name, field), getattr(by_class, field))
    with pytest.raises(ValueError, match="^method must be one of 'weights', 'overlaps', 'sde'"):
        small(sp.Committee(2, 2), "euler")
    with pytest.raises(ValueError, match="^method must be one of"):
        small(sp.Committee(2, 2), SimulationMethod)  # the base class runs nothing


@pytest.mark.parametrize("feature", FEATURES)
@pytest.mark.parametrize("name", list(SIM_METHODS))
def test_each_option_runs_or_is_refused_as_the_method_declares(name, feature):
    """Every (method, feature) pair: a declared feature runs; an undeclared one is refused in one line
    naming the option, the method and exactly the methods whose declarations have it."""
    cls = SIM_METHODS[name]
    model, kw = ASKS[feature]
    if getattr(cls, feature):
        assert small(model, name, **kw).status == "completed"
        return
    with pytest.raises(ValueError) as err:
        small(model, name, **kw)
    msg = str(err.value)
    supporting = [n for n, c in SIM_METHODS.items() if getattr(c, feature)]
    assert "\n" not in msg and msg.startswith(f"{OPTION[feature]}: method={name!r} does not support")
    assert msg.endswith("it runs with method=" + " or ".join(map(repr, supporting)))


def test_batch_statistics_run_the_committee_machine_only():
    """A rule of the batch-statistics kernels, whichever method has them: refused naming bn_stats."""
    for name in ("weights", "overlaps"):
        with pytest.raises(ValueError, match=r"^bn_stats: bn_stats='batch' runs the committee machine only"):
            small(sp.Committee(2, 2, bn="exact", batch=2, second_layer="learned"), name, bn_stats="batch")
        with pytest.raises(ValueError, match=r"^bn_stats: bn_stats='batch' runs the committee machine only"):
            small(sp.Committee(2, 2, bn="exact", batch=2), name, bn_stats="batch", start={"v": [1.0, 0.5]})


def test_docstring_table_agrees_with_the_declarations():
    """The table in simulate's docstring says which method runs which model; it must be the classes'."""
    doc = inspect.getdoc(simulate)
    row = r"^ *(weights|overlaps|sde) {2,}.*?((?:(?:yes|no) *){4})$"
    rows = {m.group(1): m.group(2).split() for m in re.finditer(row, doc, re.MULTILINE)}
    assert set(rows) == set(SIM_METHODS)
    for name, cells in rows.items():
        assert [c == "yes" for c in cells] == [getattr(SIM_METHODS[name], f) for f in FEATURES], name


def test_a_new_method_is_one_class():
    """A simulator defined here (the weights' SGD, declaring no test set) runs through simulate as a class,
    with the numbers of the method it reuses, and its own declarations refuse n_test."""
    class NoTestSet(Weights):
        name = "weights-no-test"
        n_test = False

    model = sp.Committee(2, 2, bn="exact")
    a, b = small(model, NoTestSet), small(model, "weights")
    np.testing.assert_array_equal(a.eg, b.eg)
    assert a.info["method"] == "weights-no-test"
    with pytest.raises(ValueError, match=r"^n_test: method='weights-no-test' does not support .* method='weights'$"):
        small(model, NoTestSet, n_test=10)


def test_activation_keyword_is_gone_and_names_the_model_field():
    with pytest.raises(TypeError, match=r'^simulate\(\) takes no activation: .*Committee\(K, M, activation="relu"\)$'):
        small(sp.Committee(2, 2), "weights", activation="relu")
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'actvation'"):
        small(sp.Committee(2, 2), "weights", actvation="relu")
    res = small(sp.Committee(2, 2, activation="relu"), "weights")
    assert res.model.activation == "relu" and res.to_dict()["model"]["activation"] == "relu"


def test_integrators_are_registered_the_same_way():
    assert set(ODE_METHODS) == {"adaptive", "rk4"}
    model = sp.Committee(2, 2)
    Q0, R0, _, _ = sp.random_initial(model, N=100, seed=0)
    a = sp.integrate(model, 0.5, 3.0, start=(Q0, R0), method="rk4", dt=0.05)
    b = sp.integrate(model, 0.5, 3.0, start=(Q0, R0), method=RK4, dt=0.05)
    np.testing.assert_array_equal(a.eg, b.eg)
    assert a.info["method"] == b.info["method"] == "rk4"
    assert sp.integrate(model, 0.5, 3.0, start=(Q0, R0), method=_methods.Adaptive).info["method"] == "adaptive"
    with pytest.raises(ValueError, match="^method must be one of 'adaptive', 'rk4'"):
        sp.integrate(model, 0.5, 3.0, start=(Q0, R0), method="euler")
    with pytest.raises(ValueError, match="^dt is the fixed step of method='rk4'"):
        sp.integrate(model, 0.5, 3.0, start=(Q0, R0), dt=0.1)


def test_every_sampler_runs_through_the_one_driver(monkeypatch):
    """simulate (each method) and escape_time go through Driver.run and Driver.item."""
    runs = []
    real_run = _driver.Driver.run

    def counted(self, start):
        runs.append(self.n)
        return real_run(self, start)
    monkeypatch.setattr(_driver.Driver, "run", counted)
    for name in SIM_METHODS:
        small(sp.Committee(2, 2), name)
    sp.escape_time(sp.Committee(2, 2), 500, 1.0, samples=2, alpha_max=1.0, workers=1)
    assert runs == [2, 2, 2, 2]


def test_simulate_itself_is_short():
    """issue 19: simulate() validates once and dispatches to the method object, in under 80 lines
    (its docstring aside)."""
    src = inspect.getsource(simulate)
    doc = inspect.getdoc(simulate)
    code = src.split('"""', 2)[2]
    assert len(code.strip().splitlines()) < 80, len(code.strip().splitlines())
    assert doc and len(src.splitlines()) > len(code.strip().splitlines())


def test_sigint_stops_a_serial_run_at_a_chunk_and_keeps_the_records(monkeypatch):
    """A real SIGINT in the main thread while a single worker runs: the driver's handler sets the stop
    flag (no KeyboardInterrupt lands mid-record), the run returns 'interrupted' with what it recorded,
    and the default handler is back afterwards."""
    calls = {"n": 0}
    real = _sgd.sgd_steps

    def kernel(*args):
        calls["n"] += 1
        if calls["n"] == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return real(*args)
    monkeypatch.setattr(_sgd, "sgd_steps", kernel)
    res = simulate(sp.Committee(2, 2), 50, 0.5, 1.0, seeds=3, workers=1, alphas=np.linspace(0, 1, 11))
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert res.status == "interrupted" and res.seed_status == ["interrupted"] * 3
    n = res.n_recorded[0]
    assert 1 <= n < 11 and res.n_recorded[1] == res.n_recorded[2] == 0
    assert np.all(np.isfinite(res.eg[0, :n])) and np.all(np.isnan(res.eg[0, n:]))


def test_workers_do_not_change_a_seed():
    """The pool hands out seeds in any order; each seed's numbers are its own."""
    model = sp.Committee(2, 2, bn="paper")
    one = simulate(model, 30, 0.5, 1.0, seeds=[7, 1, 4, 2, 9], workers=1, alphas=[0.0, 1.0])
    three = simulate(model, 30, 0.5, 1.0, seeds=[7, 1, 4, 2, 9], workers=3, alphas=[0.0, 1.0])
    np.testing.assert_array_equal(one.Q, three.Q)
    np.testing.assert_array_equal(one.eg, three.eg)
