"""The model: :class:`Committee`, a teacher-student soft committee machine (docs/model.md §1-2), and
its compiled :class:`System`.

A ``Committee`` is a plain description (sizes, rule, parameters). Everything
the compiled kernels need is built from it once, by :attr:`Committee.system`
(:class:`System`): callers never assemble kernel inputs.

:class:`System` is built once per :class:`Committee` (its ``.system``). It owns
the state layout, the teacher overlaps ``T``, the rule switches and the
parameter record, and makes the kernels' arguments
(:data:`symphase._kernels.KernelArgs`: named workspace, ``T``, ``par``). Every
consumer (the integrators, :func:`symphase.rhs`,
:func:`symphase.generalization_error`, the fixed-point Jacobian, the
simulator's eps_g pass, :func:`symphase.compare`) goes through it, so adding a
parameter or a rule touches the derivation and this module only. The model and
its system share this module, which imports the kernels and nothing above them:
whatever reads a model stands right above the kernels.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field
from functools import cached_property
from numbers import Integral, Real

import numpy as np

from . import _kernels as kern
from ._layout import StateLayout
from ._state import check_state, check_v, min_gram_eigenvalue  # noqa: F401  (re-exported: the model's state checks)
from ._validate import check_choice, real_array

#: The update rules, in their one spelling (docs/model.md §2).
RULES = ("plain", "paper", "exact")
#: Accepted values of ``bn``: ``None`` and ``"plain"`` both mean the plain network.
BN_RULES = (None, "plain", "paper", "exact")
GAINS = ("learned", "fixed")
#: The two-layer network (docs/model.md §13): the student's second layer and the output scaling.
SECOND_LAYERS = ("fixed", "learned")
SCALINGS = ("sum", "1/sqrt(K)", "1/K")
#: The preconditioners of the update (docs/model.md §14): ``None`` (``"none"``) is SGD. Each other name selects
#: the learning rule registered under it (:data:`symphase._rule.RULES`; registering a rule adds its name
#: here; ``"adaptive"`` runs on the weights only, docs/model.md §14.9).
PRECONDITIONERS = ["none", "natural", "unitwise", "adaptive"]
#: The learning rules by name (docs/model.md §2.4): ``"sgd"`` and each preconditioner's rule. Filled by
#: :func:`symphase._rule.register` (the registry's entries import the engines, so they are registered from
#: above; ``symphase`` registers the built-in rules on import); :func:`rule_for` reads it.
LEARNING_RULES: dict = {}
#: What a rule can declare it supports: the simulators (``weights``, ``overlaps``, ``sde``), the ODE and
#: what is built on it (``ode``: ``integrate``, ``rhs``, the fixed points and their spectra), BN with the
#: batch's own statistics (``batch_stats``), the two-layer network (``two_layer``) and ReLU.
RULE_FEATURES = frozenset({"weights", "overlaps", "sde", "ode", "batch_stats", "two_layer", "relu"})
#: The default damping ``eps`` of ``(F + eps I)^-1`` (docs/model.md §14); a model without a preconditioner
#: keeps it (any other value is refused there).
DEFAULT_DAMPING = 1e-3


def output_scale(scaling: str, n: int) -> float:
    """The prefactor of a network's output with ``n`` hidden units: 1, ``1/sqrt(n)`` or ``1/n``."""
    return {"sum": 1.0, "1/sqrt(K)": 1.0 / np.sqrt(n), "1/K": 1.0 / n}[scaling]


def rule_of(bn) -> str:
    """The rule's one spelling (``"plain"``, ``"paper"``, ``"exact"``) from a ``bn`` value.

    ``None``, ``"plain"`` and ``"none"`` (older sweep configs) mean the plain network
    (docs/model.md §2).

    Parameters
    ----------
    bn : {None, "none", "plain", "paper", "exact"}
        A value of ``Committee(bn=...)``.

    Returns
    -------
    str
        ``"plain"``, ``"paper"`` or ``"exact"``.

    Raises
    ------
    ValueError
        If ``bn`` is none of the accepted values.

    Examples
    --------
    >>> from symphase._model import rule_of
    >>> rule_of(None), rule_of("none"), rule_of("exact")
    ('plain', 'plain', 'exact')
    """
    if bn is None or bn == "none":
        return "plain"
    return check_choice("bn", bn, BN_RULES)


#: The activations ``phi`` of both networks; their codes in the kernels' parameter record are
#: their positions (:data:`symphase._kernels.ACTIVATIONS`, the same tuple).
ACTIVATIONS = kern.ACTIVATIONS
#: The activations with closed-form Gaussian averages (:data:`symphase._kernels.CLOSED_FORM_ACTIVATIONS`).
CLOSED_FORM_ACTIVATIONS = kern.CLOSED_FORM_ACTIVATIONS

#: Bounds of the model's numeric fields (docs/model.md §13.2). Far beyond any study, and finite,
#: so that an absurd value is refused here, naming the field, before it overflows downstream.
MAX_UNITS = 10_000      # K, M: the ODE costs ~K^4 per step, the teacher overlaps T are M x M
MAX_BATCH = 2**53        # batch: exact as a float; b -> inf is the small-learning-rate limit of the ODE (eta^2/b -> 0)
MAX_SCALE = 1e6         # tau, noise, weight_decay, |v*_n|, |T_nm|

_NO_DEFAULT = MISSING  # K, M: positional, required


class _Same:
    """``ModelField.option_default`` when the CLI and sweep default is the model's."""

    def __repr__(self):
        return "<the model's default>"


_SAME = _Same()


@dataclass(frozen=True)
class ModelField:
    """One field of :class:`Committee`, declared once in :data:`MODEL_FIELDS`.

    Everything that lists the model's fields is derived from this table: the
    dataclass fields of :class:`Committee` and its validation, :meth:`Committee.with_`,
    :meth:`~Committee.to_dict`, :meth:`~Committee.from_dict`, ``repr``, equality and
    hash, the command line's model options (:func:`symphase.cli.common.add_model_options`)
    and the axes of :func:`symphase.sweep`.

    Parameters
    ----------
    name : str
        The field's name (also the sweep axis; the CLI flag is ``--`` + the name with
        ``_`` as ``-``).
    kind : {"int", "real", "choice", "vector", "matrix"}
        An integer or a real number in ``[low, high]`` (``(low, high]`` when
        ``low_open``), one of ``choices``, or an array of finite numbers with
        ``|x| <= high``: ``M`` entries (``vector``) or ``M x M`` (``matrix``).
    default : object
        The :class:`Committee` default (none for the positional ``K`` and ``M``;
        ``None`` for an array: ones or the identity of the teacher's size).
    doc : str
        One line: the CLI help, the docstring and the table in docs/model.md.
    low, high : float, optional
        The range of a number; ``high`` bounds ``|x|`` of an array.
    low_open : bool
        Whether ``low`` itself is excluded.
    choices : tuple
        The values of a ``choice`` (as the CLI and sweeps spell them).
    cli : bool
        Whether the field is a command-line model option.
    sweep : bool
        Whether the field is an axis of :func:`symphase.sweep`.
    option_default : object
        The default of the CLI option and of the sweep axis, as they spell it
        (``None`` for ``M``: the value of ``K``; ``"plain"`` for ``bn``).
    core : bool
        A field of the committee machine as first released: ``repr``, :meth:`Committee.to_dict`
        and a sweep point's store key always show it. A newer field is shown only away from
        its default, so older reprs, saved results and sweep stores stay as they were.
    group : {"model", "two-layer"}
        The CLI option group.
    convert : callable, optional
        ``value -> stored value`` of a field with spellings of its own (``bn``: ``None``,
        ``"none"`` and ``"plain"`` are stored as ``None``), instead of the check by kind.
    spell : callable, optional
        ``stored value -> the CLI, sweep and to_dict spelling`` (``bn``: ``None`` as ``"plain"``).
    """

    name: str
    kind: str
    default: object
    doc: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple = ()
    cli: bool = True
    sweep: bool = True
    option_default: object = _SAME
    core: bool = False
    group: str = "model"
    convert: Callable | None = None
    spell: Callable | None = None

    @property
    def flag(self) -> str:
        """The command-line flag, e.g. ``--weight-decay``."""
        return "--" + self.name.replace("_", "-")

    @property
    def positional(self) -> bool:
        """Whether the field is positional and required in :class:`Committee` (``K``, ``M``)."""
        return self.default is _NO_DEFAULT

    @property
    def type(self) -> type:
        """The Python type of a CLI option value or a sweep coordinate: ``int``, ``float`` or ``str``."""
        return {"int": int, "real": float, "choice": str}.get(self.kind, str)

    @property
    def cli_default(self):
        """The default of the CLI option and the sweep axis."""
        return self.default if self.option_default is _SAME else self.option_default

    @property
    def annotation(self) -> str:
        """The annotation of the dataclass field."""
        if self.kind in ("vector", "matrix"):
            return "np.ndarray | None"
        return {"int": "int", "real": "float"}.get(self.kind, "str | None" if self.default is None else "str")

    def range_text(self, M: int | None = None) -> str:
        """What the field accepts, in words: ``"a real number in (0, 1e+06]"``."""
        if self.kind == "int":
            return f"an integer in [{self.low:g}, {self.high:g}]"
        if self.kind == "real":
            return f"a real number in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}]"
        if self.kind == "choice":
            return "one of " + ", ".join(map(repr, self.choices))
        m = "M" if M is None else f"M = {M}"
        shape = f"{m} numbers" if self.kind == "vector" else f"an {m} x {m} matrix of numbers"
        return f"{shape}, each finite and at most {self.high:g} in magnitude"

    def check(self, value, M: int | None = None):
        """``value`` validated and normalized (``int``, ``float``, the choice, a read-only float array),
        else ``ValueError`` (``TypeError`` never: a wrong type is a value out of range) naming the
        field and its range; an array's ``M`` is the model's teacher size."""
        if self.convert is not None:
            return self.convert(value)
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, Integral) or not self.low <= value <= self.high:
                raise ValueError(f"{self.name} must be {self.range_text()}, got {value!r}")
            return int(value)
        if self.kind == "real":
            ok = not isinstance(value, bool) and isinstance(value, Real) and math.isfinite(float(value))
            if ok:
                v = float(value)
                ok = (v > self.low if self.low_open else v >= self.low) and v <= self.high
            if not ok:
                raise ValueError(f"{self.name} must be {self.range_text()}, got {value!r}")
            return v
        if self.kind == "choice":
            if isinstance(value, str) and value in self.choices:
                return value
            raise ValueError(f"{self.name} must be {self.range_text()}; got {value!r}")
        shape = (M,) if self.kind == "vector" else (M, M)
        arr = real_array(value, f"{self.name} must be {self.range_text(M)}")
        if arr.shape != shape:
            what = f"M = {M} entries (one per teacher unit)" if self.kind == "vector" else f"shape (M, M) = {shape}"
            raise ValueError(f"{self.name} must have {what}, got shape {arr.shape}")
        if not np.all(np.abs(arr) <= self.high):  # NaN fails too
            raise ValueError(f"{self.name} must be {self.range_text(M)}, got {arr.tolist()}")
        arr = np.array(arr, dtype=float)
        arr.flags.writeable = False
        return arr

    def is_default(self, value, M: int) -> bool:
        """Whether a validated ``value`` is the default (ones or the identity for the arrays)."""
        if self.kind == "vector":
            return bool(np.all(value == 1.0))
        if self.kind == "matrix":
            return bool(np.array_equal(value, np.eye(M)))
        return value == self.default

    def plain(self, value):
        """``value`` as plain Python (JSON-ready) in the CLI's spelling: arrays as (nested) lists."""
        if self.spell is not None:
            return self.spell(value)
        return value.tolist() if isinstance(value, np.ndarray) else value

    def key(self, value):
        """``value`` as a hashable, exact part of the model's key."""
        return value.tobytes() if isinstance(value, np.ndarray) else value


def _stored_bn(bn):
    """``bn`` as :class:`Committee` stores it: ``None`` for the plain network, else the rule."""
    rule = rule_of(bn)
    return None if rule == "plain" else rule


def _stored_preconditioner(value):
    """``preconditioner`` as :class:`Committee` stores it: ``None`` for SGD (``None`` or ``"none"``), else
    ``"natural"``, ``"unitwise"`` or ``"adaptive"`` (docs/model.md §14)."""
    if value is None or value == "none":
        return None
    return check_choice("preconditioner", value, PRECONDITIONERS)


def _spelled_preconditioner(value):
    return "none" if value is None else value


def rule_for(model, what: str = "", needs: str = ""):
    """The learning rule that ``model`` names (``preconditioner=None``: SGD; :data:`LEARNING_RULES`), optionally
    checking that it supports ``needs`` (one of :data:`RULE_FEATURES`).

    Parameters
    ----------
    model : Committee
    what : str
        What asks, as a refusal should say it (e.g. ``"integrate"``).
    needs : str, optional
        A feature of :data:`RULE_FEATURES`.

    Returns
    -------
    symphase._rule.Rule

    Raises
    ------
    ValueError
        The preconditioner names no registered rule, or its rule does not
        support ``needs``: one line naming ``preconditioner``, ``what`` and what does support it.
    """
    name = "sgd" if model.preconditioner is None else model.preconditioner
    rule = LEARNING_RULES.get(name)
    if rule is None:
        raise ValueError(f"preconditioner: preconditioner={name!r} is not built yet"
                         f"{' for ' + what if what else ''}; the built rules are "
                         f"{', '.join(repr(n) for n in LEARNING_RULES)} (docs/model.md §14)")
    if needs and needs not in rule.supports:
        runs = {"weights": "simulate(method='weights')", "overlaps": "simulate(method='overlaps')",
                "sde": "simulate(method='sde') and escape_time", "ode": "integrate, rhs and the fixed points"}
        ok = [runs[f] for f in ("ode", "weights", "overlaps", "sde") if f in rule.supports]
        raise ValueError(f"preconditioner: {what or needs} does not run preconditioner={name!r} yet; it runs in "
                         f"{', '.join(ok) or 'nothing yet'} (docs/model.md §14)")
    return rule


#: The model's fields, declared once (docs/model.md §13.2): the order is ``Committee``'s, its
#: ``repr``'s and :meth:`Committee.to_dict`'s.
MODEL_FIELDS = (
    ModelField("K", "int", _NO_DEFAULT, "student hidden units", 1, MAX_UNITS, option_default=2, core=True),
    ModelField("M", "int", _NO_DEFAULT, "teacher hidden units (CLI and sweep default: K)", 1, MAX_UNITS,
               option_default=None, core=True),
    ModelField("bn", "choice", None, "update rule: the plain network (None), or batch normalization with "
               "the paper's rule (its Eqs. 2-3) or the exact gradient", choices=RULES, option_default="plain",
               core=True, convert=_stored_bn, spell=rule_of),
    ModelField("gain", "choice", "learned", "whether the BN gain g_i is learned (ignored for plain)",
               choices=GAINS, core=True),
    ModelField("tau", "real", 1.0, "input variance tau = sigma^2", 0.0, MAX_SCALE, low_open=True, core=True),
    ModelField("batch", "int", 1, "minibatch size b", 1, MAX_BATCH, core=True),
    ModelField("noise", "real", 0.0, "variance of Gaussian noise on the teacher's output", 0.0, MAX_SCALE,
               core=True),
    ModelField("T", "matrix", None, "teacher overlaps T_nm = B_n.B_m, symmetric positive semi-definite "
               "(default: identity)", high=MAX_SCALE, cli=False, sweep=False, core=True),
    ModelField("second_layer", "choice", "fixed", "the student's second layer v: fixed at its start v0 "
               "(default ones), or learned at rate eta2/N", choices=SECOND_LAYERS, group="two-layer"),
    ModelField("v_teacher", "vector", None, "the teacher's second layer v* (default ones)", high=MAX_SCALE,
               sweep=False, group="two-layer"),
    ModelField("scaling", "choice", "sum", "output prefactor c_K = 1, 1/sqrt(K) or 1/K of the student "
               "(with M for the teacher), as nn2pp's --meanfield and --normalise", choices=SCALINGS,
               group="two-layer"),
    ModelField("activation", "choice", "erf", "phi(u) = erf(u/sqrt 2), u or max(u, 0), for both networks; "
               "relu has no closed-form ODE: the simulator only", choices=ACTIVATIONS, group="two-layer"),
    ModelField("weight_decay", "real", 0.0, "weight decay lam: -(lam/N) J_i per step (and -(lam/N) v_i for "
               "a learned second layer), not multiplied by the learning rate", 0.0, MAX_SCALE,
               group="two-layer"),
    ModelField("preconditioner", "choice", None, "the update's preconditioner (F + eps I)^-1 of the population "
               "Fisher F: none (SGD), natural (the full F), unitwise (F's diagonal blocks, one per hidden unit) "
               "or adaptive (Amari-Park-Fukumizu's online estimate); docs/model.md §14",
               choices=PRECONDITIONERS, option_default="none", group="model",
               convert=_stored_preconditioner, spell=_spelled_preconditioner),
    ModelField("damping", "real", DEFAULT_DAMPING, "the damping eps of (F + eps I)^-1; set only with a "
               "preconditioner", 0.0, MAX_SCALE, low_open=True),
)
#: The fields by name.
FIELDS_BY_NAME = {f.name: f for f in MODEL_FIELDS}


def _declare_fields(cls):
    """Make ``cls`` a frozen dataclass whose fields are its table ``cls.FIELDS`` (``K``, ``M``
    positional; the rest keyword-only, with their defaults), and complete its docstring's
    Parameters from the same table. A subclass of :class:`Committee` with more fields in its
    ``FIELDS`` gets them the same way (the tests add one)."""
    inherited = getattr(cls, "__dataclass_fields__", {})
    new = [f for f in cls.FIELDS if f.name not in inherited]
    cls.__annotations__ = {f.name: f.annotation for f in new}
    for f in new:
        if f.positional:
            if inherited:
                raise TypeError(f"{cls.__name__}: an added field must have a default, {f.name} has none")
        else:
            setattr(cls, f.name, field(default=f.default, kw_only=True))
    cls.FIELDS_BY_NAME = {f.name: f for f in cls.FIELDS}
    if cls.__doc__:
        cls.__doc__ = cls.__doc__.replace("{PARAMETERS}", fields_doc(cls.FIELDS))
    return dataclass(frozen=True, eq=False, repr=False)(cls)  # repr, eq, hash: the class's own


def fields_doc(fields=MODEL_FIELDS, indent: str = "    ") -> str:
    """The numpydoc Parameters entries of ``fields`` (the docstring of :class:`Committee`)."""
    lines = []
    for f in fields:
        if f.kind == "choice":
            typ = "{" + ", ".join(map(repr, ((None,) if f.default is None else ()) + tuple(f.choices))) + "}"
        else:
            typ = {"int": "int", "real": "float", "vector": "array_like (M,), optional",
                   "matrix": "array_like (M, M), optional"}[f.kind]
        rng = "" if f.kind == "choice" else f"; {f.range_text()}"
        default = "" if f.positional or f.default is None else f" (default {f.default!r})"
        lines += [f"{f.name} : {typ}", f"{indent}{f.doc}{rng}{default}."]
    return ("\n" + indent).join(lines)


def fields_markdown(fields=MODEL_FIELDS) -> str:
    """The table of ``fields`` in docs/model.md §13.2 (a test keeps the two equal)."""
    rows = ["| field | values | default | CLI | sweep | what |", "|---|---|---|---|---|---|"]
    for f in fields:
        values = f.range_text() if f.kind != "choice" else ", ".join(f"`{c}`" for c in f.choices)
        default = "required" if f.positional else f"`{f.default!r}`"
        if f.cli_default is not f.default:
            default += f"; CLI, sweep: `{f.cli_default!r}`"
        cli = f"`{f.flag}`" if f.cli else ""
        rows.append(f"| `{f.name}` | {values} | {default} | {cli} | {'yes' if f.sweep else ''} | {f.doc} |")
    return "\n".join(rows)


@_declare_fields
class Committee:
    """A teacher-student soft committee machine (docs/model.md §1-2).

    The teacher's output is ``t = c_M sum_n v*_n phi(B_n.xi) + zeta``, the student's
    ``s = c_K sum_i v_i phi(h_i J_i.xi)`` with ``phi(u) = erf(u/sqrt 2)``, ``u`` or
    ``max(u, 0)`` and the scale ``h_i = 1`` (plain) or
    ``h_i = g_i/(sigma sqrt(Q_ii))`` (BN); inputs have variance ``tau = sigma^2``
    (Saad & Solla 1995; Takagi, Yoshida & Okada 2020; docs/model.md §1.3-1.4). The
    defaults (``v = v* = 1``, ``c = 1``, erf, no weight decay) are the soft committee
    machine of the paper; the rest is the two-layer network of Goldt et al. (2019)
    (docs/model.md §13). A ``Committee`` is a plain, immutable, hashable description;
    everything the kernels need is built from it by :attr:`system`. Its fields are
    declared once, in :data:`symphase._model.MODEL_FIELDS` (docs/model.md §13.2).

    ``activation="relu"`` has no closed-form Gaussian averages: such a model runs in
    :func:`symphase.simulate` only, and everything built on the ODE refuses it
    (:meth:`require_closed_form`).

    Parameters
    ----------
    {PARAMETERS}

    Raises
    ------
    ValueError
        Naming the field and its range, if a field is out of its range (the table
        above), ``v_teacher`` is not M numbers, or ``T`` is not a symmetric positive
        semi-definite (M, M) matrix.

    Attributes
    ----------
    rule : str
        ``"plain"``, ``"paper"`` or ``"exact"``: the rule in its one spelling.
    has_bn, exact, learns_gain : bool
        The rule's switches: batch norm on, exact BN gradient, gain learned.
    learns_v, scale, teacher_scale, is_committee
        The two-layer settings (docs/model.md §13): second layer learned, the output
        prefactors ``c_K`` and ``c_M``, and whether the model is the committee machine.

    Examples
    --------
    >>> import symphase
    >>> symphase.Committee(2, 2, bn="exact")
    Committee(K=2, M=2, bn='exact', gain='learned', tau=1.0, batch=1, noise=0.0)
    >>> symphase.Committee(3, 2, tau=0)
    Traceback (most recent call last):
        ...
    ValueError: tau must be a real number in (0, 1e+06], got 0
    """

    #: The fields, declared once (:data:`MODEL_FIELDS`); a subclass may add some.
    FIELDS = MODEL_FIELDS

    def __post_init__(self):
        for f in self.FIELDS:
            value = getattr(self, f.name)
            if value is None and f.kind in ("vector", "matrix"):
                value = np.ones(self.M) if f.kind == "vector" else np.eye(self.M)
            object.__setattr__(self, f.name, f.check(value, getattr(self, "M", None)))
        T = self.T
        scale = max(1.0, np.abs(T).max())
        if not np.allclose(T, T.T, rtol=0, atol=1e-12 * scale):
            raise ValueError("T must be symmetric")
        if np.linalg.eigvalsh(T)[0] < -1e-12 * scale:
            raise ValueError("T must be positive semi-definite (a Gram matrix of teacher vectors)")
        if "preconditioner" in self.FIELDS_BY_NAME and self.preconditioner is None and self.damping != DEFAULT_DAMPING:
            raise ValueError(f"damping: only a preconditioned update has a damping (got damping={self.damping!r} "
                             f"with preconditioner=None); set preconditioner='natural', 'unitwise' or 'adaptive', "
                             f"or leave damping at its default {DEFAULT_DAMPING:g}")

    # -- the rule ---------------------------------------------------------------
    @property
    def rule(self) -> str:
        """The update rule in its one spelling: ``"plain"``, ``"paper"`` or ``"exact"`` (docs/model.md §2).

        ``"plain"``: SGD without BN; ``"paper"``: BN with the paper's rule (its
        Eqs. 2-3, the term through ``sqrt(Q_ii)`` dropped); ``"exact"``: BN with the
        true gradient.
        """
        return "plain" if self.bn is None else self.bn

    @property
    def has_bn(self) -> bool:
        """Whether batch normalization is on (``bn`` is ``"paper"`` or ``"exact"``).

        Under BN the gains ``g_i`` are part of the state, also when they are fixed
        (docs/model.md §8.1).
        """
        return self.bn is not None

    @property
    def exact(self) -> bool:
        """Whether the rule is the exact BN gradient: the switch ``e = 1`` of docs/model.md §3.5.

        The exact rule keeps the term of the gradient through ``sqrt(Q_ii)``, which
        makes the update orthogonal to ``J_i`` (docs/model.md §2.2, §5.3).
        """
        return self.bn == "exact"

    @property
    def learns_gain(self) -> bool:
        """Whether the BN gain ``g_i`` is learned: the switch ``l_g = 1`` of docs/model.md §3.5.

        False for the plain network and for BN with ``gain="fixed"``.
        """
        return self.bn is not None and self.gain == "learned"

    # -- the second layer (docs/model.md §13) ---------------------------------------
    @property
    def learns_v(self) -> bool:
        """Whether the student's second layer ``v`` is learned (then it is part of the state)."""
        return self.second_layer == "learned"

    @property
    def scale(self) -> float:
        """The student's output prefactor ``c_K``: 1, ``1/sqrt(K)`` or ``1/K`` (``scaling``)."""
        return output_scale(self.scaling, self.K)

    @property
    def teacher_scale(self) -> float:
        """The teacher's output prefactor ``c_M``: 1, ``1/sqrt(M)`` or ``1/M`` (``scaling``)."""
        return output_scale(self.scaling, self.M)

    @property
    def is_committee(self) -> bool:
        """Whether this is the soft committee machine of the paper: erf, ``v = v* = 1`` fixed,
        output scaling ``"sum"``, no weight decay (the state and every result as before §13)."""
        return (not self.learns_v and self.scaling == "sum" and self.activation == "erf"
                and self.weight_decay == 0.0 and bool(np.all(self.v_teacher == 1.0)))

    def _shown(self) -> dict:
        """The fields ``repr`` and :meth:`to_dict` show, by name: the core ones always, a newer one
        (the two-layer settings) only away from its default."""
        return {f.name: getattr(self, f.name) for f in self.FIELDS
                if f.core or not f.is_default(getattr(self, f.name), self.M)}

    def require_closed_form(self, what: str) -> Committee:
        """``self``, if its activation has closed-form Gaussian averages; else ``ValueError`` naming
        ``activation``, saying that ``what`` needs them.

        The ODE and everything built on it (``integrate``, ``rhs``, ``generalization_error``,
        the fixed points, the curvature, the diffusion matrix, the reduced equations) exist for
        the activations in :data:`CLOSED_FORM_ACTIVATIONS` only; a ReLU model runs in the
        simulator (docs/model.md §13).

        Parameters
        ----------
        what : str
            What needs them, as the message should say it (e.g. ``"integrate"``).

        Returns
        -------
        Committee
            ``self``.

        Raises
        ------
        ValueError
            If ``activation`` is not in :data:`CLOSED_FORM_ACTIVATIONS`.

        Examples
        --------
        >>> import symphase
        >>> symphase.Committee(2, 2, activation="relu").require_closed_form("integrate")
        Traceback (most recent call last):
            ...
        ValueError: activation: integrate needs the closed-form averages of activation 'erf' or 'linear', ...
        """
        if self.activation not in CLOSED_FORM_ACTIVATIONS:
            raise ValueError(f"activation: {what} needs the closed-form averages of activation "
                             f"{' or '.join(map(repr, CLOSED_FORM_ACTIVATIONS))}, which activation="
                             f"{self.activation!r} has not; a {self.activation} model runs in the simulator only "
                             f"(symphase.simulate, 'symphase simulate')")
        return self

    def require_sgd(self, what: str) -> Committee:
        """``self``, if its update is SGD (``preconditioner=None``); else ``ValueError`` naming
        ``preconditioner``, saying that ``what`` runs SGD only and what runs the preconditioned update
        (docs/model.md §14: the simulators on the weights and on the overlaps, ``natural`` and ``unitwise``
        of the committee machine, plain and BN).

        Parameters
        ----------
        what : str
            What refuses, as the message should say it (e.g. ``"integrate"``).

        Returns
        -------
        Committee
            ``self``.

        Raises
        ------
        ValueError
            If ``preconditioner`` is set.

        Examples
        --------
        >>> import symphase
        >>> symphase.Committee(2, 2, preconditioner="natural").require_sgd("integrate")
        Traceback (most recent call last):
            ...
        ValueError: preconditioner: integrate runs SGD only (preconditioner=None), got preconditioner='natural'; ...
        """
        if self.preconditioner is not None:
            raise ValueError(f"preconditioner: {what} runs SGD only (preconditioner=None), got "
                             f"preconditioner={self.preconditioner!r}; preconditioner='natural' and 'unitwise' "
                             f"run in integrate, rhs, compare, symmetric_fixed_point and simulate(method='weights' "
                             f"or 'overlaps') for the committee machine (docs/model.md §14)")
        return self

    # -- derived descriptions ---------------------------------------------------
    @property
    def layout(self) -> StateLayout:
        """The flat state layout of this model (docs/model.md §8.1).

        Returns
        -------
        StateLayout
            ``StateLayout(K, M, has_bn, learns_v)``: ``g`` is part of the state
            under BN, ``v`` when the second layer is learned.
        """
        return StateLayout(self.K, self.M, self.has_bn, self.learns_v)

    @cached_property
    def system(self):
        """The compiled system of this model, built once and cached (docs/model.md §8).

        Returns
        -------
        System
            What the kernels need: layout, ``T``, the parameter record and
            the kernel arguments.
        """
        return System(self)

    def with_(self, **changes) -> Committee:
        """A copy of the model with some fields changed.

        An array field (``T``, ``v_teacher``) at its default (identity, ones) follows a
        new ``M``; one set to other values must be given again for a new ``M``.

        Parameters
        ----------
        **changes
            New values of fields of :data:`MODEL_FIELDS` (``K``, ``M``, ``bn``, ...).

        Returns
        -------
        Committee
            The new model, validated like any other.

        Raises
        ------
        ValueError
            As for :class:`Committee`.
        TypeError
            For a name that is not a field.

        Examples
        --------
        >>> import symphase
        >>> symphase.Committee(2, 2).with_(bn="paper", tau=2.0)
        Committee(K=2, M=2, bn='paper', gain='learned', tau=2.0, batch=1, noise=0.0)
        """
        unknown = [k for k in changes if k not in self.FIELDS_BY_NAME]
        if unknown:
            raise TypeError(f"with_(): {', '.join(unknown)} is not a field of Committee "
                            f"(the fields: {', '.join(self.FIELDS_BY_NAME)})")
        kw = {f.name: getattr(self, f.name) for f in self.FIELDS}
        if changes.get("M", self.M) != self.M:
            for f in self.FIELDS:
                if f.kind in ("vector", "matrix") and f.name not in changes and f.is_default(kw[f.name], self.M):
                    kw[f.name] = None  # the default of the new size
        kw.update(changes)
        return type(self)(kw.pop("K"), kw.pop("M"), **kw)

    @classmethod
    def from_dict(cls, values) -> Committee:
        """The model of a mapping of field values: :meth:`to_dict`'s, :meth:`attrs`', the CLI's or a sweep point's.

        A field that is missing (or ``None``) takes its CLI and sweep default
        (:attr:`ModelField.cli_default`); ``M`` missing or ``None`` is ``K``; other keys are ignored.

        Parameters
        ----------
        values : mapping
            Field name -> value, spelled as :meth:`to_dict`, the CLI or a sweep spell it
            (``bn="plain"``; arrays as (nested) lists or arrays).

        Returns
        -------
        Committee
            The model, validated like any other.

        Examples
        --------
        >>> import symphase
        >>> m = symphase.Committee(3, 2, bn="paper", tau=2.0, v_teacher=[1.0, 0.5])
        >>> symphase.Committee.from_dict(m.to_dict()) == m
        True
        >>> symphase.Committee.from_dict({"K": 3, "bn": "plain"})
        Committee(K=3, M=3, bn=None, gain='learned', tau=1.0, batch=1, noise=0.0)
        """
        kw = {}
        for f in cls.FIELDS:
            value = values.get(f.name)
            kw[f.name] = f.cli_default if value is None else value
        if kw["M"] is None:
            kw["M"] = kw["K"]
        return cls(kw.pop("K"), kw.pop("M"), **kw)

    def describe(self) -> str:
        """A one-line human-readable description of the model.

        Returns
        -------
        str
            E.g. ``"K=2, M=2, BN (exact rule, gain learned), tau=1, batch=1, noise=0"``:
            the fields ``repr`` shows, but ``T``.

        Examples
        --------
        >>> import symphase
        >>> symphase.Committee(2, 2, bn="exact").describe()
        'K=2, M=2, BN (exact rule, gain learned), tau=1, batch=1, noise=0'
        """
        parts = []
        for name, value in self._shown().items():
            f = self.FIELDS_BY_NAME[name]
            if name == "bn":
                parts.append("plain" if value is None else f"BN ({value} rule, gain {self.gain})")
            elif name not in ("gain", "T"):
                parts.append(f"{name}={value:g}" if f.kind == "real" and f.core else f"{name}={f.plain(value)}")
        return ", ".join(parts)

    def to_dict(self) -> dict:
        """The model's fields as plain Python values (JSON-ready).

        Returns
        -------
        dict
            The core fields ``K``, ``M``, ``bn`` (as its rule: ``"plain"``, ``"paper"``,
            ``"exact"``), ``gain``, ``tau``, ``batch``, ``noise``, ``T`` (nested lists),
            and the two-layer settings ``second_layer``, ``v_teacher``, ``scaling``,
            ``activation``, ``weight_decay`` where they differ from the committee
            machine's (:data:`MODEL_FIELDS`). :meth:`from_dict` inverts it.
        """
        return {name: self.FIELDS_BY_NAME[name].plain(value) for name, value in self._shown().items()}

    def attrs(self) -> dict:
        """The model's scalar parameters, for NetCDF attributes.

        Returns
        -------
        dict
            :meth:`to_dict` without ``T``.
        """
        d = self.to_dict()
        del d["T"]
        if "v_teacher" in d:
            d["v_teacher"] = np.asarray(d["v_teacher"])
        return d

    def __repr__(self):
        items = []
        for name, value in self._shown().items():
            f = self.FIELDS_BY_NAME[name]
            if f.kind == "matrix":  # abbreviated, and shown only when it is not the identity
                items += [] if f.is_default(value, self.M) else [f"{name}=..."]
            else:
                items.append(f"{name}={f.plain(value) if f.kind == 'vector' else value!r}")
        return f"{type(self).__name__}({', '.join(items)})"

    def _key(self):
        return tuple(f.key(getattr(self, f.name)) for f in self.FIELDS)

    def __eq__(self, other):
        if not isinstance(other, Committee):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self):
        return hash(self._key())


def check_model(model) -> Committee:
    """Check that ``model`` is a :class:`Committee`.

    Parameters
    ----------
    model : object
        The value passed as ``model``.

    Returns
    -------
    Committee
        ``model`` itself.

    Raises
    ------
    TypeError
        If ``model`` is not a :class:`Committee`.
    """
    if not isinstance(model, Committee):
        raise TypeError(f"model must be a symphase.Committee, got {type(model).__name__}")
    return model


def check_committee(model: Committee, what: str) -> Committee:
    """``model`` if it is the soft committee machine (:attr:`Committee.is_committee`), else ``ValueError``
    saying that ``what`` covers only that model (docs/model.md §13 lists what covers the two-layer network)."""
    model.require_closed_form(what)
    if not model.is_committee:
        raise ValueError(f"model: {what} covers the soft committee machine (erf, second layers fixed at 1, "
                         f"scaling 'sum', no weight decay); got {model.describe()}")
    return model


# ---------------------------------------------------------------------------
# The compiled system: one object from the model to the kernels
# ---------------------------------------------------------------------------

PARTS = ("full", "linear", "quadratic")
STEP = 1e-30  # complex step: exact to rounding for any step this small


class System:
    """A :class:`~symphase.Committee` compiled for the kernels (docs/model.md §3, §8).

    The one object between a model and the Numba kernels: it evaluates the
    order-parameter ODEs ``dy/dalpha`` (Saad & Solla 1995 generalized to BN;
    docs/model.md §3.5), ``eps_g`` (the paper's Eq. 13; docs/model.md §3.4) and
    their exact Jacobian on flat states (docs/model.md §8.1).

    Parameters
    ----------
    model : Committee
        The model; normally reached as ``model.system``, built once per model.

    Attributes
    ----------
    model, layout, K, M
        The model, its flat state layout and sizes.
    T : ndarray (M, M)
        The teacher overlaps, contiguous float64 (what the kernels read).
    has_bn, exact, learns_gain, learns_v : bool
        The rule switches (``learns_v``: a learned second layer, docs/model.md §13).
    teacher_weights : ndarray (M,)
        The teacher's weights ``c_M v*`` in ``Delta = t - s``.

    Examples
    --------
    >>> import symphase
    >>> system = symphase.Committee(2, 2).system
    >>> system.params(0.5)
    array([0.5, 1. , 1. , 0. , 0. , 0. , 0. , 0.5, 0. , 0. , 1. , 0. ])
    >>> y = system.state([[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]])
    >>> print(f"{system.eg(y):.3g}")        # the perfect student
    0
    """

    def __init__(self, model):
        self.model = model
        self.layout = model.layout
        self.K, self.M = model.K, model.M
        self.T = np.array(model.T, dtype=float, order="C")  # writable: one kernel signature
        self.has_bn, self.exact, self.learns_gain = model.has_bn, model.exact, model.learns_gain
        self.learns_v = model.learns_v
        # the ODE's averages (rhs, eg, jacobian) exist for erf and linear only (docs/model.md §13)
        self.closed_form = model.activation in kern.CLOSED_FORM_ACTIVATIONS
        # the teacher's weight in Delta = t - s: c_M v*_n (docs/model.md §13)
        self.teacher_weights = model.teacher_scale * np.asarray(model.v_teacher, dtype=float)

    def __repr__(self):
        return f"System({self.model!r})"

    # -- the parameter record and the kernel arguments ----------------------------
    def params(self, eta: float = 1.0, *, part: str = "full", eta2: float | None = None) -> np.ndarray:
        """The parameter record ``par = [eta, tau, b, noise, bn, e, lg, eta2, lam, lv, c, act]`` of the kernels.

        The order is ``symphase._kernels.PARAMS``; ``bn``, ``e``, ``lg`` are the rule
        switches of docs/model.md §3.5 as 0.0/1.0; ``eta2``, ``lam`` (weight decay),
        ``lv`` (learned second layer), ``c`` (the student's output scale) and ``act``
        (activation code) those of the two-layer network, docs/model.md §13.

        Parameters
        ----------
        eta : float
            The learning rate ``eta`` (the step is ``eta/N``).
        part : {"full", "linear", "quadratic"}
            ``"linear"`` sets ``b = inf``: the ``eta^2/b`` terms drop and the
            right-hand side is its ``O(eta)`` part (the small learning rate
            limit). ``"full"`` and ``"quadratic"`` keep the model's batch size.
        eta2 : float, optional
            The second layer's learning rate (default ``eta``).

        Returns
        -------
        ndarray (12,)
            The record, float64.
        """
        m = self.model
        batch = np.inf if part == "linear" else m.batch
        act = kern.ACTIVATIONS.index(m.activation)  # the model's, relu included (its code: the simulator only)
        return np.array([eta, m.tau, batch, m.noise, float(self.has_bn), float(self.exact),
                         float(self.learns_gain), eta if eta2 is None else eta2, m.weight_decay,
                         float(self.learns_v), m.scale, float(act)], dtype=float)

    def args(self, eta: float = 1.0, *, part: str = "full", dtype=float, v=None,
             eta2: float | None = None) -> kern.KernelArgs:
        """Fresh kernel arguments: a workspace of ``dtype``, ``T`` and :meth:`params`.

        A workspace is scratch space: one per thread of computation.

        Parameters
        ----------
        eta : float
            The learning rate.
        part : {"full", "linear", "quadratic"}
            As for :meth:`params`.
        dtype : dtype
            ``float`` or ``complex`` (complex-step differentiation).
        v : array_like (K,), optional
            The student's fixed second layer (default ones; ignored when it is
            learned, where the state holds it).
        eta2 : float, optional
            The second layer's learning rate (default ``eta``).

        Returns
        -------
        symphase._kernels.KernelArgs
            The named tuple ``(ws, T, par)``.
        """
        ws = kern.workspace(self.K, self.M, dtype, v=v, teacher_weights=self.teacher_weights)
        return kern.KernelArgs(ws, self.T, self.params(eta, part=part, eta2=eta2))

    # -- the state ------------------------------------------------------------------
    def state(self, Q, R, g=None, v=None, *, names=("Q", "R", "g", "v")) -> np.ndarray:
        """The validated flat state of ``(Q, R, g[, v])`` (docs/model.md §8.1, §13).

        Parameters
        ----------
        Q : array_like (K, K)
            Student-student overlaps.
        R : array_like (K, M)
            Student-teacher overlaps.
        g : array_like (K,), optional
            BN gains (default ones under BN; None for plain).
        v : array_like (K,), optional
            The second layer when it is learned (default ones); must be None when
            it is fixed (its values are then a parameter: :meth:`args`).
        names : tuple of str
            Names of the four arguments in error messages.

        Returns
        -------
        ndarray (layout.size,)
            The flat state ``y``.

        Raises
        ------
        ValueError
            Naming what is wrong (shape, symmetry, not a Gram matrix, BN
            ``Q_ii <= 0`` or ``g_i = 0``).
        """
        Q, R, g = check_state(self.model, Q, R, g, names=names[:3])
        if self.learns_v:
            v = check_v(self.model, v, names[3])
        elif v is not None:
            raise ValueError(f"{names[3]} is part of the state only for a learned second layer "
                             f"(second_layer='learned'); pass a fixed v as v0 to integrate")
        return self.layout.pack(Q, R, g, v)

    # -- evaluations on flat states -------------------------------------------------------
    def _closed_form(self, what: str):
        """Refuse (``ValueError`` naming ``activation``) an evaluation with closed-form averages of a
        model whose activation has none (ReLU: the simulator only)."""
        if not self.closed_form:
            self.model.require_closed_form(what)

    def rhs(self, y, eta: float = 1.0, *, part: str = "full", v=None, eta2=None) -> np.ndarray:
        """The right-hand side ``dy/dalpha`` of the order-parameter ODEs at flat state ``y``.

        ``dQ_ik/dalpha``, ``dR_in/dalpha``, ``dg_i/dalpha`` of docs/model.md §3.5
        (Saad & Solla 1995; the BN rules of Takagi, Yoshida & Okada 2020 and the
        exact gradient), generated from derivations/derive.py.

        Parameters
        ----------
        y : array_like (layout.size,)
            A flat state, real or complex (complex-step differentiation).
        eta : float
            The learning rate.
        part : {"full", "linear", "quadratic"}
            The whole right-hand side, its ``O(eta)`` part or its ``O(eta^2/b)`` part.
        v, eta2
            A fixed second layer and the second layer's learning rate (:meth:`args`).

        Returns
        -------
        ndarray (layout.size,)
            ``dy/dalpha``, in the dtype of ``y``.
        """
        self._closed_form("System.rhs")
        y = np.asarray(y)
        out = np.empty_like(y)
        a = self.args(eta, part="linear" if part == "linear" else "full", dtype=y.dtype, v=v, eta2=eta2)
        kern.rhs(y, out, a)
        if part == "quadratic":
            lin = np.empty_like(y)
            kern.rhs(y, lin, a._replace(par=self.params(eta, part="linear", eta2=eta2)))
            out = out - lin
        return out

    def eg(self, y, v=None):
        """The generalization error ``eps_g`` at flat state ``y``.

        ``eps_g = (1/2) sum_pq w_p w_q I2(z_p, z_q)`` at the effective overlaps (the
        paper's Eq. 13; Saad & Solla 1995; docs/model.md §3.4).

        Parameters
        ----------
        y : array_like (layout.size,)
            A flat state; complex ``y`` (complex-step differentiation) gives a
            complex value.
        v : array_like (K,), optional
            The fixed second layer (default ones; a learned one is in ``y``).

        Returns
        -------
        float or complex
            ``eps_g``.
        """
        self._closed_form("System.eg")
        y = np.asarray(y)
        if np.iscomplexobj(y):
            return complex(kern.eg(y, self.args(dtype=complex, v=v)))
        return float(kern.eg(y.astype(float), self.args(v=v)))

    def eg_many(self, ys, T=None, v=None) -> np.ndarray:
        """``eps_g`` (the paper's Eq. 13; docs/model.md §3.4) of each flat state in ``ys``.

        Parameters
        ----------
        ys : array_like (..., layout.size)
            Flat states; a row with a non-finite entry gives NaN.
        T : array_like (M, M), optional
            The teacher overlaps to use instead of the model's (a simulation
            with a random teacher).
        v : array_like (K,), optional
            The fixed second layer (default ones; a learned one is in the states).

        Returns
        -------
        ndarray (...)
            ``eps_g`` of each state.
        """
        self._closed_form("System.eg_many")
        ys = np.asarray(ys, dtype=float)
        flat = ys.reshape(-1, self.layout.size)
        a = self.args(v=v)
        if T is not None:
            a = a._replace(T=np.array(T, dtype=float, order="C"))
        out = np.full(flat.shape[0], np.nan)
        for j, y in enumerate(flat):
            if np.all(np.isfinite(y)):
                out[j] = kern.eg(y, a)
        return out.reshape(ys.shape[:-1])

    def jacobian(self, y, eta: float = 1.0, *, part: str = "full") -> np.ndarray:
        """The Jacobian ``A = d(dy/dalpha)/dy`` at ``y``, exact to rounding (docs/model.md §5.1, §6).

        Complex-step differentiation of the kernel right-hand side,
        ``A[:, j] = Im rhs(y + i h e_j) / h`` with ``h = 1e-30`` (Squire & Trapp 1998):
        no subtractive cancellation, so no step-size error. Compiles the complex
        variant of the right-hand side on first use only.

        Parameters
        ----------
        y : array_like (layout.size,)
            A real flat state.
        eta : float
            The learning rate.
        part : {"full", "linear", "quadratic"}
            As for :meth:`rhs`.

        Returns
        -------
        ndarray (layout.size, layout.size)
            The Jacobian, real.
        """
        self._closed_form("System.jacobian")
        y = np.asarray(y, dtype=float)
        n = y.size
        Jm = np.empty((n, n))
        yc = y.astype(complex)
        a = self.args(eta, part=part, dtype=complex)
        out = np.empty(n, dtype=complex)
        for j in range(n):
            yc[j] += STEP * 1j
            kern.rhs(yc, out, a)
            yc[j] = y[j]
            Jm[:, j] = out.imag / STEP
        return Jm
