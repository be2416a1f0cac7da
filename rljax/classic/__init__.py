"""Classic methods beside the learners: dynamic programming on known models
(:mod:`rljax.classic.planning`) and multi-armed bandit algorithms (:mod:`rljax.classic.bandits`)."""
