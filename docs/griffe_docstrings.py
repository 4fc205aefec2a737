"""Griffe extension for the API reference: storyqa's docstrings as Google style reads them.

* ``Example:`` (the singular, as the docstrings write it) is read as an examples section, so
  its doctest lines render as code rather than as an admonition's text;
* the reStructuredText roles of the docstrings (``:class:`Hyperparams```, ``:mod:`stories```)
  render as code spans (`Hyperparams`), with no role name left in the text.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

EXAMPLE_HEADING = re.compile(r"^(\s*)Example:\s*$", re.M)
ROLE = re.compile(r":(?:py:)?(?:class|mod|func|meth|attr|data|exc|obj|const):`~?([^`]+)`")


class StoryqaDocstrings(griffe.Extension):
    """Rewrites each docstring once its object is loaded."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        rewrite(obj)

    def on_module(self, *, mod: griffe.Module, **kwargs: Any) -> None:
        rewrite(mod)  # a package's own docstring is not seen by on_object


def rewrite(obj: griffe.Object) -> None:
    """``obj``'s docstring with ``Example:`` as ``Examples:`` and reST roles as code spans."""
    if obj.docstring is None:
        return
    text = EXAMPLE_HEADING.sub(r"\1Examples:", obj.docstring.value)
    obj.docstring.value = ROLE.sub(r"`\1`", text)
