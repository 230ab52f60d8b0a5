"""Sphinx extension: the figures of ``symphase reproduce``, each with the code that made it.

``.. figure-gallery::`` (MyST: ```` ```{figure-gallery} ````) walks
:data:`symphase.figures.FIGURES` at build time. For each figure module it
writes a section titled by the module's ``TITLE``, the summary line of its
docstring, the committed PNG ``figures/<NAME>.png`` and the module's source
(as ``literalinclude`` would). A figure added to ``FIGURES`` appears here
without editing the page; a figure whose PNG is not committed fails the build
(``-W``). The nodes are built directly, so the directive works the same in
Markdown (MyST) and reStructuredText pages.
"""
from __future__ import annotations

import inspect
import os
import re

from docutils import nodes
from sphinx.directives.code import container_wrapper
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

#: ``code`` and :role:`target` spans of a docstring summary, shown as literals.
_LITERAL = re.compile(r"(?::\w+:)?`{1,2}([^`]+)`{1,2}")


def _inline(text: str) -> list:
    """Text with its ``code`` spans as literal nodes (the summary of a figure docstring)."""
    out, pos = [], 0
    for m in _LITERAL.finditer(text):
        out.append(nodes.Text(text[pos:m.start()]))
        out.append(nodes.literal(m.group(1), m.group(1)))
        pos = m.end()
    out.append(nodes.Text(text[pos:]))
    return out


class FigureGallery(SphinxDirective):
    """One section per entry of ``symphase.figures.FIGURES``."""

    has_content = False

    def _figure(self, name: str, module, root: str):
        env = self.env
        section = nodes.section(ids=[f"figure-{name.replace('_', '-')}"], names=[name])
        section += nodes.title(text=module.TITLE)
        summary = inspect.cleandoc(module.__doc__ or "").split("\n\n")[0].replace("\n", " ")
        section += nodes.paragraph("", "", *_inline(summary))
        section += nodes.paragraph("", "", nodes.Text("Module "), nodes.literal(text=f"symphase.figures.{name}"),
                                   nodes.Text("; its data: "), nodes.literal(text=f"figures/{name}.nc"),
                                   nodes.Text("."))
        png = os.path.join(root, "figures", f"{name}.png")
        if os.path.isfile(png):
            # a leading "/" is the source directory (docs/): the image is copied into _images/
            section += nodes.image(uri=f"/../figures/{name}.png", alt=module.TITLE, width="100%")
        else:
            logger.warning(f"figure-gallery: figures/{name}.png is not committed (make it with "
                           f"`python -m symphase.figures.{name}`)", location=(env.docname, self.lineno))
        source = os.path.abspath(module.__file__)
        env.note_dependency(source)
        with open(source, encoding="utf-8") as fh:
            code = fh.read()
        block = nodes.literal_block(code, code, language="python", source=source)
        block["linenos"] = False
        section += container_wrapper(self, block, f"symphase/figures/{name}.py")
        return section

    def run(self):
        from symphase import figures

        # the repository: symphase/figures/__init__.py -> symphase/figures -> symphase -> root
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(figures.__file__))))
        return [self._figure(name, figures.load(name), root) for name in figures.FIGURES]


def setup(app):
    app.add_directive("figure-gallery", FigureGallery)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
