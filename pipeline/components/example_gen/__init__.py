"""ImportExampleGen that checks its input files before reading them."""
