"""One image file as the S x S RGB JPEG the pipeline reads.

A JPEG that is already S x S, RGB and upright is kept byte for byte; any
other image Pillow decodes is turned upright by its EXIF orientation,
flattened onto white if it has transparency, resized to S x S and
re-encoded (tools/convert_images.py's docstring says why).
"""

import io
from typing import Tuple

from PIL import Image, ImageOps, UnidentifiedImageError


def to_jpeg(data: bytes, image_size: int, quality: int) -> Tuple[bytes, bool]:
  """An S x S RGB JPEG of the encoded image `data`; (bytes, re-encoded).

  Raises:
    Exception: whatever PIL raises for a file it cannot decode.
  """
  image = Image.open(io.BytesIO(data))
  image.load()  # Decodes every byte: truncated files fail here.
  orientation = image.getexif().get(0x0112, 1)  # EXIF Orientation.
  if (image.format == "JPEG" and image.mode == "RGB" and orientation == 1 and
      image.size == (image_size, image_size)):
    return data, False
  image = ImageOps.exif_transpose(image)
  if image.mode in ("RGBA", "LA", "P", "PA") or "transparency" in image.info:
    # Transparent pixels become white, not the black of a bare convert().
    image = image.convert("RGBA")
    flat = Image.new("RGB", image.size, (255, 255, 255))
    flat.paste(image, mask=image.getchannel("A"))
    image = flat
  else:
    image = image.convert("RGB")
  if image.size != (image_size, image_size):
    image = image.resize((image_size, image_size), Image.LANCZOS)
  buffer = io.BytesIO()
  image.save(buffer, format="JPEG", quality=quality)
  return buffer.getvalue(), True


def why_unreadable(error: Exception) -> str:
  """A short reason for an unreadable file."""
  if isinstance(error, UnidentifiedImageError):
    return "not an image PIL can decode (empty, corrupt or unknown format)"
  return f"{type(error).__name__}: {error}"
