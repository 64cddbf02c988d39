"""A model's fingerprint for the caches: its layers' kinds and settings, its wiring
and its weights, without the names Keras numbers per process.
"""

from __future__ import annotations

import json

import numpy as np

from .._tf import keras
from ..core.content import hasher
from .introspection import _containers


def update_digest(digest, model: keras.Model):
    """`digest` (a content.hasher(), or None for a new one) updated with the model's layers and weights."""
    digest = hasher() if digest is None else digest
    digest.update(_architecture(model).encode())
    digest.update(_wiring(model).encode())
    for weight in model.weights:
        value = np.ascontiguousarray(keras.ops.convert_to_numpy(weight))
        digest.update(f"|{value.dtype}{value.shape}|".encode())
        digest.update(value.tobytes())
    return digest


def layers_digest(model: keras.Model) -> str:
    """A digest of the model's layers and wiring alone: what a resumed run must rebuild the same (not the weights)."""
    digest = hasher()
    digest.update(_architecture(model).encode())
    digest.update(_wiring(model).encode())
    return digest.hexdigest()[:32]


def _architecture(model: keras.Model) -> str:
    """Each layer's kind and settings, without names (Keras numbers those per process: conv2d_3).

    Weights alone miss what has none: a Rescaling(1/255), an activation, a Lambda.
    Freezing is left out: it changes nothing a model computes with training=False.
    """
    parts = []
    for layer in model._flatten_layers(include_self=False):
        config = {}
        if not isinstance(layer, keras.Model):  # a nested model's layers are listed themselves
            try:
                config = {k: v for k, v in layer.get_config().items() if k not in ("name", "trainable")}
            except (NotImplementedError, TypeError, AttributeError):
                config = {}
        parts.append(f"{type(layer).__module__}.{type(layer).__qualname__} "
                     f"{json.dumps(config, sort_keys=True, default=lambda v: type(v).__qualname__)}")
    return "\n".join(parts)


def _wiring(model: keras.Model) -> str:
    """How each graph in the model connects its operations, without names: each node's kind, the
    positions of its input tensors and its other arguments. Layers' settings miss a rewired skip
    connection and the keras.ops functions (ops.tanh, ops.add) applied between layers."""
    parts = []
    for graph in _containers(model):
        graph = getattr(graph, "_functional", graph)  # a Sequential model's graph
        known: dict[int, int] = {}
        for depth in sorted(getattr(graph, "_nodes_by_depth", {}), reverse=True):
            for node in graph._nodes_by_depth[depth]:
                inputs = [known.get(id(x), -1) for x in node.input_tensors]
                others = [a for a in keras.tree.flatten((node.arguments.args, node.arguments.kwargs))
                          if not isinstance(a, keras.KerasTensor)]
                kind = type(node.operation).__qualname__ if node.operation is not None else "input"
                parts.append(f"{kind}{inputs}{json.dumps(others, default=repr)}")
                known.update({id(x): len(known) for x in node.outputs})
    return "\n".join(parts)
