"""Tests for kea_twisted (trial)."""
