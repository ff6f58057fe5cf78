"""PDF dossiers: rendering, annexes, signature and verification.

Kept free of imports on purpose: the rendering child process (``pdf_engine``) runs as a bare script and
the modules here are imported only by what needs them.
"""

# The request's data, machine-readable, travels inside every dossier under this name.
DOSSIER_JSON_NAME = "dossier.json"
