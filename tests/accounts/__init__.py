"""Accounts: password policy, SIRET, login, sessions, invitations, the organization page."""
