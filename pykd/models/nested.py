"""Layers inside nested models (a keras.applications backbone inside a classifier), reached by path.

A path is the nested model's name, a slash, then the layer's name, to any depth:
"efficientnetb0/block6a_project_bn" is the layer block6a_project_bn of the nested model
efficientnetb0. A nested model's inner outputs belong to its own graph, not to the outer
model's, so the outer graph is rebuilt with the nested models' layers in place: the same
layer objects, so the same weights, and every inner output a tensor of one graph.
"""

from __future__ import annotations

from .._tf import keras

SEPARATOR = "/"


def graph_of(operation):
    """The functional graph of a Sequential or functional model; None for a plain layer or a subclassed model."""
    if isinstance(operation, keras.Sequential):
        operation = getattr(operation, "_functional", None)
    return operation if isinstance(operation, keras.Model) and hasattr(operation, "_nodes_by_depth") else None


def layer_paths(model: keras.Model) -> dict[str, str | None]:
    """Every layer's path, in the models' order, to the name of the subclassed model that hides it
    (whose inner outputs no graph holds), or None when it can be reached."""
    paths: dict[str, str | None] = {}

    def walk(container, prefix: str, hidden: str | None) -> None:
        for layer in container.layers:
            if prefix and isinstance(layer, keras.layers.InputLayer):
                continue  # a nested model's input is the outer tensor it is called on
            path = prefix + layer.name
            paths.setdefault(path, hidden)
            if isinstance(layer, keras.Model):
                walk(layer, path + SEPARATOR, hidden or (None if graph_of(layer) is not None else path))

    walk(model, "", None)
    return paths


def rebuilt(model: keras.Model, wanted: str | None = None) -> tuple[keras.Model | None, object]:
    """(the model as one functional graph with nested models' layers in place, the output of the layer at
    path `wanted` in it, or None); (None, None) for a subclassed model or one of several inputs.

    The layers are shared, so training the rebuilt model trains `model`. Keras 3 passes the
    outer call's `training` to every layer of a nested model, overriding the node's own, so
    dropping the nested model's call arguments changes nothing. A layer called more than once
    gives its first call's output, as layer.output does.
    """
    graph = graph_of(model)
    if graph is None or len(graph.inputs) != 1:
        return None, None
    found: dict[str, object] = {}

    def inlined(prefix: str):
        def operation_fn(operation):
            path, inner = prefix + operation.name, graph_of(operation)

            def call(*args, **kwargs):
                if inner is not None:
                    out = inner._run_through_graph(args[0], operation_fn=inlined(path + SEPARATOR))
                else:
                    out = operation(*args, **kwargs)
                if path == wanted:
                    found.setdefault(path, out)
                return out

            return call

        return operation_fn

    inputs = keras.Input(batch_shape=graph.inputs[0].shape, dtype=graph.inputs[0].dtype)
    outputs = graph._run_through_graph(inputs, operation_fn=inlined(""))
    return keras.Model(inputs, outputs), found.get(wanted)


def flattened(model: keras.Model) -> keras.Model | None:
    """The same network as one functional graph, with nested models' layers in place; the layers are shared."""
    return rebuilt(model)[0]
