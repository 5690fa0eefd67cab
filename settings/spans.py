"""Which spans of the data a run reads: the `data.spans` setting and layout.

New labelled data arrives as spans: `<data_root>/span-<N>/tfrecords-jpeg-<S>x<S>/
{train,val,test}` (N = 1, 2, ...). A data root without `span-<N>` folders
is the plain layout, one span, read as before. The setting (config
`data.spans`, flag `--spans`) says which spans a run trains on:

* "auto": the latest span when the data root holds span folders (looked
  up for a local data root), else the plain layout. A URI (gs://...) is not
  looked at (pipeline/data_plan.py says why): it means the plain layout,
  and a bucket of spans takes "latest" or a number.
* "latest": the span with the highest number, found by ImportExampleGen's
  own `{SPAN}` pattern when it runs (a new span needs no new pipeline).
* "N": span N only (ImportExampleGen's RangeConfig static range).
* "A-B": spans A to B together, as one training set. ImportExampleGen
  resolves one span per run (tfx/components/example_gen/input_processor.py
  refuses a static range of several), so ImportExampleGen resolves B and
  our executor also reads A to B-1, whose number it gets through
  ExampleGen's own `custom_config` (pipeline/components/example_gen/).

One rule says what a span folder is, `span-<digits>` (`span_number`), for
both the pre-flight and ImportExampleGen: TFX's own `{SPAN}` lookup globs
`span-*` and fails on a folder such as `span-2-old` ("Cannot find span
number"), so the local ExampleGen's driver (pipeline/components/
example_gen/component.py) resolves "latest" by this rule and hands TFX that
one span. Any other folder is ignored, and the runner names it
(`ignored_folders`). A span number with leading zeros (`span-01`) is
refused (`SpanFolderError`, naming the folder and the name TFX expects):
TFX would read it as span 1 and then look for `span-1`, the name its
`{SPAN}` pattern writes, a folder the user does not have.

Layer 0: the names and the parsing; the DAG and the runners build on it.
"""

import dataclasses
import os
import re
from typing import Callable, Iterable, List, Optional

from google.protobuf import wrappers_pb2
from tfx.proto import example_gen_pb2
from tfx.proto import range_config_pb2

from settings import features

SPAN_DIR_PREFIX = "span-"
# ImportExampleGen's placeholder (tfx.components.example_gen.utils.SPAN_SPEC).
SPAN_SPEC = "{SPAN}"
# The custom property of ImportExampleGen's Examples naming the spans read
# ("2", "1-2"; absent in the plain layout).
SPANS_PROPERTY = "spans"
_SPAN_DIR = re.compile(re.escape(SPAN_DIR_PREFIX) + r"(\d+)")
_RANGE = re.compile(r"(\d+)\s*-\s*(\d+)")


class SpanFolderError(ValueError):
  """A span folder TFX would look for under another name (`span-01`)."""


@dataclasses.dataclass(frozen=True)
class SpanSelection:
  """Spans to read: all of [first, last], or the latest (both None)."""
  first: Optional[int] = None
  last: Optional[int] = None

  @property
  def latest(self) -> bool:
    return self.last is None

  def describe(self) -> str:
    """"the latest span", "span 3", "spans 1-3"."""
    if self.latest:
      return "the latest span"
    return describe_spans(self.first, self.last)


def parse_setting(text: str) -> Optional[SpanSelection]:
  """`data.spans` as a selection; None for "auto" (decided by the layout).

  Raises:
    ValueError: naming the setting and the values it takes.
  """
  text = str(text).strip().lower()
  if text == "auto":
    return None
  if text == "latest":
    return SpanSelection()
  if text.isdigit():
    return SpanSelection(int(text), int(text))
  match = _RANGE.fullmatch(text)
  if match:
    first, last = int(match.group(1)), int(match.group(2))
    if first > last:
      raise ValueError(f"data.spans {text!r}: the first span is after the "
                       "last")
    return SpanSelection(first, last)
  raise ValueError(f"data.spans {text!r}: expected auto, latest, a span "
                   "number N or a range A-B")


def span_dir(span: int) -> str:
  return f"{SPAN_DIR_PREFIX}{span}"


def span_number(name: str) -> Optional[int]:
  """N of a folder named `span-<N>` (N digits only); None for any other
  name. The one span rule (the module docstring)."""
  match = _SPAN_DIR.fullmatch(name)
  return int(match.group(1)) if match else None


def span_numbers(names: Iterable[str], data_root: str = "") -> List[int]:
  """The span numbers among the folder names of `data_root`, sorted.

  Raises:
    SpanFolderError: a span folder with leading zeros (the module
      docstring), naming it and the name TFX expects.
  """
  numbers = []
  for name in names:
    number = span_number(name)
    if number is None:
      continue
    if name != span_dir(number):
      raise SpanFolderError(
          f"span folder {os.path.join(data_root, name)}: ImportExampleGen "
          f"reads it as span {number} and then looks for "
          f"{span_dir(number)}, so rename it {span_dir(number)} (span "
          "numbers are written without leading zeros)")
    numbers.append(number)
  return sorted(numbers)


def _folders(data_root: str, listdir: Callable, isdir: Callable
             ) -> List[str]:
  return [name.rstrip("/") for name in listdir(data_root)
          if isdir(os.path.join(data_root, name.rstrip("/")))]


def spans_in(data_root: str) -> List[int]:
  """The numbers of the `span-<N>` folders of a local data root, sorted
  (raises SpanFolderError as `span_numbers`)."""
  if features.is_object_store(data_root) or not os.path.isdir(data_root):
    return []
  return span_numbers(_folders(data_root, os.listdir, os.path.isdir),
                      data_root)


def latest_span(data_root: str, listdir: Callable = os.listdir,
                isdir: Callable = os.path.isdir) -> Optional[int]:
  """The highest `span-<N>` folder of `data_root`, None without one;
  `listdir` and `isdir` of the data root's filesystem (TFX's fileio for
  ExampleGen's driver). Raises SpanFolderError as `span_numbers`."""
  found = span_numbers(_folders(data_root, listdir, isdir), data_root)
  return found[-1] if found else None


def ignored_folders(data_root: str) -> List[str]:
  """The folders of a local data root that no run reads as a span: with
  span folders, every other folder; without, those named `span-...` that
  break the rule (`span-2-old`). Sorted; [] for a URI. Raises
  SpanFolderError as `span_numbers`."""
  if features.is_object_store(data_root) or not os.path.isdir(data_root):
    return []
  return ignored_among(_folders(data_root, os.listdir, os.path.isdir),
                       data_root)


def ignored_among(names: Iterable[str], data_root: str = "") -> List[str]:
  """`ignored_folders`'s rule on the folder names of `data_root`, for a
  caller that has listed it already (pipeline/data_plan.py)."""
  names = list(names)
  with_spans = bool(span_numbers(names, data_root))
  return sorted(name for name in names if span_number(name) is None and
                (with_spans or name.startswith(SPAN_DIR_PREFIX)))


def resolve(data_root: str, setting: str) -> Optional[SpanSelection]:
  """The selection a run uses: None for the plain layout."""
  selection = parse_setting(setting)
  if selection is None and spans_in(data_root):
    return SpanSelection()
  return selection


def newest_span_root(data_root: str,
                     selection: Optional[SpanSelection]) -> str:
  """The folder that holds `tfrecords-jpeg-<S>x<S>` for the newest span read
  (the data root itself in the plain layout), for looking up folders such as
  `val` and `test` on a local data root; a URI is returned as it is joined."""
  if selection is None:
    return data_root
  last = selection.last
  if last is None:
    found = spans_in(data_root)
    if not found:
      # Not looked at (a URI) or no span yet: the folder a span would be
      # in; ExampleGen's (or the pre-flight's) check names it missing.
      return os.path.join(data_root, f"{SPAN_DIR_PREFIX}<N>")
    last = found[-1]
  return os.path.join(data_root, span_dir(last))


def input_base(data_root: str, image_size: int,
               selection: Optional[SpanSelection]) -> str:
  """ImportExampleGen's input_base: the image folder, or the data root with
  spans (the span is then part of each split's pattern)."""
  if selection is None:
    return os.path.join(data_root, features.image_dir_name(image_size))
  return data_root


def split_pattern(split_dir: str, image_size: int,
                  selection: Optional[SpanSelection]) -> str:
  """A split folder's pattern relative to `input_base`."""
  pattern = f"{split_dir}/{features.TFRECORD_PATTERN}"
  if selection is None:
    return pattern
  return (f"{SPAN_DIR_PREFIX}{SPAN_SPEC}/"
          f"{features.image_dir_name(image_size)}/{pattern}")


def range_config(selection: Optional[SpanSelection]):
  """ImportExampleGen's RangeConfig: the last span of a fixed selection
  (None: the latest span, or the plain layout)."""
  if selection is None or selection.latest:
    return None
  return range_config_pb2.RangeConfig(
      static_range=range_config_pb2.StaticRange(
          start_span_number=selection.last, end_span_number=selection.last))


def first_span_config(selection: Optional[SpanSelection]):
  """ExampleGen's custom_config (a CustomConfig) for a range of several
  spans: the first span, as an Int64Value."""
  if selection is None or selection.latest or selection.first == selection.last:
    return None
  config = example_gen_pb2.CustomConfig()
  config.custom_config.Pack(wrappers_pb2.Int64Value(value=selection.first))
  return config


def first_span_of(custom_config) -> Optional[int]:
  """The inverse of `first_span_config` (None when there is no range)."""
  if custom_config is None or not custom_config.HasField("custom_config"):
    return None
  value = wrappers_pb2.Int64Value()
  if not custom_config.custom_config.Unpack(value):
    return None
  return value.value


def patterns_of_range(pattern: str, first: Optional[int],
                      last: Optional[int]) -> List[str]:
  """A split pattern resolved to span `last` (`span-<last>/...`) as the
  patterns of spans first..last (just itself without a range, `first`
  None)."""
  if first is None or first >= last:
    return [pattern]
  prefix = f"{SPAN_DIR_PREFIX}{last}/"
  if not pattern.startswith(prefix):
    raise ValueError(f"pattern {pattern!r} does not start with {prefix!r}")
  rest = pattern[len(prefix):]
  return [f"{span_dir(span)}/{rest}" for span in range(first, last + 1)]


def describe_spans(first: Optional[int], last: Optional[int]) -> str:
  """"span 2", "spans 1-2"; "" for the plain layout (no span)."""
  if last is None:
    return ""
  if first is None or first == last:
    return f"span {last}"
  return f"spans {first}-{last}"


def label_of_examples(examples) -> Optional[str]:
  """"span 2", "spans 1-2" for an Examples artifact read from span folders
  (its SPANS_PROPERTY); None in the plain layout or for None."""
  if examples is None or not examples.has_custom_property(SPANS_PROPERTY):
    return None
  first, _, last = examples.get_string_custom_property(
      SPANS_PROPERTY).partition("-")
  return describe_spans(int(first), int(last or first))


def label_of_summary(validation_summary) -> Optional[str]:
  """"span 2", "spans 1-2" from a ImageValidator summary (its copy of
  ExampleGen's file check, `spans_read`); None without spans."""
  read = validation_summary.spans_read if validation_summary else None
  return describe_spans(min(read), max(read)) if read else None
