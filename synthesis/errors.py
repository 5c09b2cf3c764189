"""Exceptions that carry a message meant for the user.

Every user mistake (bad YAML, a bad CSV cell, an unknown review id, a bad
``--set`` override) is raised as a :class:`SynthesisError` subclass whose
message names the file, row and column where there is one and says what to
do. The command-line interface prints such messages without a traceback.
"""
from __future__ import annotations


class SynthesisError(Exception):
    """Base class of user-facing errors: the message is shown as it is."""


class ReviewError(SynthesisError, ValueError):
    """A review specification or its study data is invalid."""


class PipelineError(SynthesisError):
    """A pipeline run could not be carried out (not a bug in the library)."""


class DataError(SynthesisError, ValueError):
    """Effect-size or study data given to the engine is unusable (names the rows and column)."""
