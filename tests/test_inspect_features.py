"""What a network computes, seen from outside: cnnlib.inspect's feature maps, top-activating
images, saliency and Grad-CAM, and the figures of cnnlib.plot that draw them."""
import matplotlib.pyplot as plt
import pytest
import torch
from torch import nn

import cnnlib
from cnnlib.inspect import (conv_layer_names, feature_maps, grad_cam, grad_cam_layer,
                            rank_correlation, saliency, top_activating)
from cnnlib.plot import plot_feature_maps, plot_filters, plot_heatmaps

MODELS = cnnlib.list_models()


def _built(name):
    """The registered model with its defaults, and a small input size that it takes."""
    torch.manual_seed(0)
    model = cnnlib.create_model(name)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    channels = convs[0].in_channels
    for side in (28, 32, 64, 224):  # later architectures may need larger inputs
        x = torch.rand(2, channels, side, side)
        try:
            with torch.no_grad():
                model.eval()(x)
        except (RuntimeError, ValueError):
            continue
        return model, x
    pytest.fail(f"{name} takes none of the input sizes tried")


def _hook_counts(model):
    return [len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules()]


@pytest.mark.parametrize("name", MODELS)
def test_feature_maps_of_every_model_equal_a_manual_forward(name):
    model, x = _built(name)
    model.train()
    names = conv_layer_names(model)
    assert names, f"{name} has no convolution"
    hooks_before = _hook_counts(model)
    maps = feature_maps(model, x)
    assert list(maps) == names  # the default: every convolution, in order
    assert model.training and all(m.training for m in model.modules())  # mode restored
    assert _hook_counts(model) == hooks_before  # hooks removed
    # The same outputs by hand: run each convolution on the input it received.
    inputs = {}
    handles = [model.get_submodule(n).register_forward_hook(
        lambda m, i, o, n=n: inputs.__setitem__(n, i[0].detach().clone())) for n in names]
    model.eval()
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    for n in names:
        expected = model.get_submodule(n)(inputs[n])
        assert maps[n].shape == expected.shape
        torch.testing.assert_close(maps[n], expected)
        assert not maps[n].requires_grad


def test_feature_maps_are_taken_before_an_inplace_activation():
    # A convolution followed by ReLU(inplace=True) (as in the classic LeNet's in-place
    # sigmoid): a stored reference to the convolution's output would come back rectified.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(inplace=True), nn.Flatten(),
                          nn.Linear(4 * 6 * 6, 3))
    x = torch.randn(4, 1, 8, 8)
    got = feature_maps(model, x)["0"]
    with torch.no_grad():
        torch.testing.assert_close(got, model[0](x))
    assert (got < 0).any()
    # Grad-CAM named the convolution reads the same maps, unrectified, in the graph
    cam = grad_cam(model, x, layer="0", upsample=False)
    a = model[0](x).detach().requires_grad_(True)
    score = model[3](torch.relu(a).flatten(1))[torch.arange(4), model(x).argmax(1)].sum()
    (grad,) = torch.autograd.grad(score, a)
    torch.testing.assert_close(cam, torch.relu((grad.mean(dim=(2, 3), keepdim=True) * a).sum(1)))


def test_feature_maps_restore_mode_and_hooks_when_the_forward_fails():
    model = cnnlib.create_model("plain_cnn").train()
    model.features[2].eval()  # a mixed state must come back as it was
    before = _hook_counts(model)
    with pytest.raises(ValueError, match="cannot take inputs"):
        feature_maps(model, torch.rand(2, 1, 1, 1))
    assert _hook_counts(model) == before
    assert model.training and not model.features[2].training and model.features[0].training


def test_feature_maps_name_the_valid_layers_and_check_the_input():
    model = cnnlib.create_model("plain_cnn")
    x = torch.rand(2, 1, 28, 28)
    with pytest.raises(ValueError, match=r"no layer 'features\.99'.*features\.0.*conv layers"):
        feature_maps(model, x, ["features.99"])
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        feature_maps(model, x[0])
    with pytest.raises(ValueError, match="3 channels"):
        feature_maps(model, torch.rand(2, 3, 28, 28))
    with pytest.raises(TypeError, match="floating-point"):
        feature_maps(model, torch.zeros(2, 1, 28, 28, dtype=torch.uint8))
    with pytest.raises(ValueError, match="x is on meta but the model's weights are on cpu"):
        feature_maps(model, torch.zeros(2, 1, 28, 28, device="meta"))
    got = feature_maps(model, x, ["classifier.2", "features.4"])
    assert list(got) == ["classifier.2", "features.4"]
    assert got["classifier.2"].shape == (2, 10)


def test_top_activating_finds_the_brightest_images(make_loader, tiny_cnn):
    # A 1x1 convolution with weight 1 and bias 0: the mean of its map is the image's mean.
    net = tiny_cnn()
    net[0] = nn.Conv2d(1, 4, 1)
    with torch.no_grad():
        net[0].weight.zero_()
        net[0].weight[2] = 1.0
        net[0].bias.zero_()
    loader = make_loader(40, batch_size=7)  # the class sets the brightness
    images = torch.cat([x for x, _ in loader])
    top = top_activating(net, loader, "0", channel=2, k=5)
    expected = images.mean(dim=(1, 2, 3)).topk(5)
    assert torch.equal(top.indices, expected.indices)
    torch.testing.assert_close(top.values, expected.values)
    assert (top.values[:-1] >= top.values[1:]).all()
    top_max = top_activating(net, loader, "0", channel=2, k=3, reduce="max")
    torch.testing.assert_close(top_max.values, images.amax(dim=(1, 2, 3)).topk(3).values)


def test_top_activating_refuses_bad_arguments(make_loader, tiny_cnn):
    net, loader = tiny_cnn(), make_loader(16)
    with pytest.raises(ValueError, match="channel 4 is out of range.*4 channels"):
        top_activating(net, loader, "0", channel=4, k=2)
    with pytest.raises(ValueError, match="only 16 images"):
        top_activating(net, loader, "0", channel=0, k=17)
    with pytest.raises(ValueError, match="shuffle"):
        top_activating(net, make_loader(16, shuffle=True), "0", channel=0, k=2)
    with pytest.raises(ValueError, match="no layer 'conv1'"):
        top_activating(net, loader, "conv1", channel=0, k=2)


def test_saliency_is_the_absolute_input_gradient_of_the_class_score():
    torch.manual_seed(0)
    model = cnnlib.create_model("plain_cnn", in_channels=3, widths=(4, 8)).train()
    x = torch.randn(3, 3, 28, 28)
    target = [1, 7, 4]
    got = saliency(model, x, target)
    assert got.shape == (3, 28, 28) and (got >= 0).all()
    assert model.training and all(p.grad is None for p in model.parameters())
    model.eval()
    for i, c in enumerate(target):
        xi = x[i:i + 1].clone().requires_grad_(True)
        model(xi)[0, c].backward()
        torch.testing.assert_close(got[i], xi.grad[0].abs().amax(dim=0))
    # the default target is the predicted class
    with torch.no_grad():
        predicted = model(x).argmax(1)
    torch.testing.assert_close(saliency(model, x), saliency(model, x, predicted))
    with pytest.raises(ValueError, match=r"\[0, 9\]"):
        saliency(model, x, 10)


class _ConvGapLinear(nn.Module):
    """conv -> global average pool -> linear: the class score is linear in the conv maps."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 5, 3)
        self.head = nn.Linear(5, 3)

    def forward(self, x):
        return self.head(self.conv(x).mean(dim=(2, 3)))


def test_grad_cam_by_hand_when_the_score_is_linear_in_the_maps():
    # y_c = sum_k w_ck mean_ij A_kij + b_c, so dy_c/dA_kij = w_ck / (h w) at every position:
    # the Grad-CAM weights are w_ck / (h w), and the map is ReLU(sum_k w_ck A_k) / (h w),
    # a class activation map (Zhou et al., 2016) divided by the number of positions.
    torch.manual_seed(0)
    model = _ConvGapLinear()
    x = torch.randn(4, 1, 10, 10)
    target = torch.tensor([0, 2, 1, 2])
    got = grad_cam(model, x, target, upsample=False)
    with torch.no_grad():
        a = model.conv(x)  # (4, 5, 8, 8)
        w = model.head.weight[target]  # (4, 5)
        expected = torch.relu(torch.einsum("nk,nkhw->nhw", w, a)) / 64
    torch.testing.assert_close(got, expected)
    assert (expected == 0).any() and (expected > 0).any()  # the ReLU matters here
    up = grad_cam(model, x, target)  # default layer: the only conv; resized to 10x10
    assert up.shape == (4, 10, 10) and (up >= 0).all()
    torch.testing.assert_close(up, nn.functional.interpolate(
        expected[:, None], size=(10, 10), mode="bilinear", align_corners=False)[:, 0])


@pytest.mark.parametrize("name", MODELS)
def test_grad_cam_shape_and_sign_on_every_model(name):
    model, x = _built(name)
    model.train()
    cam = grad_cam(model, x)
    assert cam.shape == (x.shape[0], *x.shape[-2:])
    assert (cam >= 0).all() and torch.isfinite(cam).all()
    assert model.training and all(p.grad is None for p in model.parameters())
    assert _hook_counts(model) == [0] * len(list(model.modules()))


@pytest.mark.parametrize("name, layer", [("plain_cnn", "features.7"), ("lenet", "features.4"),
                                         ("lenet_modern", "features.6")])
def test_grad_cam_reads_the_last_conv_maps_after_their_activation_by_default(name, layer):
    # Selvaraju et al. weight the maps of the last convolutional layer as the network uses
    # them (VGG-16's relu5_3): after the activation, before the pooling that follows.
    model, x = _built(name)
    assert grad_cam_layer(model, x) == layer
    assert type(model.get_submodule(layer)).__name__ in ("ReLU", "Sigmoid")
    torch.testing.assert_close(grad_cam(model, x), grad_cam(model, x, layer=layer))


def test_grad_cam_default_differs_from_the_maps_before_the_relu():
    # Before the ReLU, positions where it is off (negative A) enter the weighted sum though
    # they cannot move the score; after it they are zero. The default must be the latter.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
                          nn.Dropout2d(0.1), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(6 * 5 * 5, 3))
    x = torch.randn(5, 1, 10, 10)
    assert grad_cam_layer(model, x) == "3"  # conv, norm, ReLU, dropout: same 10x10; pool ends it
    default = grad_cam(model, x, upsample=False)
    torch.testing.assert_close(default, grad_cam(model, x, layer="2", upsample=False))
    assert not torch.allclose(default, grad_cam(model, x, layer="0", upsample=False))
    flat = nn.Sequential(nn.Flatten(), nn.Linear(100, 3))
    with pytest.raises(ValueError, match="runs no convolution"):
        grad_cam_layer(flat, x)


def test_grad_cam_refuses_a_layer_without_maps():
    model = cnnlib.create_model("plain_cnn")
    with pytest.raises(ValueError, match="needs maps"):
        grad_cam(model, torch.rand(2, 1, 28, 28), layer="classifier.2")
    with pytest.raises(ValueError, match="no layer 'last'"):
        grad_cam(model, torch.rand(2, 1, 28, 28), layer="last")


def test_rank_correlation_is_spearmans():
    # scipy is the oracle here, not a dependency of cnnlib: requirements.txt has it, the
    # floor rehearsal (make floor) installs cnnlib's own dependencies only.
    spearmanr = pytest.importorskip("scipy.stats").spearmanr
    g = torch.Generator().manual_seed(0)
    a = torch.rand(5, 6, 6, generator=g)
    b = a + 0.5 * torch.rand(5, 6, 6, generator=g)
    b[0] = torch.where(b[0] > 1.0, b[0], torch.zeros(()))  # many ties, as after a ReLU
    b[1] = -a[1]
    got = rank_correlation(a, b)
    for i in range(5):
        assert got[i].item() == pytest.approx(spearmanr(a[i].flatten(), b[i].flatten())[0])
    assert got[1].item() == pytest.approx(-1.0)
    assert torch.isnan(rank_correlation(a[:1], torch.zeros(1, 6, 6)))[0]


def _bars(n, generator):
    """16x16 noise with one bright bar: horizontal (class 0) or vertical (class 1)."""
    x = 0.2 * torch.rand(n, 1, 16, 16, generator=generator)
    y = torch.arange(n) % 2
    mask = torch.zeros(n, 1, 16, 16)
    for i in range(n):
        r, c = torch.randint(1, 10, (2,), generator=generator).tolist()
        if y[i] == 0:
            mask[i, 0, r + 2, c:c + 6] = 1
        else:
            mask[i, 0, r:r + 6, c + 2] = 1
    return x + mask, y, mask


def _bar_net():
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1),
                         nn.ReLU(), nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(16, 2))


def test_sanity_check_trained_maps_differ_from_randomized_ones():
    # Adebayo et al. (2018): a map that explains the trained model must change when the
    # weights are re-initialized. The trained model's maps must also fall on the bar, the
    # one thing that decides the class (6 of the 256 pixels: 2.3% of the map by chance).
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    trained = _bar_net()
    opt = torch.optim.Adam(trained.parameters(), lr=1e-2)
    for _ in range(150):
        x, y, _ = _bars(64, g)
        opt.zero_grad()
        nn.functional.cross_entropy(trained(x), y).backward()
        opt.step()
    x, y, mask = _bars(32, g)
    with torch.no_grad():
        assert (trained(x).argmax(1) == y).float().mean() >= 0.95
    torch.manual_seed(1)
    randomized = _bar_net()  # the same architecture, fresh weights
    # Grad-CAM of the trained net has nearly nothing in common with the randomized one's
    # (measured: 0.07). Plain gradients keep more (measured: 0.67): through the global max
    # pooling, a random net's gradient also flows to the bright bar. They still differ; a
    # map that ignored the weights (|x|, say) would correlate at 1, and fails here. The
    # thresholds were set after measuring this seed; re-measured on seeds 0-4 of a copy of
    # this set-up (other training and random draws): saliency's mean correlation 0.61-0.73,
    # Grad-CAM's -0.16-0.13; share of the map on the bar 0.31-0.40 (saliency) and
    # 0.16-0.58 (Grad-CAM), so every threshold held on all five.
    for explain, most, share in ((saliency, 0.9, 0.2),
                                 (lambda m, x, t: grad_cam(m, x, t, layer="2"), 0.5, 0.1)):
        ours, theirs = explain(trained, x, y), explain(randomized, x, y)
        rho = rank_correlation(ours, theirs)
        rho = rho[~torch.isnan(rho)]
        assert len(rho) >= 16 and rho.mean() < most
        on_bar = (ours * mask[:, 0]).flatten(1).sum(1) / ours.flatten(1).sum(1).clamp(min=1e-12)
        assert on_bar.mean() > share


def test_plots_have_titles_and_colour_bars():
    model = cnnlib.create_model("plain_cnn")
    x = torch.rand(3, 1, 28, 28)
    fig = plot_filters(model, title="filters")
    assert "filters" in fig._suptitle.get_text() and "16 filters of 3x3" in fig._suptitle.get_text()
    assert any(ax.get_ylabel() == "weight" for ax in fig.axes)  # the colour bar
    assert sum(ax.images != [] for ax in fig.axes) == 16 + 1
    rgb = plot_filters(nn.Conv2d(3, 4, 5))
    assert rgb.axes[0].images[0].get_array().shape == (5, 5, 3)
    with pytest.raises(ValueError, match="C_in 1 or 3"):
        plot_filters(model.features[3])
    maps = feature_maps(model, x)
    fig = plot_feature_maps(maps, index=2, channels=4, title="maps")
    assert fig._suptitle.get_text() == "maps"
    panels = [ax for ax in fig.axes if ax.get_title().startswith("channel")]
    assert len(panels) == 3 * 4
    torch.testing.assert_close(torch.as_tensor(panels[0].images[0].get_array().data),
                               maps["features.0"][2, 0])
    assert sum(ax.get_ylabel() == "activation" for ax in fig.axes) == 3  # one bar per layer
    with pytest.raises(ValueError, match="index 3 is out of range"):
        plot_feature_maps(maps, index=3)
    cam = grad_cam(model, x)
    fig = plot_heatmaps(x, cam, ["a", "b", "c"], title="cams")
    assert fig._suptitle.get_text() == "cams"
    assert [ax.get_title() for ax in fig.axes[:3]] == ["a", "b", "c"]
    assert any("maximum" in ax.get_ylabel() for ax in fig.axes)
    assert float(torch.as_tensor(fig.axes[0].images[1].get_array().data).max()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="non-negative"):
        plot_heatmaps(x, -cam)
    with pytest.raises(ValueError, match=r"maps must be \(N, H, W\)"):
        plot_heatmaps(x, cam[:2])
    plt.close("all")
