"""The model's fields are declared once (symphase._model.MODEL_FIELDS, issue 19 item 3): every consumer
(the dataclass, validation, with_, to_dict/from_dict, repr, equality, the CLI options, the sweep axes)
follows the table, the numeric fields have finite ranges refused naming the field, and the activation,
ReLU included, is part of the model."""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import pytest

import symphase as sp
from symphase import _model
from symphase._model import MODEL_FIELDS, Committee, ModelField, _declare_fields
from symphase._sweep import TASKS, check_sweep
from symphase._sweep_tasks import _key, model_axes
from symphase.cli import main
from symphase.cli.common import add_model_options, model_from

NAMES = [f.name for f in MODEL_FIELDS]
#: A value other than the default for every field (K = M = 2), each valid.
OTHER = {"K": 3, "M": 3, "bn": "exact", "gain": "fixed", "tau": 2.0, "batch": 4, "noise": 0.1,
         "T": [[1.0, 0.2, 0.0], [0.2, 1.0, 0.0], [0.0, 0.0, 1.0]], "second_layer": "learned",
         "v_teacher": [1.0, 0.5, 2.0], "scaling": "1/K", "activation": "linear", "weight_decay": 1e-3,
         "preconditioner": "natural", "damping": 0.01}


def other_model(cls=Committee, **extra):
    kw = {k: v for k, v in OTHER.items() if k not in ("K", "M")}
    return cls(OTHER["K"], OTHER["M"], **kw, **extra)


def parser(model=Committee):
    p = argparse.ArgumentParser()
    add_model_options(p, model=model)
    return p


def test_every_consumer_lists_exactly_the_table():
    """The dataclass fields, to_dict, repr, the key, from_dict, the CLI options and the sweep axes name
    exactly the table's fields (the CLI and sweep: those marked cli/sweep), in its order."""
    assert set(OTHER) == set(NAMES)
    assert [f.name for f in dataclasses.fields(Committee)] == NAMES
    m = other_model()
    assert list(m.to_dict()) == NAMES
    positions = [repr(m).index(f" {name}=" if name != "K" else "(K=") for name in NAMES]
    assert positions == sorted(positions)
    assert len(m._key()) == len(NAMES)
    assert Committee.from_dict(m.to_dict()) == m
    actions = [a for a in parser()._actions if a.dest != "help"]
    cli = [f for f in MODEL_FIELDS if f.cli]
    assert [a.dest for a in actions] == [f.name for f in cli]
    assert [a.option_strings for a in actions] == [[f.flag] for f in cli]
    sweep = [f.name for f in MODEL_FIELDS if f.sweep]
    for task in TASKS.values():
        assert [k for k in task.params if k in NAMES] == sweep
        assert {k: task.defaults[k] for k in sweep} == {f.name: f.cli_default for f in MODEL_FIELDS if f.sweep}


def test_flags_and_defaults_are_the_old_ones():
    """The CLI keeps its flags, types, choices and defaults (as before the table), and the sweep its
    axes, types and defaults; a default point keeps its store key (pinned from the code before)."""
    p = parser()
    got = {a.dest: (a.option_strings[0], a.default, a.choices, getattr(a.type, "__name__", None))
           for a in p._actions if a.dest != "help"}
    assert got == {
        "K": ("--K", 2, None, "int"), "M": ("--M", None, None, "int"),
        "bn": ("--bn", "plain", ["plain", "paper", "exact"], None),
        "gain": ("--gain", "learned", ["learned", "fixed"], None), "tau": ("--tau", 1.0, None, "float"),
        "batch": ("--batch", 1, None, "int"), "noise": ("--noise", 0.0, None, "float"),
        "second_layer": ("--second-layer", "fixed", ["fixed", "learned"], None),
        "v_teacher": ("--v-teacher", None, None, None),
        "scaling": ("--scaling", "sum", ["sum", "1/sqrt(K)", "1/K"], None),
        "activation": ("--activation", "erf", ["erf", "linear", "relu"], None),
        "weight_decay": ("--weight-decay", 0.0, None, "float"),
        "preconditioner": ("--preconditioner", "none", ["none", "natural", "unitwise", "adaptive"], None),
        "damping": ("--damping", 1e-3, None, "float")}
    params, defaults, newer = model_axes()
    assert params == {"K": int, "M": int, "bn": str, "gain": str, "tau": float, "batch": int, "noise": float,
                      "second_layer": str, "scaling": str, "activation": str, "weight_decay": float,
                      "preconditioner": str, "damping": float}
    assert defaults == {"K": 2, "M": None, "bn": "plain", "gain": "learned", "tau": 1.0, "batch": 1, "noise": 0.0,
                        "second_layer": "fixed", "scaling": "sum", "activation": "erf", "weight_decay": 0.0,
                        "preconditioner": "none", "damping": 1e-3}
    assert newer == {"second_layer": "fixed", "scaling": "sum", "activation": "erf", "weight_decay": 0.0,
                     "preconditioner": "none", "damping": 1e-3}
    # computed with the code before the table (commit f8af0b6)
    old = {"ode": "1c33446bb7d851cf6186", "fixed_point": "1786d8c6a8e580f95fd9",
           "simulate": "f30274bc33419a08303a", "compare": "19c1bbd824b606768bff"}
    old2 = {"ode": "7e3382a92b5a0746086e", "fixed_point": "2f8c60f6cb0f13eaa6ef",
            "simulate": "9714097d3c95a204d617", "compare": "bffd80a1988d215cb284"}
    for name, task in TASKS.items():
        assert _key(task, dict(task.defaults)) == old[name]
        changed = {**task.defaults, "bn": "exact", "tau": 2.0, "weight_decay": 1e-3, "scaling": "1/K"}
        assert _key(task, changed) == old2[name]
    # the CLI reads its options back into the model they name
    args = p.parse_args(["--K", "3", "--bn", "exact", "--gain", "fixed", "--tau", "2", "--batch", "4", "--noise",
                         "0.1", "--second-layer", "learned", "--v-teacher", "1,0.5,2", "--scaling", "1/K",
                         "--activation", "linear", "--weight-decay", "1e-3", "--preconditioner", "natural",
                         "--damping", "0.01"])
    assert model_from(args) == other_model().with_(T=None)
    assert model_from(p.parse_args([])) == Committee(2, 2)


def test_repr_to_dict_describe_unchanged_for_the_committee_machine():
    """The core fields are always shown, the newer ones only away from their defaults (doctests and
    saved results as before)."""
    assert repr(Committee(2, 2)) == "Committee(K=2, M=2, bn=None, gain='learned', tau=1.0, batch=1, noise=0.0)"
    assert Committee(2, 2).to_dict() == {"K": 2, "M": 2, "bn": "plain", "gain": "learned", "tau": 1.0, "batch": 1,
                                         "noise": 0.0, "T": [[1.0, 0.0], [0.0, 1.0]]}
    assert Committee(2, 2, bn="exact").describe() == "K=2, M=2, BN (exact rule, gain learned), tau=1, batch=1, noise=0"
    assert repr(other_model()) == (
        "Committee(K=3, M=3, bn='exact', gain='fixed', tau=2.0, batch=4, noise=0.1, T=..., second_layer='learned', "
        "v_teacher=[1.0, 0.5, 2.0], scaling='1/K', activation='linear', weight_decay=0.001, preconditioner='natural', "
        "damping=0.01)")


@pytest.mark.parametrize("name", NAMES)
def test_with_changes_each_field_and_the_key_sees_it(name):
    """with_ sets every field; the key (equality, hash) tells the changed model from the old one."""
    base = Committee(2, 2) if name in ("K", "M") else Committee(3, 3)
    if name == "damping":  # only a preconditioned update has a damping (docs/model.md §14)
        base = base.with_(preconditioner="natural")
    changed = base.with_(**{name: OTHER[name]})
    got = getattr(changed, name)
    want = OTHER[name] if name != "bn" else "exact"
    assert np.array_equal(got, want) if isinstance(got, np.ndarray) else got == want
    assert changed != base and changed._key() != base._key()
    assert changed == base.with_(**{name: OTHER[name]}) and hash(changed) == hash(base.with_(**{name: OTHER[name]}))


def test_with_unknown_field_and_new_M():
    with pytest.raises(TypeError, match="momentum is not a field"):
        Committee(2, 2).with_(momentum=0.9)
    # arrays at their default follow a new M; others must be given again
    assert Committee(2, 2).with_(M=3).T.shape == (3, 3)
    with pytest.raises(ValueError, match=r"^v_teacher must have M = 3 entries"):
        Committee(2, 2, v_teacher=[1.0, 0.5]).with_(M=3)


# -- a field added to the table reaches every consumer ------------------------------------------------------

MOMENTUM = ModelField("momentum", "real", 0.0, "heavy-ball momentum beta", 0.0, 0.99)


@_declare_fields
class WithMomentum(Committee):
    """A committee machine with one more field (test only): {PARAMETERS}"""

    FIELDS = MODEL_FIELDS + (MOMENTUM,)


def test_a_field_added_to_the_table_reaches_every_consumer():
    """One entry in the table, nothing else: the dataclass field, validation naming its range, with_,
    to_dict/from_dict, repr (shown away from its default), the key, the docstring, the CLI option (read
    back into the model) and a sweep axis that leaves the older keys alone."""
    assert [f.name for f in dataclasses.fields(WithMomentum)] == NAMES + ["momentum"]
    assert "momentum : float" in WithMomentum.__doc__
    m = WithMomentum(2, 2)
    assert m.momentum == 0.0 and repr(m) == repr(Committee(2, 2)).replace("Committee", "WithMomentum")
    with pytest.raises(ValueError, match=r"^momentum must be a real number in \[0, 0.99\], got 1.5"):
        WithMomentum(2, 2, momentum=1.5)
    fast = m.with_(momentum=0.9)
    assert isinstance(fast, WithMomentum) and fast.momentum == 0.9 and fast != m
    assert fast.to_dict()["momentum"] == 0.9 and "momentum" not in m.to_dict()
    assert repr(fast).endswith("noise=0.0, momentum=0.9)")
    assert WithMomentum.from_dict(fast.to_dict()) == fast
    p = parser(WithMomentum)
    assert "--momentum" in p.format_help()
    assert model_from(p.parse_args(["--momentum", "0.5"]), model=WithMomentum).momentum == 0.5
    params, defaults, newer = model_axes(WithMomentum)
    assert params["momentum"] is float and defaults["momentum"] == 0.0 == newer["momentum"]


# -- ranges ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    ({"K": 0}, r"^K must be an integer in \[1, 10000\], got 0"),
    ({"K": 10**9}, r"^K must be an integer in \[1, 10000\]"),
    ({"M": 10**9}, r"^M must be an integer in \[1, 10000\]"),
    ({"tau": 1e300}, r"^tau must be a real number in \(0, 1e\+06\], got 1e\+300"),
    ({"tau": float("inf")}, r"^tau must be a real number in \(0, 1e\+06\]"),
    ({"noise": 1e300}, r"^noise must be a real number in \[0, 1e\+06\]"),
    ({"weight_decay": 1e150}, r"^weight_decay must be a real number in \[0, 1e\+06\]"),
    ({"batch": 2**53 + 1}, r"^batch must be an integer in \[1, 9\.0072e\+15\]"),
    ({"batch": True}, r"^batch must be an integer"),
    ({"v_teacher": [1e300, 1.0]}, r"^v_teacher must be M = 2 numbers, each finite and at most 1e\+06 in magnitude"),
    ({"T": [[1e300, 0.0], [0.0, 1.0]]}, r"^T must be an M = 2 x M = 2 matrix"),
    ({"M": 2, "v_teacher": [1.0, 0.5, 2.0]}, r"^v_teacher must have M = 2 entries \(one per teacher unit\)"),
    ({"activation": "tanh"}, r"^activation must be one of 'erf', 'linear', 'relu'"),
])
def test_absurd_values_are_refused_naming_the_field_and_range(kwargs, message):
    K, M = kwargs.pop("K", 3), kwargs.pop("M", 2)
    with pytest.raises(ValueError, match=message):
        Committee(K, M, **kwargs)


def test_bounds_are_inclusive_where_documented():
    m = Committee(1, 1, tau=1e6, noise=1e6, weight_decay=1e6, batch=2**53, v_teacher=[-1e6])
    assert (m.tau, m.noise, m.weight_decay, m.batch) == (1e6, 1e6, 1e6, 2**53)
    assert Committee(3, 2, tau=1e-300).tau == 1e-300


@pytest.mark.parametrize("argv, word", [
    (["ode", "--tau", "1e300"], "tau must be a real number in (0, 1e+06]"),
    (["ode", "--noise", "1e300"], "noise must be a real number in [0, 1e+06]"),
    (["ode", "--weight-decay", "1e150"], "weight_decay must be a real number in [0, 1e+06]"),
    (["ode", "--v-teacher", "1e300,1"], "v_teacher must be M = 2 numbers"),
    (["ode", "--K", "3", "--M", "2", "--v-teacher", "1,0.5,2"], "v_teacher must have M = 2 entries"),
    (["ode", "--batch", "10000000000000000"], "batch must be an integer in [1, 9.0072e+15]"),
    (["ode", "--activation", "relu"], "activation: this command needs"),
    (["fixed-point", "--activation", "relu"], "activation:"),
])
def test_cli_refuses_absurd_model_options_in_one_line(argv, word, capsys):
    """issue 22 items 6 and 12: these gave tracebacks, or blamed eta or K."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("symphase: error:") and word in err, err


# -- the activation is part of the model ------------------------------------------------------------------

RELU = Committee(2, 2, activation="relu")
Q0, R0 = np.eye(2) * 0.5, np.eye(2) * 0.1


def test_relu_model_is_a_model():
    assert RELU.activation == "relu" and not RELU.is_committee
    assert RELU.to_dict()["activation"] == "relu" and "activation='relu'" in repr(RELU)
    assert RELU != Committee(2, 2) and Committee.from_dict(RELU.to_dict()) == RELU
    assert RELU.system.params(0.5)[-1] == 2.0  # the kernels' code of relu (symphase._kernels.ACTIVATIONS)


@pytest.mark.parametrize("call", [
    lambda: sp.integrate(RELU, 0.5, 1.0, start=(Q0, R0)),
    lambda: sp.rhs(RELU, (Q0, R0), 1.0),
    lambda: sp.generalization_error(RELU, (Q0, R0)),
    lambda: sp.symmetric_fixed_point(RELU),
    lambda: sp.curvature(RELU, (Q0, R0), N=10),
    lambda: sp.diffusion_matrix(RELU, (Q0, R0), 0.5).D,
    lambda: sp.reduced_rhs(RELU, 0.5, 0.0, 0.1, 0.0),
    lambda: sp.reduced_generalization_error(RELU, 0.5, 0.0, 0.1, 0.0),
    lambda: sp.reduced_hessian(RELU, 0.1, 0.0, 0.5),
    lambda: sp.compare(RELU, 50, 0.5, 1.0, 1),
    lambda: sp.escape_time(RELU, 100, 0.5, samples=2),
    lambda: RELU.system.rhs(RELU.system.state(Q0, R0)),
    lambda: RELU.system.eg(RELU.system.state(Q0, R0)),
    lambda: RELU.system.jacobian(RELU.system.state(Q0, R0)),
], ids=["integrate", "rhs", "generalization_error", "symmetric_fixed_point", "curvature", "diffusion_matrix",
        "reduced_rhs", "reduced_generalization_error", "reduced_hessian", "compare", "escape_time", "System.rhs",
        "System.eg", "System.jacobian"])
def test_closed_form_api_refuses_relu_naming_activation(call):
    with pytest.raises(ValueError, match=r"^activation: .* needs the closed-form averages") as info:
        call()
    assert "\n" not in str(info.value)


def test_sweep_refuses_relu_where_it_needs_the_ode():
    with pytest.raises(ValueError, match=r"^activation: task 'ode' needs"):
        check_sweep("ode", {"activation": ["erf", "relu"]})
    _, grid, _ = check_sweep("simulate", {"activation": ["erf", "relu"]})
    assert grid == {"activation": ["erf", "relu"]}
    with pytest.raises(ValueError, match=r"^tau must be a real number in \(0, 1e\+06\]"):
        check_sweep("ode", {"tau": [1.0, 1e300]})
    assert check_sweep("ode", {"bn": ["none", "exact"]})[1] == {"bn": ["plain", "exact"]}


def test_docs_table_is_the_table():
    """docs/model.md §13.2 holds the table as fields_markdown() writes it."""
    text = (Path(__file__).parents[1] / "docs" / "model.md").read_text()
    assert _model.fields_markdown() in text
