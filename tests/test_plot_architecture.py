"""cnnlib.plot.plot_architecture: the diagram's labels come from running the model."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from torch import nn  # noqa: E402

from cnnlib import create_model, list_models  # noqa: E402
from cnnlib.plot import plot_architecture  # noqa: E402


def _texts(fig):
    return [t.get_text() for t in fig.axes[0].texts]


def test_lenet_diagram_names_every_stage_and_shape_in_order():
    fig = plot_architecture(create_model("lenet"), (1, 28, 28), "LeNet")
    texts = _texts(fig)
    shapes = ["1 @ 28x28", "6 @ 28x28", "6 @ 14x14", "16 @ 10x10", "16 @ 5x5", "400", "120",
              "84", "10"]
    ops = ["conv 5x5, pad 2\n+ sigmoid", "avg pool 2x2, stride 2", "conv 5x5\n+ sigmoid",
           "avg pool 2x2, stride 2", "flatten", "dense\n+ sigmoid", "dense\n+ sigmoid", "dense"]
    assert [t for t in texts if t in shapes] == shapes
    assert [t for t in texts if t not in shapes] == ops
    assert fig.axes[0].get_title() == "LeNet"
    plt.close(fig)


def test_modern_lenet_folds_batch_norm_and_relu_into_the_arrow():
    fig = plot_architecture(create_model("lenet_modern"), (1, 28, 28))
    assert "conv 5x5, pad 2\n+ BN\n+ ReLU" in _texts(fig)
    assert "max pool 2x2, stride 2" in _texts(fig)
    assert fig.axes[0].get_title() == "LeNet"
    plt.close(fig)


def test_strides_groups_and_global_pooling_are_named():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(),
                          nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.Conv2d(8, 4, 1, groups=2),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten())
    texts = _texts(plot_architecture(model, (3, 32, 32)))
    for want in ("conv 3x3, stride 2, pad 1\n+ ReLU", "conv 3x3, pad 1, depthwise",
                 "conv 1x1, groups 2", "global avg pool", "8 @ 16x16", "4 @ 1x1", "4"):
        assert want in texts
    plt.close("all")


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_can_be_drawn(name):
    fig = plot_architecture(create_model(name), (1, 28, 28))
    assert "1 @ 28x28" in _texts(fig) and "10" in _texts(fig)
    plt.close(fig)


def test_bad_input_is_named():
    with pytest.raises(TypeError, match="torch.nn.Module"):
        plot_architecture("lenet", (1, 28, 28))
    with pytest.raises(ValueError, match="cannot take inputs of shape"):
        plot_architecture(create_model("lenet"), (3, 28, 28))
    with pytest.raises(ValueError, match="scale must be"):
        plot_architecture(create_model("lenet"), (1, 28, 28), scale=0)
    with pytest.raises(ValueError, match="cannot draw an output of shape"):
        plot_architecture(nn.Sequential(nn.Linear(4, 4), nn.Unflatten(1, (2, 2))), (4,))
    deep = nn.Sequential(*[nn.Linear(4, 4) for _ in range(41)])
    with pytest.raises(ValueError, match="more than 40"):
        plot_architecture(deep, (4,))
