"""Training, evaluation, probes and demo-checkpoint building for TAILOR: beside the runtime package, not in it.

Run from the repository root with ``requirements-train.txt`` installed: ``python -m training.train`` trains,
``python -m training.evaluate`` tests a checkpoint, ``python -m training.prepare_demo`` builds the demo's data.
Nothing under ``tailor_core`` imports this package.
"""
