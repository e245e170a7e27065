"""Payments: provider adapters, the local sandbox provider, reconciliation with the bank's payment file."""
