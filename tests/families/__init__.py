"""One test module per built-in family (``test_<family>.py``, after ``plugins/<family>/``); the
core's tests stay in ``tests/``."""
