"""arrears: a collections platform for credit-card arrears."""

__version__ = "0.1.0"
