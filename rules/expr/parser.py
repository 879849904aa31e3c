"""AST of the expression language and its recursive-descent parser (CEL precedence, lowest first):

c ? a : b   ||   &&   == != < <= > >= in   + -   * / %   ! - (unary)   .field .method() [index]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rules.errors import ExprError
from rules.expr.lexer import Token, tokenize

MAX_DEPTH = 64


@dataclass(frozen=True, slots=True)
class Node:
    offset: int


@dataclass(frozen=True, slots=True)
class Lit(Node):
    value: Any  # int, float, str, bool or None


@dataclass(frozen=True, slots=True)
class ListLit(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Name(Node):
    name: str


@dataclass(frozen=True, slots=True)
class Select(Node):
    target: Node
    field: str


@dataclass(frozen=True, slots=True)
class Index(Node):
    target: Node
    index: Node


@dataclass(frozen=True, slots=True)
class Call(Node):
    func: str
    args: tuple[Node, ...]
    method: bool  # written as args[0].func(args[1:])


@dataclass(frozen=True, slots=True)
class Unary(Node):
    op: str
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary(Node):
    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Cond(Node):
    test: Node
    then: Node
    other: Node


_RELATIONS = frozenset({"==", "!=", "<", "<=", ">", ">=", "in"})


def parse(text: str, col_of: Callable[[int], int] | None = None) -> Node:
    """Parse `text`; `col_of(offset)` gives the column shown in messages about an earlier token."""
    return _Parser(tokenize(text), col_of or (lambda off: off + 1)).parse()


class _Parser:
    def __init__(self, tokens: list[Token], col_of: Callable[[int], int]):
        self.toks = tokens
        self.pos = 0
        self.col_of = col_of
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.toks[self.pos]

    def at(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.value in ops

    def take(self) -> Token:
        t = self.tok
        self.pos += 1
        return t

    def expect(self, op: str, context: str) -> Token:
        if not self.at(op):
            raise ExprError(f"expected '{op}' {context}, found {self.tok.describe()}", self.tok.offset)
        return self.take()

    def parse(self) -> Node:
        if self.tok.kind == "eof":
            raise ExprError("empty expression", 0)
        node = self.cond()
        if self.tok.kind != "eof":
            raise ExprError(f"unexpected {self.tok.describe()} after a complete expression", self.tok.offset)
        return node

    def cond(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError("expression nested too deeply", self.tok.offset)
        test = self.logic_or()
        if self.at("?"):
            q = self.take()
            then = self.cond()
            self.expect(":", f"of the conditional '?' at col {self.col_of(q.offset)}")
            test = Cond(test.offset, test, then, self.cond())
        self.depth -= 1
        return test

    def logic_or(self) -> Node:
        left = self.logic_and()
        while self.at("||"):
            op = self.take()
            left = Binary(op.offset, "||", left, self.logic_and())
        return left

    def logic_and(self) -> Node:
        left = self.relation()
        while self.at("&&"):
            op = self.take()
            left = Binary(op.offset, "&&", left, self.relation())
        return left

    def relation(self) -> Node:
        left = self.additive()
        while self.tok.kind == "op" and self.tok.value in _RELATIONS:
            op = self.take()
            left = Binary(op.offset, op.value, left, self.additive())
        return left

    def additive(self) -> Node:
        left = self.multiplicative()
        while self.at("+", "-"):
            op = self.take()
            left = Binary(op.offset, op.value, left, self.multiplicative())
        return left

    def multiplicative(self) -> Node:
        left = self.unary()
        while self.at("*", "/", "%"):
            op = self.take()
            left = Binary(op.offset, op.value, left, self.unary())
        return left

    def unary(self) -> Node:
        if self.at("!", "-"):
            op = self.take()
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise ExprError("expression nested too deeply", op.offset)
            operand = self.unary()
            self.depth -= 1
            if op.value == "-" and isinstance(operand, Lit) and type(operand.value) in (int, float):
                return Lit(op.offset, -operand.value)  # a negative literal stays a literal
            return Unary(op.offset, op.value, operand)
        return self.postfix()

    def postfix(self) -> Node:
        node = self.primary()
        while True:
            if self.at("."):
                self.take()
                name = self.tok
                if name.kind != "ident":
                    raise ExprError(f"expected a field name after '.', found {name.describe()}", name.offset)
                self.take()
                if self.at("("):
                    args = self.arguments(name)
                    node = Call(name.offset, name.value, (node, *args), True)
                else:
                    node = Select(name.offset, node, name.value)
            elif self.at("["):
                open_ = self.take()
                index = self.cond()
                self.expect("]", f"to close '[' at col {self.col_of(open_.offset)}")
                node = Index(open_.offset, node, index)
            else:
                return node

    def arguments(self, name: Token) -> tuple[Node, ...]:
        open_ = self.take()
        args: list[Node] = []
        if not self.at(")"):
            args.append(self.cond())
            while self.at(","):
                self.take()
                args.append(self.cond())
        self.expect(")", f"to close '(' of {name.value}() at col {self.col_of(open_.offset)}")
        return tuple(args)

    def primary(self) -> Node:
        t = self.tok
        if t.kind in ("int", "float", "string", "const"):
            self.take()
            return Lit(t.offset, t.value)
        if t.kind == "ident":
            self.take()
            if self.at("("):
                return Call(t.offset, t.value, self.arguments(t), False)
            return Name(t.offset, t.value)
        if self.at("("):
            self.take()
            inner = self.cond()
            self.expect(")", f"to close '(' at col {self.col_of(t.offset)}")
            return inner
        if self.at("["):
            self.take()
            items: list[Node] = []
            if not self.at("]"):
                items.append(self.cond())
                while self.at(","):
                    self.take()
                    if self.at("]"):
                        break  # trailing comma
                    items.append(self.cond())
            self.expect("]", f"to close '[' at col {self.col_of(t.offset)}")
            return ListLit(t.offset, tuple(items))
        if t.kind == "eof":
            raise ExprError("unexpected end of expression", t.offset)
        raise ExprError(f"unexpected {t.describe()}", t.offset)
