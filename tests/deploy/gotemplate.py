"""A renderer for the part of Helm's template language the chart uses, so that the
chart is checked without helm (no registry here ships it).

What it knows: `{{ }}` actions with `{{-`/`-}}` trimming and `{{/* */}}` comments;
`define`, `include`, `if`/`else if`/`else`, `range` (over a list, or `$k, $v :=`
over a map in key order), `with`; `$var :=`; pipelines of `.Field.path`, `$`,
`$var.path`, string and integer literals and parenthesised pipelines; and the
functions quote, default, required, toYaml, indent, nindent, dict, list, eq, ne,
and, or, not, contains, trunc, trimSuffix and printf (%s, %d).

Stricter than helm on one point, on purpose: a key missing from a map is an
error, not an empty value, so a typo in a `.Values` path fails the test. It does
not check anything helm checks beyond that (no schema, no Kubernetes API).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
_TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<number>-?\d+)|(?P<assign>:=)'
    r"|(?P<punct>[|(),])|(?P<word>[$.A-Za-z_][$.\w]*))"
)


class TemplateError(Exception):
    """The template uses something this renderer does not know, or fails as helm would."""


@dataclass
class Node:
    kind: str  # text, action, if, range, with, define
    text: str = ""
    expr: str = ""
    variables: list[str] = field(default_factory=list)
    body: list[Node] = field(default_factory=list)
    branches: list[tuple[str | None, list[Node]]] = field(default_factory=list)


def _lex(source: str) -> Iterator[tuple[str, str]]:
    """("text", …) and ("action", …) pieces, trimming done."""
    pieces: list[tuple[str, str]] = []
    position = 0
    trim_next = False
    for match in _ACTION.finditer(source):
        text = source[position : match.start()]
        if trim_next:
            text = text.lstrip()
        if match[1]:
            text = text.rstrip()
        pieces.append(("text", text))
        body = match[2].strip()
        if not (body.startswith("/*") and body.endswith("*/")):
            pieces.append(("action", body))
        trim_next = bool(match[3])
        position = match.end()
    tail = source[position:]
    pieces.append(("text", tail.lstrip() if trim_next else tail))
    yield from ((kind, value) for kind, value in pieces if kind == "action" or value)


def parse(source: str) -> tuple[list[Node], dict[str, list[Node]]]:
    """The nodes of a file, and the templates it defines."""
    defines: dict[str, list[Node]] = {}
    root: list[Node] = []
    stack: list[tuple[Node, list[Node]]] = []
    current = root
    for kind, value in _lex(source):
        if kind == "text":
            current.append(Node("text", text=value))
            continue
        keyword, _, rest = value.partition(" ")
        if keyword in ("if", "range", "with", "define"):
            node = Node(keyword)
            if keyword == "range" and ":=" in rest:
                names, _, rest = rest.partition(":=")
                node.variables = [name.strip() for name in names.split(",")]
            node.branches.append((rest.strip(), []))
            current.append(node)
            stack.append((node, current))
            current = node.branches[-1][1]
        elif keyword == "else":
            if not stack:
                raise TemplateError("else outside a block")
            node = stack[-1][0]
            condition = rest.removeprefix("if ").strip() if rest.startswith("if ") else None
            node.branches.append((condition, []))
            current = node.branches[-1][1]
        elif keyword == "end":
            if not stack:
                raise TemplateError("end without a block")
            node, current = stack.pop()
            if node.kind == "define":
                current.remove(node)
                defines[json.loads(node.branches[0][0] or '""')] = node.branches[0][1]
        else:
            current.append(Node("action", expr=value))
    if stack:
        raise TemplateError(f"{stack[-1][0].kind} without end")
    return root, defines


def _truthy(value: Any) -> bool:
    return value not in (None, False, 0, "") and not (isinstance(value, (list, dict)) and not value)


def _print(value: Any) -> str:
    if value is None:
        raise TemplateError("an empty value printed (helm would print <no value>)")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        raise TemplateError(f"a collection printed without toYaml: {value!r}")
    return str(value)


def _to_yaml(value: Any) -> str:
    return str(yaml.safe_dump(value, default_flow_style=False, sort_keys=True)).rstrip("\n")


def _indent(width: int, text: str) -> str:
    return "\n".join(" " * width + line for line in str(text).split("\n"))


def _required(message: str, value: Any) -> Any:
    if not _truthy(value):
        raise TemplateError(f"required: {message}")
    return value


def _printf(pattern: str, *args: Any) -> str:
    return str(re.sub(r"%[sd]", "{}", pattern).format(*args))


class Renderer:
    """Renders parsed templates against a root context (Values, Release, Chart)."""

    def __init__(self, defines: dict[str, list[Node]]) -> None:
        self.defines = defines
        self.functions: dict[str, Callable[..., Any]] = {
            "quote": lambda value: json.dumps(_print(value)),
            "default": lambda fallback, value=None: value if _truthy(value) else fallback,
            "required": _required,
            "toYaml": _to_yaml,
            "indent": _indent,
            "nindent": lambda width, text: "\n" + _indent(width, text),
            "dict": lambda *pairs: dict(zip(pairs[::2], pairs[1::2], strict=True)),
            "list": lambda *items: list(items),
            "eq": lambda a, b: a == b,
            "ne": lambda a, b: a != b,
            "and": lambda *values: all(_truthy(v) for v in values),
            "or": lambda *values: any(_truthy(v) for v in values),
            "not": lambda value: not _truthy(value),
            "contains": lambda part, text: part in text,
            "trunc": lambda width, text: str(text)[:width],
            "trimSuffix": lambda suffix, text: str(text).removesuffix(suffix),
            "printf": _printf,
            "include": self.include,
        }

    def include(self, name: str, dot: Any) -> str:
        if name not in self.defines:
            raise TemplateError(f"include of an undefined template {name!r}")
        return self.render(self.defines[name], dot, {"$": dot})

    def render(self, nodes: list[Node], dot: Any, variables: dict[str, Any]) -> str:
        out: list[str] = []
        for node in nodes:
            if node.kind == "text":
                out.append(node.text)
            elif node.kind == "action":
                value = self.pipeline(node.expr, dot, variables)
                if not re.match(r"^\$\w+\s*:=", node.expr):
                    out.append(_print(value))
            elif node.kind == "if":
                for condition, body in node.branches:
                    if condition is None or _truthy(self.pipeline(condition, dot, variables)):
                        out.append(self.render(body, dot, dict(variables)))
                        break
            elif node.kind == "with":
                value = self.pipeline(node.branches[0][0] or "", dot, variables)
                if _truthy(value):
                    out.append(self.render(node.branches[0][1], value, dict(variables)))
                elif len(node.branches) > 1:
                    out.append(self.render(node.branches[1][1], dot, dict(variables)))
            elif node.kind == "range":
                out.append(self._range(node, dot, variables))
        return "".join(out)

    def _range(self, node: Node, dot: Any, variables: dict[str, Any]) -> str:
        collection = self.pipeline(node.branches[0][0] or "", dot, variables)
        if isinstance(collection, dict):
            items = sorted(collection.items())
        elif isinstance(collection, list):
            items = list(enumerate(collection))
        elif collection is None:
            items = []
        else:
            raise TemplateError(f"range over {type(collection).__name__}")
        out = []
        for key, value in items:
            scope = dict(variables)
            if len(node.variables) == 2:
                scope[node.variables[0]], scope[node.variables[1]] = key, value
            elif node.variables:
                scope[node.variables[0]] = value
            out.append(self.render(node.branches[0][1], value, scope))
        return "".join(out)

    def pipeline(self, expr: str, dot: Any, variables: dict[str, Any]) -> Any:
        declared = re.match(r"^(\$\w+)\s*:=\s*(.*)$", expr, re.DOTALL)
        if declared:
            variables[declared[1]] = self.pipeline(declared[2], dot, variables)
            return variables[declared[1]]
        value, rest = self._commands(_tokens(expr), dot, variables)
        if rest:
            raise TemplateError(f"unbalanced {expr!r}")
        return value

    def _commands(
        self, tokens: list[str], dot: Any, variables: dict[str, Any]
    ) -> tuple[Any, list[str]]:
        """A pipeline from tokens, up to an unmatched `)`: (value, tokens left)."""
        value: Any = None
        first = True
        while tokens and tokens[0] != ")":
            args: list[Any] = []
            name = None
            while tokens and tokens[0] not in ("|", ")"):
                token = tokens.pop(0)
                if token == "(":
                    inner, tokens = self._commands(tokens, dot, variables)
                    if not tokens:
                        raise TemplateError("( without )")
                    tokens = tokens[1:]
                    args.append(inner)
                elif name is None and not args and token in self.functions:
                    name = token
                else:
                    args.append(self._operand(token, dot, variables))
            if not first:
                args.append(value)
            value = self.functions[name](*args) if name else args[0] if args else None
            first = False
            if tokens and tokens[0] == "|":
                tokens = tokens[1:]
        return value, tokens

    def _operand(self, token: str, dot: Any, variables: dict[str, Any]) -> Any:
        if token.startswith('"'):
            return json.loads(token)
        if re.fullmatch(r"-?\d+", token):
            return int(token)
        if token == ".":
            return dot
        if token.startswith("."):
            return _path(dot, token[1:].split("."))
        if token.startswith("$"):
            name, *path = token.split(".")
            if name not in variables:
                raise TemplateError(f"undefined variable {name}")
            return _path(variables[name], path)
        raise TemplateError(f"unknown function or operand {token!r}")


def _tokens(expr: str) -> list[str]:
    tokens = []
    position = 0
    while expr[position:].strip():
        match = _TOKEN.match(expr, position)
        if not match:
            raise TemplateError(f"cannot read {expr[position:]!r} in {expr!r}")
        tokens.append(match.group().strip())
        position = match.end()
    return tokens


def _path(value: Any, names: list[str]) -> Any:
    for name in names:
        if not isinstance(value, dict) or name not in value:
            raise TemplateError(f"no key {name!r} (stricter than helm: a typo fails)")
        value = value[name]
    return value
