"""ml_collections configs: `base.py` holds every field; one file per environment."""
