"""Epochs of shuffled minibatches over one rollout: the learning phase PPO and PQN share.

::

    repeat num_epochs times (one key each, split from the update's key):
        shuffle the N items of data (a permutation drawn from the epoch's key)
        for each of num_minibatches consecutive slices of N / num_minibatches items:
            carry, metrics = step(carry, slice)

Everything is a ``lax.scan``: the program holds one ``step``, whatever the number of
epochs and minibatches.
"""

from __future__ import annotations

from typing import Any, Callable

import jax


def minibatch_epochs(
    key: jax.Array,
    carry: Any,
    data: Any,
    step: Callable[[Any, Any], tuple[Any, Any]],
    num_epochs: int,
    num_minibatches: int,
) -> tuple[Any, Any]:
    """``num_epochs`` passes of ``step`` over ``data`` in ``num_minibatches`` shuffled minibatches.

    Args:
      key: the update's key; each epoch's permutation comes from one of its splits.
      carry: what ``step`` carries (parameters and optimiser state).
      data: a pytree whose leaves share a leading axis of N items; ``num_minibatches``
        must divide N (static).
      step: ``(carry, minibatch) -> (carry, metrics)``; a minibatch is ``data`` with
        ``N / num_minibatches`` items.
      num_epochs: passes over the data (static).
      num_minibatches: gradient steps per pass (static).

    Returns:
      ``(carry, metrics)``, each metric with leading axes ``[num_epochs, num_minibatches]``.
    """
    n = jax.tree.leaves(data)[0].shape[0]

    def epoch(carry, epoch_key):
        order = jax.random.permutation(epoch_key, n)
        minibatches = jax.tree.map(lambda x: x[order].reshape((num_minibatches, -1) + x.shape[1:]), data)
        return jax.lax.scan(step, carry, minibatches)

    return jax.lax.scan(epoch, carry, jax.random.split(key, num_epochs))
