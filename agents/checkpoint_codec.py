"""A typed, data-only encoding of a checkpoint's state: a JSON tree plus named numpy arrays.

Threat model: the encoded form is untrusted input (a checkpoint file anyone could have
written). :func:`decode` only ever builds the whitelisted types below, never calls a
constructor or function named by the input, and rejects anything else with one line
(:class:`CheckpointError`): an unknown type tag, a reference to a missing array, an array
nobody refers to, an object (or otherwise non-numeric) array, a malformed node, or nesting
deeper than :data:`MAX_DEPTH`. What it does not guarantee: a well-formed but tampered state
decodes fine, and can change a resumed run's results (it cannot run code).

The whitelist, with each type's JSON form (every JSON object is a tagged node, ``{"$": tag}``,
so nothing is ambiguous):

* ``None``, ``bool``, ``int`` (any size: a PCG64 state holds 128-bit ints), ``str``: JSON
  itself; a finite ``float`` too (``repr`` round-trips exactly); nan and +-inf as
  ``{"$": "float", "v": "nan" | "inf" | "-inf"}`` (a Python nan's sign and payload are not
  kept; arrays are kept bit for bit);
* ``list``: a JSON array; ``tuple``: ``{"$": "tuple", "v": [...]}``;
* ``dict`` with ``str`` or ``int`` keys: ``{"$": "dict", "v": [[key, value], ...]}``, in
  order (int keys stay ints);
* ``numpy.ndarray`` of a bool, integer, float or complex dtype:
  ``{"$": "array", "ref": name, "dtype": ..., "shape": [...]}``, the data under ``name`` in
  the array dict; a numpy scalar of those dtypes: ``{"$": "scalar", "ref": ..., "dtype": ...}``
  (a 0-d array);
* ``networkx.Graph`` (plain, undirected): ``{"$": "graph", "attrs": ..., "nodes": [[node,
  attrs], ...], "edges": [[u, v, attrs], ...]}``, nodes and edges in the graph's order.

Types are matched exactly (``type(x) is float``, not ``isinstance``): a numpy float is a
numpy scalar, a ``bool`` is not an ``int``, and a subclass is rejected at save time with the
path of the offending value (a developer error, caught by the tests).
"""

from __future__ import annotations

import math
from typing import Any

import networkx as nx
import numpy as np

MAX_DEPTH = 64
"""Deepest container nesting that is encoded or decoded (the real state nests about 6)."""
ARRAY_KINDS = frozenset("biufc")
"""numpy dtype kinds allowed in arrays and scalars: bool, signed, unsigned, float, complex."""
TAG = "$"


class CheckpointError(ValueError):
    """A checkpoint cannot be used; the message is one line naming the file and the fix."""


JsonValue = None | bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]

_PLAIN = frozenset({type(None), bool, int, str})
"""Types stored as themselves (a finite float too, checked apart)."""
_JSON_PLAIN = frozenset({type(None), bool, int, float, str})


class _Refused(Exception):
    """Raised deep in the tree; the containers it passes add their keys (paths cost nothing
    until something fails)."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why
        self.keys: list[str] = []

    def path(self) -> str:
        return "state" + "".join(reversed(self.keys))


_finite = math.isfinite


def _step(key: object, in_sequence: bool) -> str:
    if in_sequence:
        return f"[{key}]"
    text = key if type(key) is str and key.isprintable() else ascii(key)  # no control chars
    return f"/{text[:40]}"


def encode(tree: Any) -> tuple[JsonValue, dict[str, np.ndarray]]:
    """``tree`` as a JSON-able value plus the arrays it refers to, by name.

    Raises:
        CheckpointError: a value of a type outside the whitelist (the message names its path),
            a dict key that is not a ``str`` or ``int``, or nesting deeper than MAX_DEPTH.
    """
    arrays: dict[str, np.ndarray] = {}

    def store(value: np.ndarray) -> str:
        if value.dtype.kind not in ARRAY_KINDS or value.dtype.fields is not None:
            raise _Refused(
                f"numpy dtype {value.dtype} is not one of bool, int, uint, float, complex"
            )
        name = f"a{len(arrays)}"
        arrays[name] = value  # np.save copes with any memory layout
        return name

    def child(value: Any, key: object, in_sequence: bool, depth: int) -> JsonValue:
        kind = type(value)
        if kind in _PLAIN or (kind is float and _finite(value)):
            return value  # the fast path: most of the tables
        try:
            return enc(value, depth)
        except _Refused as error:
            error.keys.append(_step(key, in_sequence))
            raise

    def enc(value: Any, depth: int) -> JsonValue:
        kind = type(value)
        if kind in _PLAIN:
            return value  # exact JSON scalar types
        if kind is float:
            if math.isfinite(value):
                return float(value)
            return {TAG: "float", "v": "nan" if math.isnan(value) else repr(value)}
        if kind is np.ndarray:
            name = store(value)
            return {TAG: "array", "ref": name, "dtype": value.dtype.str, "shape": list(value.shape)}
        if isinstance(value, np.generic) and kind.__module__ == "numpy":
            array = np.asarray(value)
            return {TAG: "scalar", "ref": store(array), "dtype": array.dtype.str}
        if depth >= MAX_DEPTH and kind in (list, tuple, dict, nx.Graph):
            raise _Refused(f"nested deeper than {MAX_DEPTH}")
        if kind is list or kind is tuple:
            items: list[JsonValue]
            if all(type(v) in _PLAIN or (type(v) is float and _finite(v)) for v in value):
                items = list(value)  # a table row: no call per value
            else:
                items = [child(v, i, True, depth + 1) for i, v in enumerate(value)]
            return items if kind is list else {TAG: "tuple", "v": items}
        if kind is dict:
            pairs: list[JsonValue] = []
            for key, item in value.items():
                if type(key) not in (str, int):
                    raise _Refused(
                        f"dict key {key!r:.40} is a {type(key).__name__}, not a str or int"
                    )
                pairs.append([key, child(item, key, False, depth + 1)])
            return {TAG: "dict", "v": pairs}
        if kind is nx.Graph:
            nodes = [[n, dict(a)] for n, a in value.nodes(data=True)]
            edges = [[u, v, dict(a)] for u, v, a in value.edges(data=True)]
            return {
                TAG: "graph",
                "attrs": child(dict(value.graph), ".graph", True, depth + 1),
                "nodes": child(nodes, ".nodes", True, depth + 1),
                "edges": child(edges, ".edges", True, depth + 1),
            }
        raise _Refused(
            f"type {kind.__module__}.{kind.__qualname__} is not in the checkpoint whitelist "
            "(agents/checkpoint_codec.py)"
        )

    try:
        return enc(tree, 0), arrays
    except _Refused as error:
        raise CheckpointError(f"checkpoint: cannot store {error.path()}: {error.why}") from None


def decode(document: Any, arrays: dict[str, np.ndarray], *, source: str = "checkpoint") -> Any:
    """Rebuild the tree :func:`encode` gave, from its JSON value and the arrays by name.

    Every array must be referred to exactly once. ``source`` names the file in messages.

    Raises:
        CheckpointError: one line naming ``source`` and what is wrong.
    """
    used: set[str] = set()

    def array(node: dict[str, Any]) -> np.ndarray:
        ref = node.get("ref")
        if not isinstance(ref, str) or ref not in arrays:
            raise _Refused(f"refers to array {str(ref)[:40]!r}, which is not in the arrays file")
        if ref in used:
            raise _Refused(f"array {ref!r} is referred to twice")
        used.add(ref)
        value = arrays[ref]
        if type(value) is not np.ndarray or value.dtype.kind not in ARRAY_KINDS:
            raise _Refused(f"array {ref!r} has dtype {getattr(value, 'dtype', '?')}, not numeric")
        if value.dtype.fields is not None or node.get("dtype") != value.dtype.str:
            raise _Refused(
                f"array {ref!r} has dtype {value.dtype.str}, not {str(node.get('dtype'))[:20]!r}"
            )
        return value

    def child(node: Any, key: object, in_sequence: bool, depth: int) -> Any:
        if type(node) in _JSON_PLAIN:
            return node
        try:
            return dec(node, depth)
        except _Refused as error:
            error.keys.append(_step(key, in_sequence))
            raise

    def dec(node: Any, depth: int) -> Any:
        kind = type(node)
        if kind in _JSON_PLAIN:
            return node
        if depth >= MAX_DEPTH:
            raise _Refused(f"nested deeper than {MAX_DEPTH}")
        if kind is list:
            if all(type(v) in _JSON_PLAIN for v in node):
                return node  # fresh from json.loads: a table row needs no copy
            return [child(v, i, True, depth + 1) for i, v in enumerate(node)]
        if kind is not dict:
            raise _Refused(f"unexpected JSON value of type {kind.__name__}")
        tag = node.get(TAG)
        if tag == "float":
            text = node.get("v")
            if text not in ("nan", "inf", "-inf"):
                raise _Refused(f"float {str(text)[:20]!r} is not nan, inf or -inf")
            return float(text)
        if tag == "array":
            value = array(node)
            shape = node.get("shape")
            if not isinstance(shape, list) or list(value.shape) != shape:
                raise _Refused(f"array shape {list(value.shape)} is not {str(shape)[:40]}")
            return value
        if tag == "scalar":
            value = array(node)
            if value.shape != ():
                raise _Refused(f"scalar has shape {list(value.shape)}")
            return value[()]
        items = node.get("v")
        if tag == "tuple":
            if type(items) is not list:
                raise _Refused("tuple without a list of items")
            if all(type(v) in _JSON_PLAIN for v in items):
                return tuple(items)
            return tuple(child(v, i, True, depth + 1) for i, v in enumerate(items))
        if tag == "dict":
            if type(items) is not list:
                raise _Refused("dict without a list of items")
            out: dict[str | int, Any] = {}
            for item in items:
                if type(item) is not list or len(item) != 2 or type(item[0]) not in (str, int):
                    raise _Refused("a dict item is not a [str or int key, value] pair")
                out[item[0]] = child(item[1], item[0], False, depth + 1)
            return out
        if tag == "graph":
            return graph(node, depth)
        raise _Refused(f"unknown type tag {str(tag)[:40]!r}")

    def graph(node: dict[str, Any], depth: int) -> nx.Graph:
        attrs = child(node.get("attrs"), ".graph", True, depth + 1)
        nodes = child(node.get("nodes"), ".nodes", True, depth + 1)
        edges = child(node.get("edges"), ".edges", True, depth + 1)
        if type(attrs) is not dict or type(nodes) is not list or type(edges) is not list:
            raise _Refused("a graph needs attrs (dict), nodes and edges (lists)")
        built = nx.Graph(**{str(k): v for k, v in attrs.items()})
        try:
            for entry in nodes:
                name, data = entry
                if type(data) is not dict:
                    raise TypeError("node attributes are not a dict")
                built.add_node(name, **{str(k): v for k, v in data.items()})
            for entry in edges:
                u, v, data = entry
                if type(data) is not dict:
                    raise TypeError("edge attributes are not a dict")
                built.add_edge(u, v, **{str(k): val for k, val in data.items()})
        except (TypeError, ValueError) as error:
            raise _Refused(f"malformed graph ({ascii(str(error))[:80]})") from None
        return built

    try:
        tree = dec(document, 0)
        unused = sorted(set(arrays) - used)
        if unused:
            raise _Refused(f"{len(unused)} array(s) nobody refers to, e.g. {unused[0][:40]!r}")
    except _Refused as error:
        raise CheckpointError(
            f"checkpoint: {source} is damaged or not a fedmarket checkpoint ({error.path()}: "
            f"{error.why}); delete it or use another --checkpoint-dir"
        ) from None
    return tree
