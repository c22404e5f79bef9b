"""A small GraphQL reader, enough to find root fields, their arguments and selection sets, and
Shopify's calculated query cost."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from zora.standins.shopify.shops import StandInError

_TOKEN = re.compile(r'\s+|,|#[^\n]*|"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|\.\.\.|[A-Za-z_][A-Za-z0-9_]*|[{}()\[\]:!$=@]')


@dataclass
class Field:
    name: str
    args: dict[str, Any] = field(default_factory=dict)
    children: list[Field] = field(default_factory=list)


class Parser:
    def __init__(self, text: str, variables: dict[str, Any]) -> None:
        self.tokens = [t for t in _TOKEN.findall(text) if t.strip() and t != "," and not t.startswith("#")]
        self.pos = 0
        self.variables = variables

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise StandInError(f"GraphQL syntax: expected {expected!r}, got {token!r}")
        self.pos += 1
        return token

    def operation(self) -> tuple[str, list[Field]]:
        kind = "query"
        if self.peek() in ("query", "mutation"):
            kind = self.take()
            if self.peek() not in ("{", "("):
                self.take()  # operation name
            if self.peek() == "(":
                depth = 0
                while True:
                    token = self.take()
                    depth += token == "("
                    depth -= token == ")"
                    if depth == 0:
                        break
        return kind, self.selection()

    def selection(self) -> list[Field]:
        self.take("{")
        fields = []
        while self.peek() != "}":
            name = self.take()
            if self.peek() == ":":  # alias
                self.take()
                name = self.take()
            f = Field(name)
            if self.peek() == "(":
                self.take()
                while self.peek() != ")":
                    key = self.take()
                    self.take(":")
                    f.args[key] = self.value()
                self.take(")")
            if self.peek() == "{":
                f.children = self.selection()
            fields.append(f)
        self.take("}")
        return fields

    def value(self) -> Any:
        token = self.take()
        if token == "$":
            return self.variables.get(self.take())
        if token == "[":
            items = []
            while self.peek() != "]":
                items.append(self.value())
            self.take("]")
            return items
        if token == "{":
            obj = {}
            while self.peek() != "}":
                key = self.take()
                self.take(":")
                obj[key] = self.value()
            self.take("}")
            return obj
        if token.startswith('"'):
            return json.loads(token)
        if re.fullmatch(r"-?\d+", token):
            return int(token)
        if token in ("true", "false"):
            return token == "true"
        if token == "null":
            return None
        return token  # an enum value


def query_cost(fields: list[Field]) -> int:
    """Shopify's calculated cost: objects 1, scalars 0, connections 2 + first x (node cost)."""
    total = 0
    for f in fields:
        if not f.children:
            continue
        first = f.args.get("first")
        if isinstance(first, int):
            nodes = [c for c in f.children if c.name in ("nodes", "edges")]
            # A connection's node cost, or (a list with `first`, like Order.fulfillments) the item's.
            per_node = sum(1 + query_cost(n.children) for n in nodes) if nodes else 1 + query_cost(f.children)
            total += 2 + first * per_node
        elif f.name != "pageInfo":
            total += 1 + query_cost(f.children)
    return total
