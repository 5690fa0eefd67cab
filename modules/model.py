"""Keras 3 model: a backbone from keras.applications (or a small CNN) + head.

The model takes float images [batch, S, S, 3] with values in [0, 255] (what
the Transform graph produces) and applies the backbone's own
`preprocess_input`, so the input contract is the same for every backbone.
The head is global average pooling, optional dropout and a float32 softmax
(float32 even under mixed precision, for a numerically sound loss).
"""

from typing import Callable, Dict, Optional, Tuple

import keras

from settings import config as config_lib
from settings import features

BackboneFactory = Callable[..., keras.Model]


def _applications() -> Dict[str, Tuple[BackboneFactory, Callable]]:
  """name -> (constructor, preprocess_input), for keras.applications nets."""
  apps = keras.applications
  table = {
      "mobilenet_v3_small": (
          lambda **kw: apps.MobileNetV3Small(include_preprocessing=True, **kw),
          lambda x: x),
      "inception_v3": (apps.InceptionV3, apps.inception_v3.preprocess_input),
      "densenet201": (apps.DenseNet201, apps.densenet.preprocess_input),
      "resnet50_v2": (apps.ResNet50V2, apps.resnet_v2.preprocess_input),
      "vgg16": (apps.VGG16, apps.vgg16.preprocess_input),
  }
  for i in range(8):
    table[f"efficientnet_b{i}"] = (getattr(apps, f"EfficientNetB{i}"),
                                   apps.efficientnet.preprocess_input)
  return table


def _simple_cnn(input_shape, weights=None) -> keras.Model:
  """A small CNN for CPU runs and tests (no pretrained weights exist)."""
  if weights:
    raise ValueError("simple_cnn has no pretrained weights; use weights=None")
  inputs = keras.Input(shape=input_shape)
  x = keras.layers.Rescaling(1.0 / 255)(inputs)
  for filters in (32, 64, 128):
    x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.MaxPooling2D()(x)
  return keras.Model(inputs, x, name="simple_cnn")


def build_backbone(name: str, input_size: int,
                   weights: Optional[str]) -> Tuple[keras.Model, Callable]:
  """Returns (backbone without top, preprocess_input) for `name`.

  Args:
    name: one of `config.BACKBONES`.
    input_size: the network's input side in pixels (`config.input_size`).
    weights: "imagenet", a local weights file, or None.
  """
  input_shape = (input_size, input_size, 3)
  if name == "simple_cnn":
    return _simple_cnn(input_shape, weights), lambda x: x
  table = _applications()
  if name not in table:
    raise ValueError(
        f"unknown backbone {name!r}; choose from {config_lib.BACKBONES}")
  factory, preprocess = table[name]
  # A local file is loaded after construction: keras.applications only takes
  # a path for full models on some backbones.
  backbone = factory(include_top=False, input_shape=input_shape,
                     weights="imagenet" if weights == "imagenet" else None)
  if weights and weights != "imagenet":
    backbone.load_weights(weights)
  return backbone, preprocess


BACKBONE_LAYER_NAME = "backbone"


def set_backbone_trainable(model: keras.Model, trainable: bool) -> None:
  """Freezes or unfreezes the backbone of a model from `build_model`."""
  model.get_layer(BACKBONE_LAYER_NAME).trainable = trainable


def build_model(config: config_lib.TrainerSettings) -> keras.Model:
  """Builds the (uncompiled) classifier described by `config`."""
  size = config.input_size
  backbone, preprocess = build_backbone(config.model.backbone, size,
                                        config.model.weights)
  backbone.name = BACKBONE_LAYER_NAME
  backbone.trainable = config.model.fine_tune
  inputs = keras.Input(shape=(size, size, 3),
                       name=features.TRANSFORMED_IMAGE_KEY)
  x = keras.layers.Lambda(preprocess, name="preprocess_input")(inputs)
  # training=False keeps BatchNorm in inference mode when the backbone is
  # frozen (transfer learning), as Keras recommends for fine-tuning.
  x = backbone(x, training=None if config.model.fine_tune else False)
  x = keras.layers.GlobalAveragePooling2D()(x)
  if config.model.dropout:
    x = keras.layers.Dropout(config.model.dropout)(x)
  outputs = keras.layers.Dense(config.num_classes, activation="softmax",
                               dtype="float32",
                               name=features.PROBABILITIES_KEY)(x)
  return keras.Model(inputs, outputs, name=f"flowers_{config.model.backbone}")
