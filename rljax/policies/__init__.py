"""Trained policies out of run folders: :func:`rljax.load_policy` (:mod:`rljax.policies.trained`),
``rljax evaluate`` (:mod:`rljax.policies.evaluate_run`) and ``rljax render`` with its drawers."""
