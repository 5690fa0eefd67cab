"""DataValidator: TFX's ExampleValidator, plus class balance and images.

A custom component (component.py, executor.py) that replaces TFX's
ExampleValidator and writes the same ExampleAnomalies artifact
(`Split-<name>/SchemaDiff.pb`, an `Anomalies` proto that TFDV's tools read),
adding what the flower data needs:

* schema anomalies from TFDV, per split, in the TRAINING environment;
* class balance of the training split (from StatisticsGen's histogram of the
  label): the max/min class-count ratio above a threshold, classes with fewer
  than a minimum of examples, classes missing entirely. These are warnings
  (severity WARNING): the pipeline goes on, and the run summary shows them;
* labels outside [0, num_classes), an empty split, and a scan of every record:
  an image that does not decode, or whose size differs from the directory's
  `<S>x<S>`;
* data integrity, in the same pass (docs/data-validation.md): empty or
  repeated ids within a split (errors in the test split, whose ids key
  submission.csv; its ids come from CheckedImportExampleGen's file check,
  `data_check.json`), the same image bytes in train and another split, the
  same id in two splits, and training classes missing from eval (recorded
  as `eval_class_coverage`: the classes the gate's macro F1 covers). These
  are counted warnings, with examples by id;
* the file check's own warnings (skipped files, 0-record shards);
* drift (drift.py): the training split against the data the served model
  was trained on (the profile its run's validator kept, which PreviousModel
  passes on with the optional input `baseline_model`,
  modules/data_profile.py):
  TFDV's drift comparators on the label and on image statistics; a warning
  naming the shifted classes, or an error with `stop_on_drift`.

Hard problems (severity ERROR: any TFDV error, a label out of range, an
empty split, a bad image, an empty or repeated test id) stop the pipeline
here, before Transform and Trainer, with a message naming the split, the
feature or record, and the problem. Nothing is skipped silently: every
problem is written to `validation_summary.json` and the per-class counts to
`class_counts.txt` and `class_counts.png` in the artifact's folder.

checks.py holds the checks on statistics and ids, image_scan.py the scan of
every record, drift.py the drift comparison, class_count_report.py the
table and chart of class counts.
"""
