"""AST of the expression language and its recursive-descent parser (CEL precedence, lowest first):

c ? a : b   ||   &&   == != < <= > >= in   + -   * / %   ! - (unary)   .field .method() [index]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rules.errors import ExprError
from rules.expr.lexer import Token, tokenize
from rules.expr.limits import MAX_DEPTH, MAX_LIST_LITERAL, shorten


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


# Binary operators by precedence (higher binds tighter); all are left-associative.
_PRECEDENCE = {
    "||": 1,
    "&&": 2,
    **dict.fromkeys(("==", "!=", "<", "<=", ">", ">=", "in"), 3),
    "+": 4,
    "-": 4,
    "*": 5,
    "/": 5,
    "%": 5,
}
_TOO_DEEP = f"expression nested too deeply (more than {MAX_DEPTH} levels; split it, or use 'in [...]')"


def parse(text: str, col_of: Callable[[int], int] | None = None) -> Node:
    """Parse `text`; `col_of(offset)` gives the column shown in messages about an earlier token.

    The parser recurses only on nesting ((...), [...], calls, '?:'), at most MAX_DEPTH levels and a fixed
    number of Python frames a level; chains (`a + b + c`, `!!x`, `a.b.c`) are loops. The tree is then
    measured without recursion, so that compiling and evaluating it (recursive, a few frames a level)
    stays far from Python's recursion limit."""
    node = _Parser(tokenize(text), col_of or (lambda off: off + 1)).parse()
    deep = _too_deep(node)
    if deep is not None:
        raise ExprError(_TOO_DEEP, deep.offset)
    return node


def children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, Select):
        return (node.target,)
    if isinstance(node, Index):
        return (node.target, node.index)
    if isinstance(node, Call | ListLit):
        return node.args if isinstance(node, Call) else node.items
    if isinstance(node, Cond):
        return (node.test, node.then, node.other)
    return ()


def _too_deep(root: Node) -> Node | None:
    """The first node found deeper than MAX_DEPTH levels, or None (an explicit stack, no recursion)."""
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return node
        stack.extend((child, depth + 1) for child in children(node))
    return None


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
            raise ExprError(_TOO_DEEP, self.tok.offset)
        test = self.binary(1)
        if self.at("?"):
            q = self.take()
            then = self.cond()
            self.expect(":", f"of the conditional '?' at col {self.col_of(q.offset)}")
            test = Cond(test.offset, test, then, self.cond())
        self.depth -= 1
        return test

    def binary(self, min_prec: int) -> Node:
        """Precedence climbing: recursion only towards tighter operators (at most 5 frames deep)."""
        left = self.unary()
        while self.tok.kind == "op" and _PRECEDENCE.get(self.tok.value, 0) >= min_prec:
            op = self.take()
            right = self.binary(_PRECEDENCE[op.value] + 1)
            left = Binary(op.offset, op.value, left, right)
        return left

    def unary(self) -> Node:
        ops: list[Token] = []
        while self.at("!", "-"):
            ops.append(self.take())
            if self.depth + len(ops) > MAX_DEPTH:
                raise ExprError(_TOO_DEEP, ops[-1].offset)
        self.depth += len(ops)
        node = self.postfix()
        self.depth -= len(ops)
        for op in reversed(ops):
            if op.value == "-" and isinstance(node, Lit) and type(node.value) in (int, float):
                node = Lit(op.offset, -node.value)  # a negative literal stays a literal
            else:
                node = Unary(op.offset, op.value, node)
        return node

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
        self.expect(")", f"to close '(' of {shorten(name.value)}() at col {self.col_of(open_.offset)}")
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
                    if len(items) == MAX_LIST_LITERAL:
                        raise ExprError(f"list literal longer than {MAX_LIST_LITERAL} items", t.offset)
                    items.append(self.cond())
            self.expect("]", f"to close '[' at col {self.col_of(t.offset)}")
            return ListLit(t.offset, tuple(items))
        if t.kind == "eof":
            raise ExprError("unexpected end of expression", t.offset)
        raise ExprError(f"unexpected {t.describe()}", t.offset)
