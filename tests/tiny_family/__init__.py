"""A family that exists only in the tests, to show what adding a family takes: one layers file
(``layers.py``), one models file (``models.py``) with its anchors, and nothing else: the
contract test walks it from its contract alone (``tests/test_new_family.py``)."""
