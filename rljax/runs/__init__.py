"""The run folder, written and read back: atomic files and writer locks, the manifest, the
metrics table, checkpoints, agent states, the readers for reports, the compile and program
caches, and the loggers."""
