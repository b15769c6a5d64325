"""Ordinet: a lightweight blockchain node for people who experiment with blockchains."""

__version__ = "0.1.0"
