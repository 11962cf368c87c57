"""Every case of the corpus, registered by importing the modules that define them."""

from . import (  # noqa: F401  (registration)
    cases_files,
    cases_hostile,
    cases_hostile_inputs,
    cases_integrity,
    cases_outputs,
    cases_readers,
    cases_specials,
    cases_values,
)
from .registry import CASES, Case

__all__ = ["CASES", "Case"]
