"""Data kinds: what a field of the data is, and everything ganzoo does with it by kind."""
