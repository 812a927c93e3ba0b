"""Tested helpers for looking inside Keras 3 models, one module a topic.

Import the module you need, e.g. ``from helpers import weights``; importing the package itself
loads nothing heavy.
"""

__version__ = "0.1.0"
