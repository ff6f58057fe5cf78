"""Tests for uploaded documents."""
