"""Test hook library file that fails while being imported."""

raise RuntimeError("cannot import me")
