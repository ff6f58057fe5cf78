"""Documents: uploads validated by content, storage, downloads."""
