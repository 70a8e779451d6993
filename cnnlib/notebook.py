"""Helpers for the book's notebooks."""
from __future__ import annotations

__all__ = ["glue"]


def glue(name: str, value, display: bool = True) -> None:
    """Make ``value`` available to the page's prose as ``{glue:text}`name```.

    Uses myst-nb's ``glue`` when it is installed (building the book); elsewhere (Colab, a
    plain Jupyter) it just displays the value, so the notebook runs anywhere.
    """
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        if display:
            from IPython.display import display as show

            show(value)
        return
    myst_glue(name, value, display=display)
