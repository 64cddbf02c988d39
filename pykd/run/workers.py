"""Several workers (MultiWorkerMirroredStrategy): one chief, one starting point, one resume.

Each worker process runs the same pykd call. They agree by construction:
- the strategy's copy of the student starts from the chief's weights, whatever each
  worker built (students made per machine without a seed differ);
- `seed=None` draws one seed, the chief's, so every worker shuffles alike;
- only the chief writes the checkpoint (TensorFlow's convention), and a resumed run
  starts from the same epoch on every worker or stops on all of them.
The values are exchanged with the strategy's own collectives: a sum over replicas in
which only replica 0 (the chief's first device) counts.

Under one worker (no strategy, MirroredStrategy) every function here is a no-op.
"""

from __future__ import annotations

import socket

import numpy as np

from .._tf import tf
from ..core.errors import DataError
from ..core.seeds import fresh_seed


def loopback_ports(n: int) -> list[int]:
    """n free TCP ports on 127.0.0.1: for rehearsing a several-machine run as processes on one machine.

    Worker i then sets TF_CONFIG to {"cluster": {"worker": ["127.0.0.1:<port>", ...]},
    "task": {"type": "worker", "index": i}} before TensorFlow starts.
    """
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))  # all held open together, so the n ports differ
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def n_workers(strategy) -> int:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return 1
    jobs = resolver.cluster_spec().as_dict()
    return max(1, sum(len(jobs.get(job, [])) for job in ("chief", "worker")))


def is_chief(strategy) -> bool:
    """Whether this process writes the run's files: the chief, or the only worker."""
    return strategy is None or bool(getattr(strategy.extended, "should_checkpoint", True))


def from_chief(strategy, values: list) -> list[tf.Tensor]:
    """The chief's value of each tensor in `values`, on every worker (each its own value alone)."""
    if strategy is None or n_workers(strategy) == 1:
        return [tf.convert_to_tensor(v) for v in values]

    def chief_only(*tensors):
        first = tf.equal(tf.distribute.get_replica_context().replica_id_in_sync_group, 0)
        return [tf.where(first, t, tf.zeros_like(t)) for t in tensors]

    tensors = [tf.convert_to_tensor(v) for v in values]
    per_replica = strategy.run(chief_only, args=tuple(tensors))
    if not isinstance(per_replica, (list, tuple)):
        per_replica = [per_replica]
    return [strategy.reduce(tf.distribute.ReduceOp.SUM, p, axis=None) for p in per_replica]


def start_from_chief(strategy, variables) -> None:
    """Set `variables` (the strategy's student, augmenter) to the chief's values on every worker."""
    variables = list(variables)
    if not variables or strategy is None or n_workers(strategy) == 1:
        return
    for variable, value in zip(variables, from_chief(strategy, [tf.convert_to_tensor(v) for v in variables])):
        variable.assign(value)


def shared_seed(strategy, seed: int | None) -> int | None:
    """`seed`, or under several workers one seed drawn by the chief for `seed=None`."""
    if seed is not None or strategy is None or n_workers(strategy) == 1:
        return seed
    drawn = fresh_seed()  # exact in float64, as the sum carries it
    (value,) = from_chief(strategy, [tf.constant(float(drawn), tf.float64)])
    return int(value.numpy())


def agree_on_epoch(strategy, epoch: int, checkpoint_dir) -> None:
    """Stop every worker when they would resume from different epochs (checkpoints that differ)."""
    if strategy is None or n_workers(strategy) == 1:
        return
    mine = tf.constant(float(epoch), tf.float64)
    (chief,) = from_chief(strategy, [mine])
    apart = strategy.reduce(tf.distribute.ReduceOp.SUM,
                            strategy.run(lambda: tf.square(mine - chief)), axis=None)
    if float(apart.numpy()) != 0.0:
        raise DataError(
            "The workers would resume from different epochs: this one from {epoch}, the chief from {chief} "
            "(their checkpoints in {directory} differ).",
            "Give every worker the same checkpoint_dir on shared storage, where only the chief writes.",
            epoch=epoch, chief=int(chief.numpy()), directory=str(checkpoint_dir),
        )


def worker_index(strategy) -> int:
    """This worker's place among the workers (0 for the chief), from its first replica's id."""
    if strategy is None or n_workers(strategy) == 1:
        return 0
    ids = strategy.run(lambda: tf.distribute.get_replica_context().replica_id_in_sync_group)
    first = int(strategy.experimental_local_results(ids)[0].numpy())
    return first // (strategy.num_replicas_in_sync // n_workers(strategy))


def gather_rows(strategy, rows: np.ndarray, values: np.ndarray, n_rows: int) -> np.ndarray:
    """Every worker's `values` (for its `rows`) put together, on every worker: (n_rows, ...) float32.

    Each worker computed a disjoint share; a sum over workers in which only each
    worker's first replica counts puts the shares in place.
    """
    mine = np.zeros((n_rows, *values.shape[1:]), np.float32)
    mine[rows] = values
    if strategy is None or n_workers(strategy) == 1:
        return mine
    local = strategy.num_replicas_in_sync // n_workers(strategy)
    share = tf.constant(mine)

    def first_local_only():
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        return tf.where(tf.equal(replica % local, 0), share, tf.zeros_like(share))

    total = strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(first_local_only), axis=None)
    return total.numpy()
