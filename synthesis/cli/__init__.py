"""The ``synthesis`` command line: ``validate``, ``list``, ``run``, ``diff``."""
from synthesis.cli.app import main

__all__ = ["main"]
