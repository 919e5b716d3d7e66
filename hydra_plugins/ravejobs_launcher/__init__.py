"""ravejobs Hydra launcher plugin (see ravejobs_launcher.py)."""
