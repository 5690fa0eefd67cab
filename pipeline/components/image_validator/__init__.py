"""ImageValidator: what TFDV's statistics cannot check, after TFX's own
ExampleValidator, and the stop of the run on hard data problems.

The DAG node `ExampleValidator` is TFX's own component: it validates each
split's statistics against the schema and runs the class balance rules as
TFDV custom validation (pipeline/components/util/class_balance.py), writing the
standard ExampleAnomalies artifact (`Split-<name>/SchemaDiff.pb`). This
custom component (component.py, executor.py), node `ImageValidator`,
reads that artifact and the records themselves. Its name says its job:
most of what it checks is about the images the statistics only count
(decoding, identical image bytes across splits, image statistics drift).

* ExampleValidator's anomalies, per split: a schema anomaly of severity
  ERROR is a hard problem here (TFX's component records, it never stops a
  run); a WARNING is a warning. Its class balance reasons on the training
  split become warnings that name the classes and the ratio;
* labels outside [0, num_classes), an empty split, and a scan of every
  record: an image that does not decode, or whose size differs from the
  directory's `<S>x<S>`;
* data integrity, in the same pass (docs/data-validation.md): empty or
  repeated ids within a split (errors in the test split, whose ids key
  submission.csv; its ids come from CheckedImportExampleGen's file check,
  `data_check.json`), the same image bytes in train and another split, the
  same id in two splits, and training classes missing from eval (recorded
  as `eval_class_coverage`: the classes the gate's macro F1 covers). These
  are counted warnings, with examples by id;
* an eval split of one class (an error unless
  `validation.allow_one_class_eval`);
* the file check's own warnings (skipped files, 0-record shards);
* drift (drift.py): the training split against the data the served model
  was trained on (the profile its run's validator kept, which PreviousModel
  passes on with the optional input `baseline_model`,
  modules/data_profile.py):
  TFDV's drift comparators on the label and on image statistics; a warning
  naming the shifted classes, or an error with `stop_on_drift`.

Hard problems (severity ERROR: any of ExampleValidator's errors, a label out
of range, an empty split, a bad image, an empty or repeated test id) stop
the pipeline here, before Transform and Trainer, with DataValidationError
and a message naming the split, the feature or record, and the problem.
Its own output is an ExampleAnomalies artifact too: its own findings in
`Split-<name>/SchemaDiff.pb` (ExampleValidator's stay in its artifact),
every problem of both in `validation_summary.json`, and the per-class
counts in `class_counts.txt` and `class_counts.png`.

findings.py holds the checks on statistics and ids, image_scan.py the scan of
every record, drift.py the drift comparison, class_count_report.py the
table and chart of class counts.
"""
