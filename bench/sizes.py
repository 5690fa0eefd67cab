"""How big the bench's runs are: the sizes of each mode (full, quick, tiny).

`bench/run.py --quick` and `--tiny` pick QUICK and TINY, FULL otherwise;
each size is `tools/make_sample_data.py`'s arguments and the epochs.
"""

import dataclasses
from typing import Dict, Tuple

from tools import make_sample_data


@dataclasses.dataclass(frozen=True)
class Sizes:
  """How big each run is. `make_sample_data.py` arguments and epochs."""
  head_count: int
  tail_count: int
  epochs: int
  epochs_512: int
  input_rounds: int
  input_seconds: float
  val_fraction: float = 0.35
  # Unlabelled images of the `test` folder: the runs predict it
  # (TestExampleGen, BatchPrediction), as a user's run with a test folder.
  test_count: int = 150
  head_classes: int = 4
  num_classes: int = 104
  # The scale section (bench/sections/scale.py): its largest set, as
  # make_sample_data.py arguments (full: the Kaggle set's size and
  # resolution, 12,816 train + 3,684 val + 7,382 test at 512x512, 20 head
  # classes), and the fractions of it that run (1 epoch each).
  scale_head_classes: int = 20
  scale_head_count: int = 330
  scale_tail_count: int = 74
  scale_val_fraction: float = 0.29
  scale_test_count: int = 7382
  scale_image_size: int = 512
  scale_fractions: Tuple[float, ...] = (0.125, 0.5, 1.0)
  # The gate section (bench/sections/gate.py): plain retrains that differ
  # only in the seed; the worse kinds, ("epochs", N) or ("corrupt",
  # percent of training labels), and the seeds of each; whether the
  # rejected share at a drop of 0.10 must be measured (the tiny and quick
  # models are near chance: nothing they train can drop by 0.10).
  gate_seeds: int = 11
  # Measured on the full size (bench/results/20261207-121028.json): 10 epochs
  # give macro F1 about 0.88; 3 epochs 0.09, 30% of the labels corrupted
  # 0.35: drops far beyond the sizes the gate must tell apart, so the kinds
  # are milder ones around 0.03 to 0.15.
  gate_worse: Tuple[Tuple[str, int], ...] = (
      ("epochs", 6), ("epochs", 8), ("corrupt", 5), ("corrupt", 10),
      ("corrupt", 20))
  gate_worse_seeds: int = 2
  gate_power_required: bool = True

  def split_counts(self) -> Dict[str, int]:
    """Train and val examples the generator writes for these sizes."""
    counts = {}
    for split, fraction in (("train", 1.0), ("val", self.val_fraction)):
      counts[split] = len(make_sample_data.split_labels(
          self.num_classes, self.head_classes, self.head_count,
          self.tail_count, fraction))
    return counts


# Full: at least 2,000 images in both sets (1,640 train + 584 val), epochs
# kept low so that the whole bench fits in 30 minutes on 2 cores. Quick: the
# end-to-end tests' size.
FULL = Sizes(head_count=60, tail_count=14, epochs=10, epochs_512=2,
             input_rounds=3, input_seconds=3.0)
QUICK = Sizes(head_count=12, tail_count=3, epochs=2, epochs_512=1,
              input_rounds=1, input_seconds=1.5, test_count=20,
              gate_seeds=4, gate_worse=(("epochs", 1), ("corrupt", 50)),
              gate_worse_seeds=1, gate_power_required=False,
              # The scale section at 1/16 of the Kaggle size.
              scale_head_count=21, scale_tail_count=5, scale_test_count=460)
# Tiny: the least that still measures every section (tests/test_bench.py
# runs it): one epoch, and just enough head-class images that each split
# has more examples than the startup section's small run (its line fit
# needs two sizes).
TINY = Sizes(head_count=6, tail_count=2, epochs=1, epochs_512=1,
             input_rounds=1, input_seconds=0.5, test_count=4,
             gate_seeds=2, gate_worse=(("corrupt", 50),), gate_worse_seeds=1,
             gate_power_required=False,
             # The scale section: two small sizes of small images, the
             # least that measures each of its figures.
             scale_head_classes=4, scale_head_count=8, scale_tail_count=2,
             scale_val_fraction=0.5, scale_test_count=8,
             scale_image_size=128, scale_fractions=(0.5, 1.0))
