"""Helpers for the book's notebooks."""
from __future__ import annotations

__all__ = ["glue"]


def glue(name: str, value, display: bool = True) -> None:
    """Make ``value`` available to the page's prose as ``{glue:text}`name```.

    Uses myst-nb's ``glue`` when it is installed (building the book); elsewhere (Colab, a
    plain Jupyter) it just displays the value, so the notebook runs anywhere.
    """
    # Checked here, not by myst-nb: a bad name must fail on Colab too, not first when the book
    # is built. The {glue:text} role reads "key:format", so a ':' in the key cannot be pasted.
    if not isinstance(name, str):
        raise TypeError(f"name must be a str such as 'classic_params', got {name!r} ({type(name).__name__})")
    if not name or ":" in name:
        raise ValueError(f"name must be a non-empty str without ':', such as 'classic_params', got {name!r}")
    if not isinstance(display, bool):  # "no" is truthy: it would display
        raise TypeError(f"display must be True or False, got {display!r}")
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        if display:
            from IPython.display import display as show

            show(value)
        return
    myst_glue(name, value, display=display)
