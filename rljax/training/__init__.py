"""The training loop and what runs it: the loop (:mod:`rljax.training.loop`), its greedy
evaluation, lanes of runs vmapped and sharded over devices (:mod:`rljax.training.batch`),
agent configs from strings, the CPU device count, the watchdog and the interrupt handler."""
