"""Command-line tools on top of the pipeline (docs/layout.md, layer 4)."""
