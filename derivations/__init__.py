"""The SymPy derivation of symphase's equations and the generators of ``symphase/_generated/``.

Run from the repository root (each generator: ``--check`` fails if the committed
module differs from what it generates)::

    python -m derivations.derive [--check]          # the ODE kernels -> symphase/_generated/ode_kernels.py
    python -m derivations.symmetric [--check]       # the symmetric subspace -> symphase/_generated/symmetric.py
    python -m derivations.eg_derivatives [--check]  # d eps_g / dC -> symphase/_generated/eg_derivatives.py
    python -m derivations.paper_bn                  # the BN equations against the paper's printed forms

Importing a module does no work: each derivation is a function, called by the
module's ``main()`` (``derive.derive()``, ``symmetric.derive()`` and
``eg_derivatives.derive()``, cached, and ``paper_bn.compare()``). The steps are written up in
``derivations/DERIVATION.md``;
the specification is ``docs/model.md``. SymPy is used here only, never by ``symphase``.
"""
