"""The 1/8-scale decode on worker processes gives what one decode in this
process gives, image for image and in order, bad images included."""

import io

import numpy as np
import pytest

from modules import image_facts


def _image(seed, size=64, image_format="JPEG"):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  pixels = np.random.default_rng(seed).integers(0, 255, (size, size, 3),
                                                dtype=np.uint8)
  buffer = io.BytesIO()
  Image.fromarray(pixels).save(buffer, format=image_format)
  return buffer.getvalue()


def test_workers_agree_with_one_process_in_order():
  # More images than the chunks in flight, so the window turns over, and
  # bad ones among them.
  count = image_facts.CHUNK * image_facts.WINDOW * 2 * 2 + 7
  images = [_image(i, size=16 + i % 5) for i in range(count)]
  images[3] = b"not an image"
  whole = _image(40, size=128)
  images[40] = whole[:len(whole) // 2]  # A JPEG cut in its coded data.
  images[41] = b""
  images[77] = _image(77, image_format="PNG")
  inline = [image_facts.measure(e) for e in images]
  pooled = list(image_facts.measure_all(iter(images), processes=2))
  assert pooled == inline
  assert [f.size for f in pooled[:3]] == [(16, 16), (17, 17), (18, 18)]
  assert pooled[3].size is None and "does not decode" in pooled[3].error
  assert pooled[40].size == (128, 128) and pooled[40].means is None
  assert "does not decode" in pooled[40].error
  assert pooled[77].format == "PNG" and pooled[77].error is None
  # The mean of a 1/8-scale JPEG decode is close to the full image's mean.
  from PIL import Image  # pylint: disable=g-import-not-at-top
  full = np.asarray(Image.open(io.BytesIO(images[0])).convert("RGB"))
  np.testing.assert_allclose(pooled[0].means, full.mean(axis=(0, 1)),
                             atol=3.0)


def test_a_worker_that_dies_is_an_error(monkeypatch):
  monkeypatch.setattr(image_facts, "__name__", "no_such_module_here")
  with pytest.raises(RuntimeError, match="image decode worker"):
    list(image_facts.measure_all(iter([_image(0)] * 40), processes=2))
