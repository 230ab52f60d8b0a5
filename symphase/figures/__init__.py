"""The figures of ``symphase reproduce``: one module per figure.

Each module has ``NAME``, ``TITLE``, ``compute(quick) -> xarray.Dataset`` (thin
calls of the public API: no number typed into a figure), ``plot(ds)`` and
``summary(ds)``; ``python -m symphase.figures.<module>`` makes that one figure
into ``figures/``.
"""
import importlib

FIGURES = ["fig1_paper_hessian_K", "fig2_paper_hessian_tau", "fig3_paper_sgd", "fig4_escape_curves",
           "fig5_escape_rates", "fig6_escape_time_lnN", "fig7_curvature", "fig8_escape_distribution",
           "fig9_two_layer", "fig10_natural_rates", "fig11_natural_curves",
           "fig12_natural_escape"]


def load(name: str):
    """The figure module ``name`` (imported on demand)."""
    return importlib.import_module(f"{__name__}.{name}")
