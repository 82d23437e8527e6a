"""The bundled textures and the pixel helpers (ebmbook.data.textures) shared by the image loaders
and the patch cutter."""

import numpy as np
import pytest

from ebmbook.data import patches, textures
from ebmbook.data.images import load_texture


def test_center_square_takes_the_middle_of_the_longer_side():
    u = np.arange(3 * 7).reshape(3, 7)
    np.testing.assert_array_equal(textures.center_square(u), u[:, 2:5])
    np.testing.assert_array_equal(textures.center_square(u.T), u.T[2:5, :])
    assert textures.center_square(np.zeros((2, 4, 6))).shape == (2, 4, 4)


def test_to_unit_divides_bytes_and_keeps_unit_floats():
    b = np.array([[0, 51, 255]], dtype=np.uint8)
    np.testing.assert_allclose(textures.to_unit(b, "x"), [[0.0, 0.2, 1.0]], rtol=1e-7)
    assert textures.to_unit(b, "x").dtype == np.float32
    with pytest.raises(ValueError, match="weird: unexpected pixel range"):
        textures.to_unit(np.array([0.0, 2.0]), "weird")


def test_optional_module_names_the_extra_to_install():
    with pytest.raises(ImportError, match=r"pip install 'ebmbook\[data\]'"):
        textures.optional_module("ebmbook_no_such_module")


@pytest.mark.parametrize("name", textures.TEXTURES)
def test_texture_array_is_the_loaders_texture_and_the_patch_cutters_photo(name):
    u = textures.texture_array(name)
    assert u.dtype == np.float32 and u.ndim == 2 and u.shape[0] == u.shape[1]
    assert 0.0 <= u.min() < u.max() <= 1.0
    np.testing.assert_array_equal(u, load_texture(name, scale="unit").images[0, 0].numpy())
    np.testing.assert_array_equal(u, patches.photo(name))
    if name == "chelsea":   # 300x451 RGB: grey, centre-cropped to 300x300
        assert u.shape == (300, 300)
    else:
        assert u.shape == (512, 512)


def test_an_unknown_texture_lists_the_choices():
    with pytest.raises(ValueError, match="unknown texture 'marble'.*grass"):
        textures.texture_array("marble")
