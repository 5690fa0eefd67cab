"""ExampleValidator: TFX's own component, with the executor that wraps
TFX's (`executor.py`: an empty split named, the config as Kubeflow V2
passes it). Its configuration, the class balance rules as TFDV SQL, is
pipeline/components/util/class_balance.py, shared with the ImageValidator,
which reads the rules' verdicts back from ExampleValidator's anomalies.
"""
