"""The Transform graph's decoding: what each image size goes through."""

import io

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from modules import preprocessing


def _jpeg(width, height, seed=0):
  pixels = np.random.default_rng(seed).integers(
      0, 256, (height, width, 3), dtype=np.uint8)
  buffer = io.BytesIO()
  Image.fromarray(pixels).save(buffer, format="JPEG", quality=95)
  return buffer.getvalue()


def _decoded(encoded):
  return tf.io.decode_image(encoded, channels=3, expand_animations=False)


def _smooth_jpeg(width, height):
  """A photo-like JPEG: smooth gradients, where downsampling methods agree."""
  y, x = np.mgrid[0:height, 0:width].astype(np.float32)
  pixels = np.stack([255 * x / width, 255 * y / height,
                     127 + 120 * np.sin((x + y) / 17)], -1).astype(np.uint8)
  buffer = io.BytesIO()
  Image.fromarray(pixels).save(buffer, format="JPEG", quality=95)
  return buffer.getvalue()


def test_image_of_the_target_size_is_only_decoded():
  encoded = _jpeg(24, 24)
  out = preprocessing.decode_and_resize(tf.constant([[encoded]]), 24)
  assert out.shape == (1, 24, 24, 3) and out.dtype == tf.float32
  np.testing.assert_array_equal(out[0].numpy(),
                                _decoded(encoded).numpy().astype(np.float32))


@pytest.mark.parametrize("width,height,antialias", [
    (40, 40, True),    # shrunk: antialiased
    (40, 12, True),    # one side larger: antialiased
    (10, 10, False),   # enlarged: bilinear
])
def test_other_sizes_are_resized(width, height, antialias):
  # Under twice the size on a side: decoded at full scale, then resized,
  # rounded to whole levels as decoded pixels are.
  encoded = _jpeg(width, height, seed=width + height)
  out = preprocessing.decode_and_resize(tf.constant([encoded]), 24)
  expected = tf.image.resize(_decoded(encoded), [24, 24], antialias=antialias)
  np.testing.assert_allclose(out[0].numpy(), expected.numpy(), atol=0.5001)
  np.testing.assert_array_equal(out.numpy(), np.round(out.numpy()))


@pytest.mark.parametrize("side,ratio", [(192, 8), (100, 4), (60, 2)])
def test_large_jpeg_is_decoded_at_a_reduced_scale(side, ratio):
  # The largest DCT scale that keeps both sides >= 24 px is used ...
  encoded = _smooth_jpeg(side, side)
  out = preprocessing.decode_and_resize(tf.constant([encoded]), 24)
  scaled = tf.image.decode_jpeg(encoded, channels=3, ratio=ratio)
  if scaled.shape[0] != 24:
    scaled = tf.image.resize(scaled, [24, 24], antialias=True)
  np.testing.assert_allclose(out[0].numpy(), scaled.numpy(), atol=0.5001)
  # ... and on a photo-like image it is close to a full-scale decode and an
  # antialiased resize (mean error under 2 of 255 levels).
  full = tf.image.resize(_decoded(encoded), [24, 24], antialias=True)
  error = np.abs(out[0].numpy() - full.numpy())
  assert error.mean() < 2.0, error.mean()


def test_a_batch_of_mixed_sizes():
  encoded = [_jpeg(24, 24), _jpeg(50, 30, seed=1), _jpeg(8, 8, seed=2)]
  out = preprocessing.decode_and_resize(tf.constant(encoded), 24)
  assert out.shape == (3, 24, 24, 3) and out.dtype == tf.float32
  # Each image as if alone: decoded only, shrunk with antialiasing (the
  # short side 30 is under twice 24: full-scale decode), enlarged bilinearly.
  expected = [_decoded(encoded[0]),
              tf.image.resize(_decoded(encoded[1]), [24, 24], antialias=True),
              tf.image.resize(_decoded(encoded[2]), [24, 24])]
  np.testing.assert_array_equal(out[0].numpy(), expected[0].numpy())
  for got, want in zip(out[1:], expected[1:]):
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=0.5001)


def _png(width, height, mode, seed=0):
  channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
  pixels = np.random.default_rng(seed).integers(
      0, 256, (height, width, channels), dtype=np.uint8)
  buffer = io.BytesIO()
  Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels,
                  mode).save(buffer, format="PNG")
  return buffer.getvalue()


def test_one_batch_of_jpeg_and_png_of_every_size_and_mode():
  # What a folder of user images holds (docs/your-data.md): every image is
  # brought to the input size on its own, whatever its neighbours are.
  encoded = [_jpeg(24, 24), _png(31, 17, "RGBA", 1), _png(9, 40, "L", 2),
             _png(24, 24, "RGB", 3), _jpeg(100, 60, seed=4)]
  out = preprocessing.decode_and_resize(tf.constant(encoded), 24)
  assert out.shape == (5, 24, 24, 3)
  for index, image in enumerate(encoded):
    alone = preprocessing.decode_and_resize(tf.constant([image]), 24)
    np.testing.assert_array_equal(out[index].numpy(), alone[0].numpy())
  # Grayscale becomes three equal channels; the PNG is lossless.
  np.testing.assert_array_equal(out[2, ..., 0].numpy(), out[2, ..., 2].numpy())
  np.testing.assert_array_equal(out[3].numpy(),
                                _decoded(encoded[3]).numpy().astype(np.float32))


def _in_format(image_format):
  buffer = io.BytesIO()
  Image.open(io.BytesIO(_jpeg(24, 24))).save(buffer, format=image_format)
  return buffer.getvalue()


def test_the_formats_the_validator_accepts_are_those_the_model_decodes():
  # features.MODEL_IMAGE_FORMATS is what the ImageValidator lets through; the
  # model's own decoder is the oracle, on every format Pillow writes.
  from PIL import features as pil_features  # pylint: disable=g-import-not-at-top
  from settings import features  # pylint: disable=g-import-not-at-top
  candidates = ["JPEG", "PNG", "GIF", "BMP", "TIFF", "PPM", "TGA", "ICO"]
  if pil_features.check("webp"):
    candidates.append("WEBP")
  if pil_features.check("jpg_2000"):
    candidates.append("JPEG2000")
  decoded = set()
  for image_format in candidates:
    encoded = _in_format(image_format)
    try:
      out = preprocessing.decode_and_resize(tf.constant([encoded]), 24)
    except tf.errors.InvalidArgumentError:
      assert features.model_image_format(encoded) is None, image_format
      continue
    assert out.shape == (1, 24, 24, 3)
    assert features.model_image_format(encoded) == image_format
    decoded.add(image_format)
  assert decoded == set(features.MODEL_IMAGE_FORMATS)
