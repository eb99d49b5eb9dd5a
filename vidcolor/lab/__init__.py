"""The lab: training, training data, losses, evaluation, int8 quantisation and quality metrics.

The runtime (``vidcolor`` outside this folder) never imports it (``tests/test_structure.py``);
``scripts/`` do, from a checkout, with the ``train`` extra installed. It does not ship in the
wheel.
"""
