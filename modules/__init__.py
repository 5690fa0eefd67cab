"""Model and Transform code: what runs inside the Trainer and Transform.

Imports only settings and names (settings/config.py, settings/features.py);
docs/layout.md has the layer map.
"""
