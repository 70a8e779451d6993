"""cnnlib.plot.animation_html: a player that re-runs identically and needs no network."""
import re

import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402
from matplotlib.animation import FuncAnimation  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from cnnlib.plot import animation_html  # noqa: E402

# Tests that fail on purpose drop an animation before it is drawn, and matplotlib says so.
pytestmark = pytest.mark.filterwarnings("ignore:Animation was deleted without rendering")


def _anim(frames=3):
    fig = Figure(figsize=(2, 2), dpi=40)
    ax = fig.subplots()
    line, = ax.plot([0, 1], [0, 1])
    return FuncAnimation(fig, lambda i: line.set_ydata([0, i]), frames=frames)


def test_the_player_is_the_same_on_every_run_and_named_by_its_id():
    first, second = animation_html(_anim(), "demo"), animation_html(_anim(), "demo")
    assert first == second  # matplotlib alone names it after a fresh uuid4 every time
    assert 'id="_anim_imgdemo"' in first
    assert not re.search(r"[0-9a-f]{32}", first)


def test_every_frame_is_embedded_and_nothing_comes_from_the_network():
    html = animation_html(_anim(frames=4), "demo")
    frames = re.findall(r'"data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(frames) == 4 and len(set(frames)) == 4
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "fa fa-" not in html and "&#9654;" in html  # the play button has a text label
    assert "\\\n" not in html  # one line per frame


@pytest.mark.parametrize("anim_id", ["", "1x", "a-b", "a b", None])
def test_bad_ids_are_refused(anim_id):
    with pytest.raises(ValueError, match="anim_id must be"):
        animation_html(_anim(), anim_id)


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="matplotlib Animation"):
        animation_html("<html>", "demo")
    with pytest.raises(ValueError, match="default_mode"):
        animation_html(_anim(), "demo", default_mode="bounce")
