"""The pipeline's custom components, each a package of component + executor."""
