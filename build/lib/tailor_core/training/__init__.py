"""Training, evaluation and data loading for TAILOR (not imported by ``import tailor_core``).

``python -m tailor_core.training.train`` trains, ``python -m tailor_core.training.evaluate`` tests a checkpoint.
"""
