"""The model card's bootstrap interval and sections, and the eval gallery.

The interval is checked against a direct computation (scikit-learn's macro
F1 on the same resamples), for coverage of its point estimate, and for
shrinking as the eval split grows.
"""

import numpy as np
import pytest
from sklearn import metrics as sk_metrics

from modules import metrics
from pipeline.components.util import evaluation_reader as evaluation_lib
from modules import bootstrap
from pipeline.components.util import model_card
from settings import records


def _predictions(n, num_classes=10, accuracy=0.8, seed=1):
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, num_classes, n)
  wrong = rng.random(n) > accuracy
  predicted = np.where(wrong, rng.integers(0, num_classes, n), labels)
  return labels, predicted


def test_interval_equals_a_direct_computation():
  labels, predicted = _predictions(120)
  interval = bootstrap.bootstrap_macro_f1(labels, predicted, 10,
                                           samples=200, seed=5)
  rng = np.random.default_rng(5)
  scores = []
  for _ in range(200):
    picked = rng.integers(0, 120, 120)
    scores.append(sk_metrics.f1_score(labels[picked], predicted[picked],
                                      average="macro", zero_division=0))
  low, high = np.quantile(scores, [0.025, 0.975])
  assert interval.low == pytest.approx(low, abs=1e-12)
  assert interval.high == pytest.approx(high, abs=1e-12)
  assert interval.point == pytest.approx(
      sk_metrics.f1_score(labels, predicted, average="macro"), abs=1e-12)
  assert (interval.examples, interval.samples) == (120, 200)


def test_interval_contains_the_estimate_and_shrinks_with_more_examples():
  widths = []
  for n in (100, 1000, 10000):
    labels, predicted = _predictions(n)
    interval = bootstrap.bootstrap_macro_f1(labels, predicted, 10,
                                             samples=300)
    assert interval.low < interval.point < interval.high
    widths.append(interval.high - interval.low)
  assert widths[0] > 2 * widths[1] > 4 * widths[2]


def test_perfect_predictions_have_no_spread_and_bad_input_is_refused():
  labels = np.array([0, 1, 2, 2])
  interval = bootstrap.bootstrap_macro_f1(labels, labels, 3, samples=50)
  assert (interval.low, interval.point, interval.high) == (1.0, 1.0, 1.0)
  with pytest.raises(ValueError, match="no examples"):
    bootstrap.bootstrap_macro_f1(np.array([]), np.array([]), 3)
  with pytest.raises(ValueError, match="3 labels for 2 predictions"):
    bootstrap.bootstrap_macro_f1(np.array([0, 1, 2]), np.array([0, 1]), 3)


def _evaluation(labels, predicted, num_classes, blessed, failures=()):
  confusion = bootstrap.confusion_matrix(labels, predicted, num_classes)
  per_class = metrics.per_class_from_confusion(confusion)
  return evaluation_lib.Evaluation(
      metrics={evaluation_lib.CANDIDATE: {
          **metrics.scores_from_confusion(confusion),
          "example_count": float(len(labels))}},
      per_class={evaluation_lib.CANDIDATE: {
          metrics.CLASS_F1: {i: float(v) for i, v in enumerate(
              per_class["f1"]) if per_class["present"][i]}}},
      confusion={evaluation_lib.CANDIDATE: confusion},
      model_locations={evaluation_lib.CANDIDATE: "/models/1"},
      validation_ok=blessed, failures=list(failures))


def test_card_has_every_section_and_says_what_failed():
  labels, predicted = _predictions(300, num_classes=4)
  history = records.TrainingHistory(
      config={"class_names": ["a", "b", "c", "d"],
              "model": {"backbone": "simple_cnn", "weights": None},
              "train": {"epochs": 3, "learning_rate": 0.003},
              "augment": {"flip": True}},
      class_counts=[40, 10, 10, 0], strategy="_DefaultStrategy",
      replicas=1, epochs=[{}, {}, {}])
  failure = "macro_f1 = 0.7000, below the minimum 0.9"
  card = model_card.build_card(
      _evaluation(labels, predicted, 4, False, [failure]), history,
      validation_summary=records.ValidationSummary(
          splits={"train": {"num_examples": 60}},
          warnings=["class imbalance: 40 vs 10"]),
      span=7, eval_labels=labels, eval_predicted=predicted)
  assert [title for title, _ in card.sections] == list(model_card.SECTIONS)
  text = model_card.to_markdown(card)
  assert "- Span: 7" in text
  assert "Imbalance (largest / smallest class): 4.0" in text
  assert "class imbalance: 40 vs 10" in text
  assert "Backbone: simple_cnn" in text and "random initialisation" in text
  assert "Epochs: 3 run of 3 configured" in text
  assert "NOT BLESSED" in text and failure in text
  assert "1 classes have no training example" in text
  worst = min(range(4), key=lambda c: (sk_metrics.f1_score(
      labels, predicted, average=None)[c], c))
  assert f"Worst classes (F1, eval examples): {'abcd'[worst]} " in text
  page = model_card.to_html(card)
  assert page.count("<h2>") == len(model_card.SECTIONS)
  assert "<code>/models/1</code>" in page


def test_the_card_reads_headline_first_and_per_class_tables_last():
  """What a reader sees first: what the model is and is for, macro F1 with
  its interval and the verdict; the class tables only after all of that."""
  labels, predicted = _predictions(300, num_classes=4)
  history = records.TrainingHistory(
      config={"class_names": ["a", "b", "c", "d"]},
      class_counts=[40, 10, 10, 5], epochs=[{}])
  card = model_card.build_card(
      _evaluation(labels, predicted, 4, True, []), history,
      eval_labels=labels, eval_predicted=predicted, model="/models/1")
  for text in (model_card.to_markdown(card), model_card.to_html(card)):
    where = {name: text.index(marker) for name, marker in (
        ("location", "/models/1"), ("intended", "Not for:"),
        ("f1", "95% bootstrap interval"),
        ("verdict", "BLESSED: every gate passed"),
        ("data", "Training examples: 65"),
        ("limitations", "gets a confident wrong class"),
        ("f1_table", "Eval F1 by class"),
        ("counts_table", "Training examples by class"))}
    assert list(where) == sorted(where, key=where.get), where
    # No table before the per-class section but the hyperparameters'.
    first_table = text.find("| class |") if "|" in text else text.find(
        "<th>class</th>")
    assert first_table > where["limitations"], first_table


@pytest.mark.parametrize("threshold, warned", [(3.0, True), (5.0, False)])
def test_the_imbalance_limitation_follows_the_validators_threshold(
    threshold, warned):
  """A 4:1 training split is a limitation only where the validator's own
  `validation.max_imbalance_ratio`, recorded in its summary, is below 4."""
  labels, predicted = _predictions(300, num_classes=4)
  history = records.TrainingHistory(
      config={"class_names": ["a", "b", "c", "d"]},
      class_counts=[40, 10, 20, 30], epochs=[{}])
  card = model_card.build_card(
      _evaluation(labels, predicted, 4, True, []), history,
      validation_summary=records.ValidationSummary(
          max_imbalance_ratio=threshold),
      eval_labels=labels, eval_predicted=predicted)
  text = model_card.to_markdown(card)
  assert "Imbalance (largest / smallest class): 4.0" in text
  assert ("The training data is imbalanced (4.0:1)" in text) == warned
