"""Signed statements bound to the exact content they cover (DOMAIN §8)."""
