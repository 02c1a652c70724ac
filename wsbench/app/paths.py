"""The app file's payload language: paths into an event, templates, expectations.

Theory of operation
-------------------
A **path** names a value the server has when it handles an event::

    $args            the event's arguments, a list (``$args[0]`` the first)
    $args[0].room    key ``room`` of the first argument; ``["a key"]`` for any key
    $sender.sid      the sender's socket id in its namespace (also ``.namespace``, ``.user``)
    $connect         the CONNECT payload (``{}`` when none); ``$connect.token``
    $event           the client event's name (refusal pushes carry it)

A **template** is what the app file writes for a pushed or acked value. In a template:

- a string that is exactly a path is that value (any JSON type);
- ``$any``, ``$string``, ``$integer``, ``$number``, ``$boolean``, ``$bytes`` match a value
  the server makes up (an id, a timestamp, a count, a blob);
- a string with ``{$path}`` inside is text with the value spliced in (``doc:{$args[0]}``);
- ``$$`` starts a literal string that begins with ``$``;
- mappings and lists are templates of their items; anything else is itself.

:func:`compile_template` turns the YAML value into a :class:`Template` (ValueError names
the bad part); :meth:`Template.resolve` against a :class:`Context` gives an
:class:`Expect`: the same tree with every path replaced by its value, or
:class:`Missing` naming the first path that does not resolve. :meth:`Expect.mismatch`
says where a received value differs (``None`` when it matches); :func:`carried` lists
where each client-supplied value lands in the pushed copy, so a check can put its stamp
in the message and find it in the copy.

Bytes (an argument the file declares ``binary:``) are values like any other: a copy that
must carry the sender's bytes is compared byte for byte, and a mismatch names the length
and the first differing offset, never the blob itself (:func:`short`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "WILDCARDS",
    "Carry",
    "Context",
    "Expect",
    "Missing",
    "Path",
    "Template",
    "args_expect",
    "carried",
    "compile_template",
    "parse_path",
    "short",
]

ROOTS = ("args", "sender", "connect", "event")
SENDER_KEYS = ("sid", "namespace", "user")
WILDCARDS: dict[str, tuple[type, ...]] = {
    "any": (object,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "bytes": (bytes, bytearray),
}
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[([0-9]+)\]|\[\"((?:[^\"\\]|\\.)*)\"\]")
_ROOT = re.compile(r"\$([a-z]+)")
_SPLICE = re.compile(r"\{(\$[^{}]+)\}")


@dataclass(frozen=True, slots=True)
class Path:
    """``$root`` then keys (str) and indexes (int)."""

    root: str
    steps: tuple[str | int, ...] = ()

    def __str__(self) -> str:
        out = f"${self.root}"
        for s in self.steps:
            if isinstance(s, int):
                out += f"[{s}]"
            elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", s):
                out += f".{s}"
            else:
                out += '["' + s.replace("\\", "\\\\").replace('"', '\\"') + '"]'
        return out

    def resolve(self, ctx: Context) -> Any:
        """The value, or a :class:`Missing` naming the first step that is not there.

        Runs for every path of every derived emit: it walks the steps without copying the
        arguments or building the prefix, which only a :class:`Missing` names."""
        value: Any
        root, steps = self.root, self.steps
        args = ctx.args  # a tuple, indexed like the list the server sees
        if root == "args":
            value = args
        elif root == "sender":
            if len(steps) == 1 and steps[0] in SENDER_KEYS:  # what parse_path allows
                return getattr(ctx, steps[0])
            value = {"sid": ctx.sid, "namespace": ctx.namespace, "user": ctx.user}
        elif root == "connect":
            value = {} if ctx.connect is None else ctx.connect
        else:
            value = ctx.event
        for n, step in enumerate(steps):
            if isinstance(step, int):
                if (value is args or isinstance(value, list)) and 0 <= step < len(value):
                    value = value[step]
                    continue
            elif isinstance(value, dict) and step in value:
                value = value[step]
                continue
            return Missing(str(Path(root, steps[: n + 1])))
        return list(value) if value is args else value


def parse_path(text: str) -> Path:
    """Parse ``$root.key[0]["k"]``; ValueError says what is wrong."""
    m = _ROOT.match(text)
    if not m or m.group(1) not in ROOTS:
        raise ValueError(f"a path starts with one of {', '.join('$' + r for r in ROOTS)}, got {text!r}")
    root, pos, steps = m.group(1), m.end(), []
    while pos < len(text):
        s = _STEP.match(text, pos)
        if not s:
            raise ValueError(f"bad path {text!r} at {text[pos:]!r} (write .key, [0] or [\"key\"])")
        if s.group(1) is not None:
            steps.append(s.group(1))
        elif s.group(2) is not None:
            steps.append(int(s.group(2)))
        else:
            steps.append(re.sub(r"\\(.)", r"\1", s.group(3)))
        pos = s.end()
    if root == "sender" and (not steps or steps[0] not in SENDER_KEYS or len(steps) > 1):
        raise ValueError(f"$sender has {', '.join('.' + k for k in SENDER_KEYS)}, got {text!r}")
    if root == "event" and steps:
        raise ValueError(f"$event is a string and has no parts, got {text!r}")
    return Path(root, tuple(steps))


@dataclass(frozen=True, slots=True)
class Context:
    """What the server knows when it handles one event (the values paths read)."""

    args: tuple[Any, ...] = ()
    sid: str | None = None
    namespace: str = "/"
    user: Any = None
    connect: Any = None
    event: str = ""


@dataclass(frozen=True, slots=True)
class Missing:
    """A path that does not resolve for this event (the file does not say what happens)."""

    path: str

    def __str__(self) -> str:
        return f"{self.path} is not in the event"


# -- templates ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Template:
    """A compiled template node; ``kind`` is lit, ref, wild, splice, object or array."""

    kind: str
    value: Any = None  # lit: the value; ref: Path; wild: name; splice: parts
    items: tuple[tuple[Any, Template], ...] = ()  # object: (key, T); array: (index, T)

    def resolve(self, ctx: Context) -> Expect | Missing:
        """The expectation for this event, or the first :class:`Missing` path."""
        if self.kind == "lit":
            return Expect("value", self.value)
        if self.kind == "wild":
            return Expect("wild", self.value)
        if self.kind == "ref":
            v = self.value.resolve(ctx)
            return v if isinstance(v, Missing) else Expect("value", v)
        if self.kind == "splice":
            out = ""
            for part in self.value:
                if isinstance(part, str):
                    out += part
                    continue
                v = part.resolve(ctx)
                if isinstance(v, Missing):
                    return v
                out += v if isinstance(v, str) else _js_text(v)
            return Expect("value", out)
        parts: list[tuple[Any, Expect]] = []
        for key, t in self.items:
            e = t.resolve(ctx)
            if isinstance(e, Missing):
                return e
            parts.append((key, e))
        return Expect(self.kind, None, tuple(parts))

    def refs(self, where: str = "") -> Iterator[tuple[str, Path]]:
        """(place in the value, path) for every path this template copies."""
        if self.kind == "ref":
            yield where, self.value
        elif self.kind == "splice":
            for part in self.value:
                if isinstance(part, Path):
                    yield where, part
        for key, t in self.items:
            sub = f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}"
            yield from t.refs(sub)

    def is_wild(self) -> bool:
        return self.kind == "wild" and self.value == "any"


def _js_text(v: Any) -> str:
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    return str(v)


def compile_template(value: Any) -> Template:
    """The YAML value of a template -> :class:`Template`; ValueError for a bad path."""
    if isinstance(value, str):
        if value.startswith("$$"):
            return Template("lit", value[1:])
        if value.startswith("$") and value[1:] in WILDCARDS:
            return Template("wild", value[1:])
        if value.startswith("$"):
            return Template("ref", parse_path(value))
        if _SPLICE.search(value):
            parts: list[str | Path] = []
            pos = 0
            for m in _SPLICE.finditer(value):
                if m.start() > pos:
                    parts.append(value[pos : m.start()])
                parts.append(parse_path(m.group(1)))
                pos = m.end()
            if pos < len(value):
                parts.append(value[pos:])
            return Template("splice", tuple(parts))
        return Template("lit", value)
    if isinstance(value, dict):
        return Template("object", None, tuple((str(k), compile_template(v)) for k, v in value.items()))
    if isinstance(value, list):
        return Template("array", None, tuple((i, compile_template(v)) for i, v in enumerate(value)))
    if value is None or isinstance(value, (bool, int, float)):
        return Template("lit", value)
    raise ValueError(f"expected a JSON value, got a {type(value).__name__}")


# -- expectations ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Expect:
    """A resolved template: what a received value must look like."""

    kind: str  # value, wild, object, array
    value: Any = None
    items: tuple[tuple[Any, Expect], ...] = field(default=())

    def mismatch(self, got: Any, where: str = "") -> str | None:
        """``None`` when ``got`` matches; else where and how it differs.

        Runs for every expected copy: :meth:`_ok` answers the common case (it matches)
        without building a place name or a set; only a mismatch walks again to say where."""
        if self._ok(got):
            return None
        return self._explain(got, where)

    def _ok(self, got: Any) -> bool:
        """True exactly when :meth:`_explain` would find nothing."""
        kind = self.kind
        if kind == "value":
            want = self.value
            if type(got) is type(want):
                return bool(got == want)
            if isinstance(want, (bytes, bytearray)):
                return isinstance(got, (bytes, bytearray)) and got == want
            return _number(got) and _number(want) and got == want
        if kind == "object":
            if not isinstance(got, dict) or len(got) != len(self.items):
                return False  # keys are unique: every one present and no more = same size
            for key, e in self.items:
                if key not in got or not e._ok(got[key]):
                    return False
            return True
        if kind == "array":
            if not isinstance(got, list) or len(got) != len(self.items):
                return False
            for (_, e), g in zip(self.items, got, strict=True):
                if not e._ok(g):
                    return False
            return True
        types = WILDCARDS[self.value]  # wild
        return isinstance(got, types) and not (
            isinstance(got, bool) and self.value in ("integer", "number")
        )

    def _explain(self, got: Any, where: str = "") -> str | None:
        """Where and how ``got`` differs (``None`` when it does not)."""
        at = where or "the value"
        if self.kind == "wild":
            types = WILDCARDS[self.value]
            ok = isinstance(got, types) and not (
                isinstance(got, bool) and self.value in ("integer", "number")
            )
            return None if ok else f"{at}: expected ${self.value}, got {short(got)}"
        if self.kind == "value":
            if isinstance(self.value, (bytes, bytearray)):
                return _bytes_mismatch(at, self.value, got)
            same = got == self.value and type(got) is type(self.value) or (
                _number(got) and _number(self.value) and got == self.value
            )
            return None if same else f"{at}: expected {short(self.value)}, got {short(got)}"
        if self.kind == "object":
            if not isinstance(got, dict):
                return f"{at}: expected an object, got {short(got)}"
            for key, e in self.items:
                if key not in got:
                    return f"{where}.{key}: missing"
                bad = e.mismatch(got[key], f"{where}.{key}")
                if bad:
                    return bad
            extra = sorted(set(got) - {k for k, _ in self.items})
            return f"{at}: unexpected key(s) {', '.join(map(repr, extra))}" if extra else None
        if not isinstance(got, list):
            return f"{at}: expected a list, got {short(got)}"
        if len(got) != len(self.items):
            return f"{at}: expected {len(self.items)} item(s), got {len(got)}"
        for (i, e), g in zip(self.items, got, strict=True):
            bad = e.mismatch(g, f"{where}[{i}]")
            if bad:
                return bad
        return None

    def matches(self, got: Any) -> bool:
        return self.mismatch(got) is None

    def example(self) -> Any:
        """A value that matches (wildcards become a sample of their type)."""
        if self.kind == "value":
            return self.value
        if self.kind == "wild":
            return {"any": None, "string": "", "integer": 0, "number": 0, "boolean": False,
                    "bytes": b""}[self.value]
        if self.kind == "object":
            return {k: e.example() for k, e in self.items}
        return [e.example() for _, e in self.items]


def short(v: Any, limit: int = 120) -> str:
    """``repr`` for a reason: bytes as ``<N bytes: 0a0b...>``, anything at most ``limit``."""
    if isinstance(v, (bytes, bytearray)):
        head = bytes(v[:8]).hex()
        return f"<{len(v)} bytes: {head}{'...' if len(v) > 8 else ''}>"
    text = repr(v)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _bytes_mismatch(at: str, want: bytes | bytearray, got: Any) -> str | None:
    """Byte for byte: ``None`` when equal, else the lengths and the first differing offset."""
    if not isinstance(got, (bytes, bytearray)):
        return f"{at}: expected {len(want)} bytes, got {short(got)}"
    if got == want:
        return None
    n = min(len(got), len(want))
    first = next((i for i in range(n) if got[i] != want[i]), n)
    if first == n:
        return f"{at}: expected {len(want)} bytes, got {len(got)} (equal up to byte {n})"
    size = f"{len(want)} bytes" if len(got) == len(want) else (
        f"{len(want)} bytes, got {len(got)}")
    return (f"{at}: {size}, differing first at byte {first} (expected 0x{want[first]:02x}, "
            f"got 0x{got[first]:02x})")


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def args_expect(values: list[Any] | tuple[Any, ...]) -> Expect:
    """The expectation ``args == values`` exactly (an echo of the event's arguments)."""
    return Expect("array", None, tuple((i, Expect("value", v)) for i, v in enumerate(values)))


@dataclass(frozen=True, slots=True)
class Carry:
    """A value the client supplied (``source``) and where a copy carries it (``place``)."""

    source: str  # a path, e.g. $args[0].message
    place: str  # in the pushed/acked argument list, e.g. [0].message


def carried(args: tuple[Template, ...] | None, spread: bool = False) -> tuple[Carry, ...]:
    """Where each client-supplied value lands in a pushed argument list."""
    if spread:
        return (Carry("$args", "[*]"),)
    out = []
    for i, t in enumerate(args or ()):
        for place, path in t.refs(f"[{i}]"):
            if path.root == "args":
                out.append(Carry(str(path), place))
    return tuple(out)
