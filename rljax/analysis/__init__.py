"""Statistics over seeds and the reports built on them: IQM, bootstrap confidence intervals,
held-threshold steps (:mod:`rljax.analysis.stats`), the report tables and the plots."""
