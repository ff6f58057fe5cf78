"""The credentials vault: API credentials issued by DGFiP for each habilitation, encrypted with AES-256-GCM
under master keys from the environment (``keys``, ``crypto``), and the services that record, reveal,
supersede, revoke and re-encrypt them (``services``)."""
