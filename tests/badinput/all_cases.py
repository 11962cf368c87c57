"""Every case of the corpus, registered by importing the modules that define them."""

from . import cases_files, cases_hostile, cases_hostile_inputs, cases_values  # noqa: F401  (registration)
from .registry import CASES, Case

__all__ = ["CASES", "Case"]
