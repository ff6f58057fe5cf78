"""A local stand-in for DGFiP's API manager and the API Impôt particulier (DOMAIN §11), for development
and end-to-end tests: it provisions OAuth2 client credentials for the tracker, issues access tokens and
serves the assiette endpoints from a file of fictitious households, with the real API's header checks,
error codes, quota and field filtering by the granted DataPass scopes.

It is its own small WSGI application, never registered in the tracker app, and keeps everything in
memory: restarting it forgets every provisioned client.
"""

from __future__ import annotations

from tracker.fakedgfip.app import create_fake_dgfip_app

__all__ = ["create_fake_dgfip_app"]
