"""cnnlib.images.shift_images against a pixel-by-pixel oracle."""
import pytest
import torch

from cnnlib.images import shift_images


def _oracle(img, dy, dx, fill):
    h, w = img.shape[-2:]
    out = torch.full_like(img, fill)
    for i in range(h):
        for j in range(w):
            if 0 <= i - dy < h and 0 <= j - dx < w:
                out[..., i, j] = img[..., i - dy, j - dx]
    return out


@pytest.mark.parametrize("dy, dx", [(0, 0), (1, 0), (0, -2), (3, 4), (-4, 5), (-6, -1), (5, -6)])
def test_shift_matches_the_pixel_by_pixel_rule(dy, dx):
    torch.manual_seed(0)
    img = torch.randn(2, 3, 7, 8)
    assert torch.equal(shift_images(img, dy, dx, fill=-9.0), _oracle(img, dy, dx, -9.0))


def test_shift_keeps_dtype_and_does_not_wrap_or_touch_the_input():
    img = torch.arange(16, dtype=torch.uint8).reshape(4, 4)
    before = img.clone()
    out = shift_images(img, 0, 1)
    assert out.dtype == torch.uint8 and torch.equal(img, before)
    assert out[:, 0].tolist() == [0, 0, 0, 0]          # uncovered column is filled
    assert out[:, 1:].tolist() == img[:, :3].tolist()  # the last column is gone, not wrapped


@pytest.mark.parametrize("dy, dx", [(4, 0), (0, -5), (-4, 1)])
def test_shifting_out_of_view_is_refused(dy, dx):
    with pytest.raises(ValueError, match="out of view"):
        shift_images(torch.zeros(4, 5), dy, dx)


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="dx must be an int"):
        shift_images(torch.zeros(4, 4), 1, 1.5)
    with pytest.raises(ValueError, match="height and width"):
        shift_images(torch.zeros(4), 1, 1)
    with pytest.raises(TypeError, match="tensor"):
        shift_images([[0.0]], 0, 0)
