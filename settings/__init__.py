"""The settings layer, beneath everything else (docs/layout.md).

The typed config and its sections (`config`), the feature keys, split names
and file names components share (`features`), and the data layout rules for
spans (`spans`). It imports nothing else of the project, so the Trainer's
and Transform's processes, the components and the runners all read the same
settings without pulling in each other's code.
"""
