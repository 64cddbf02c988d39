"""A model's fingerprint for the caches: its layers' kinds and settings, its wiring,
its weights and the Python functions its Lambda layers run, without the names Keras
numbers per process.

A Lambda's function is fingerprinted by what it computes with: its code, its defaults,
the values in its closure and the module globals it reads (a threshold or a table of
constants changed between two runs changes the fingerprint). A value that cannot be
fingerprinted (an arbitrary object) raises Unfingerprintable: the disk caches then
leave that model out rather than risk a stale answer.
"""

from __future__ import annotations

import dis
import functools
import inspect
import json
import site
import sysconfig
import types

import numpy as np

from .._tf import keras
from ..core.content import digest_of, hasher
from .introspection import _containers


class Unfingerprintable(Exception):
    """A Lambda layer's function reads a value whose content cannot be fingerprinted (str(err) says which)."""


def update_digest(digest, model: keras.Model, *, strict: bool = True):
    """`digest` (a content.hasher(), or None for a new one) updated with the model's layers, functions and weights.

    strict: raise Unfingerprintable for a Lambda reading a value that cannot be fingerprinted;
    False writes such a value's type instead (for the resume key, which must always be made).
    """
    digest = hasher() if digest is None else digest
    digest.update(_architecture(model).encode())
    digest.update(_wiring(model).encode())
    digest.update(_functions(model, strict).encode())
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


def _functions(model: keras.Model, strict: bool) -> str:
    """What each Lambda layer's function computes with (see the module's docstring)."""
    parts = []
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.Lambda):
            where = f"the Lambda layer {layer.name!r}"
            parts.append(_value(layer.function, where, strict, set()) + _value(layer.arguments or {}, where, strict, set()))
    return "\n".join(parts)


# Where installed code lives: the standard library, and site-packages or Debian's dist-packages (user installs too).
_LIBRARY_FOLDERS = tuple({*(sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")),
                          *site.getsitepackages(), site.getusersitepackages()})


def _in_a_library(fn) -> bool:
    """Installed code (Keras, NumPy, the standard library): named, not read, as it does not change under a run."""
    try:
        return inspect.getfile(fn).startswith(_LIBRARY_FOLDERS)
    except TypeError:  # a builtin
        return True


def _value(value, where: str, strict: bool, seen: set) -> str:
    """A text that changes whenever `value`'s content does."""
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        return repr(value)
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.ascontiguousarray(value)
        return f"array{array.dtype}{array.shape}:{digest_of(array.tobytes())}" if array.dtype != object \
            else _value(array.tolist(), where, strict, seen)
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__}[{','.join(_value(v, where, strict, seen) for v in value)}]"
    if isinstance(value, (set, frozenset)):
        return f"set[{','.join(sorted(_value(v, where, strict, seen) for v in value))}]"
    if isinstance(value, dict):
        return "dict{" + ",".join(sorted(f"{_value(k, where, strict, seen)}:{_value(v, where, strict, seen)}"
                                         for k, v in value.items())) + "}"
    if isinstance(value, types.ModuleType):
        return f"module {value.__name__}"
    if isinstance(value, type):
        return f"class {value.__module__}.{value.__qualname__}"
    if isinstance(value, functools.partial):
        return f"partial({_value(value.func, where, strict, seen)},{_value(value.args, where, strict, seen)}," \
               f"{_value(value.keywords, where, strict, seen)})"
    if isinstance(value, (types.BuiltinFunctionType, np.ufunc)) or \
            (isinstance(value, types.FunctionType) and _in_a_library(value)):
        return f"function {getattr(value, '__module__', '')}.{getattr(value, '__qualname__', repr(value))}"
    if isinstance(value, types.FunctionType):
        return _function(value, where, strict, seen)
    if hasattr(value, "numpy") and hasattr(value, "dtype") and hasattr(value, "shape"):  # a tensor or a variable
        return _value(np.asarray(keras.ops.convert_to_numpy(value)), where, strict, seen)
    if strict:
        raise Unfingerprintable(f"{where} reads a {type(value).__qualname__} object")
    return f"object {type(value).__module__}.{type(value).__qualname__}"


def _function(fn: types.FunctionType, where: str, strict: bool, seen: set) -> str:
    """A Python function by its code, defaults, closure values and the globals it reads (functions it calls too)."""
    if id(fn) in seen:  # a recursive function, or two that call each other
        return f"function {fn.__qualname__} (again)"
    seen.add(id(fn))
    code = fn.__code__
    closure = {name: cell.cell_contents for name, cell in zip(code.co_freevars, fn.__closure__ or ())
               if _has_contents(cell)}
    read = {name: fn.__globals__[name] for name in _global_names(code) if name in fn.__globals__}
    return (f"function {fn.__qualname__} code {_code(code)} defaults {_value(fn.__defaults__, where, strict, seen)} "
            f"{_value(fn.__kwdefaults__, where, strict, seen)} closure {_value(closure, where, strict, seen)} "
            f"globals {_value(read, where, strict, seen)}")


def _has_contents(cell) -> bool:
    try:
        cell.cell_contents  # noqa: B018  (an empty cell: a name assigned later in the enclosing function)
    except ValueError:
        return False
    return True


def _code(code: types.CodeType) -> str:
    """A code object's bytecode and constants, nested functions' code included."""
    consts = [_code(c) if isinstance(c, types.CodeType) else
              repr(sorted(c, key=repr)) if isinstance(c, frozenset) else repr(c)  # a set's order changes per process
              for c in code.co_consts]
    return digest_of(code.co_code, repr((consts, code.co_names, code.co_varnames)))


def _global_names(code: types.CodeType) -> set[str]:
    """The global names a function and the functions defined inside it read (not attribute names: the
    `image` of tf.image.resize is no global)."""
    names = {op.argval for op in dis.get_instructions(code) if op.opname in ("LOAD_GLOBAL", "LOAD_NAME")}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names
