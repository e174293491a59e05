"""Recursive-descent parser: tokens -> rules. Grammar (whitespace and ``#`` comments are free)::

program    := rule*
rule       := "rule" STRING ["priority" INTEGER] ":" "when" expr "then" action ("," action)*
action     := NAME "=" expr
expr       := and ("or" and)*
and        := not ("and" not)*
not        := "not" not | comparison
comparison := sum [("==" | "!=" | "<" | "<=" | ">" | ">=") sum | ["not"] "in" list]
sum        := product (("+" | "-") product)*
product    := unary (("*" | "/") unary)*
unary      := "-" unary | atom
atom       := NUMBER | STRING | "true" | "false" | NAME | "(" expr ")"
list       := "[" literal ("," literal)* [","] "]"
literal    := ["-"] NUMBER | STRING
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import NoReturn

from chimera.rules.errors import RuleError
from chimera.rules.lexer import Token, TokenKind, tokenize
from chimera.rules.tree import (
    Action,
    Binary,
    Boolean,
    Expr,
    Logic,
    Membership,
    Name,
    Number,
    Rule,
    String,
    Unary,
)

MAX_NESTING = 40
"""Parentheses / ``not`` / unary minus nested deeper than this are refused (bounds recursion)."""
MAX_TREE_DEPTH = 64
"""An expression tree deeper than this (e.g. a 100-term sum) is refused (bounds evaluation)."""
MAX_PRIORITY = 1_000_000
MAX_RULES = 1_000

_COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">="})


def parse(text: str) -> list[Rule]:
    """Return the rules of ``text`` in file order; raise a located RuleError on bad syntax."""
    return _Parser(tokenize(text)).program()


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self._tokens = tokens
        self._pos = 0
        self._nesting = 0

    # --- token helpers ------------------------------------------------------------------
    def _peek(self) -> Token:
        return self._tokens[self._pos]

    def _next(self) -> Token:
        token = self._tokens[self._pos]
        if token.kind is not TokenKind.END:
            self._pos += 1
        return token

    def _is(self, kind: TokenKind, text: str | None = None) -> bool:
        token = self._tokens[self._pos]
        return token.kind is kind and (text is None or token.text == text)

    def _keyword(self, word: str) -> bool:
        return self._is(TokenKind.KEYWORD, word)

    def _symbol(self, text: str) -> bool:
        return self._is(TokenKind.SYMBOL, text)

    def _expect(self, kind: TokenKind, text: str, what: str, hint: str | None = None) -> Token:
        if not self._is(kind, text):
            self._fail(f"expected {what}", hint)
        return self._next()

    def _fail(self, expected: str, hint: str | None = None) -> NoReturn:
        token = self._peek()
        raise RuleError(token.line, token.column, f"{expected}, found {token.describe()}", hint)

    def _enter(self, token: Token) -> None:
        self._nesting += 1
        if self._nesting > MAX_NESTING:
            raise RuleError(
                token.line, token.column, f"expression nested more than {MAX_NESTING} levels deep"
            )

    # --- rules --------------------------------------------------------------------------
    def program(self) -> list[Rule]:
        rules: list[Rule] = []
        while not self._is(TokenKind.END):
            if not self._keyword("rule"):
                self._fail("expected 'rule'", 'a rule starts with: rule "name" priority 10:')
            if len(rules) == MAX_RULES:
                token = self._peek()
                raise RuleError(token.line, token.column, f"more than {MAX_RULES} rules")
            rules.append(self._rule(len(rules)))
        return rules

    def _rule(self, index: int) -> Rule:
        start = self._next()
        if not self._is(TokenKind.STRING):
            self._fail("expected the rule's name in double quotes", 'rule "high vol" ...')
        name = self._next()
        priority = 0
        if self._keyword("priority"):
            self._next()
            priority = self._priority()
        self._expect(TokenKind.SYMBOL, ":", "':' after the rule header")
        self._expect(TokenKind.KEYWORD, "when", "'when' and a condition", "when natr > 0.8")
        condition = _bounded(self._expr())
        self._expect(
            TokenKind.KEYWORD,
            "then",
            "'then' and the rule's actions",
            "an operator may be missing, or write: then size_mult = 0.5",
        )
        actions = [self._action()]
        while self._symbol(","):
            self._next()
            actions.append(self._action())
        if not (self._keyword("rule") or self._is(TokenKind.END)):
            self._fail("expected ',' before another action or 'rule' to start the next rule")
        return Rule(
            name.text,
            priority,
            condition,
            tuple(actions),
            index,
            start.line,
            start.column,
            name.line,
            name.column,
        )

    def _priority(self) -> int:
        token = self._peek()
        if token.kind is not TokenKind.NUMBER or "." in token.text:
            self._fail(
                "expected a whole-number priority", f"priority is 0..{MAX_PRIORITY}; higher first"
            )
        value = int(token.text)
        if value > MAX_PRIORITY:
            raise RuleError(
                token.line, token.column, f"priority {value} is above the limit {MAX_PRIORITY}"
            )
        self._next()
        return value

    def _action(self) -> Action:
        if not self._is(TokenKind.NAME):
            self._fail("expected an action such as size_mult = 0.5")
        target = self._next()
        self._expect(TokenKind.SYMBOL, "=", f"'=' after {target.text}", "write: size_mult = 0.5")
        return Action(target.text, _bounded(self._expr()), target.line, target.column)

    # --- expressions --------------------------------------------------------------------
    def _expr(self) -> Expr:
        return self._logic("or", self._and)

    def _and(self) -> Expr:
        return self._logic("and", self._not)

    def _logic(self, word: str, parse_operand: Callable[[], Expr]) -> Expr:
        first = parse_operand()
        if not self._keyword(word):
            return first
        op = self._peek()
        operands = [first]
        while self._keyword(word):
            self._next()
            operands.append(parse_operand())
        return Logic(word, tuple(operands), op.line, op.column)

    def _not(self) -> Expr:
        if self._keyword("not"):
            token = self._next()
            self._enter(token)
            operand = self._not()
            self._nesting -= 1
            return Unary("not", operand, token.line, token.column)
        return self._comparison()

    def _comparison(self) -> Expr:
        left = self._sum()
        token = self._peek()
        if token.kind is TokenKind.SYMBOL and token.text in _COMPARISONS:
            self._next()
            node: Expr = Binary(token.text, left, self._sum(), token.line, token.column)
            after = self._peek()
            if after.kind is TokenKind.SYMBOL and after.text in _COMPARISONS:
                raise RuleError(
                    after.line,
                    after.column,
                    "comparisons cannot be chained",
                    "write 'a < b and b < c'",
                )
            return node
        if self._keyword("in"):
            self._next()
            return Membership(left, self._list(), False, token.line, token.column)
        if self._keyword("not") and self._tokens[self._pos + 1].text == "in":
            self._next()
            self._next()
            return Membership(left, self._list(), True, token.line, token.column)
        return left

    def _list(self) -> tuple[Number | String, ...]:
        self._expect(TokenKind.SYMBOL, "[", "'[' to open the list", 'regime in ["A", "B"]')
        items: list[Number | String] = []
        while not self._symbol("]"):
            items.append(self._literal())
            if not self._symbol(","):
                break
            self._next()
        self._expect(TokenKind.SYMBOL, "]", "',' or ']' in the list")
        return tuple(items)

    def _literal(self) -> Number | String:
        token = self._peek()
        if token.kind is TokenKind.STRING:
            self._next()
            return String(token.text, token.line, token.column)
        negative = self._symbol("-")
        if negative:
            self._next()
        if not self._is(TokenKind.NUMBER):
            self._fail("expected a string or number literal in the list")
        number = self._next()
        value = Decimal(number.text)
        return Number(-value if negative else value, token.line, token.column)

    def _sum(self) -> Expr:
        node = self._product()
        while self._symbol("+") or self._symbol("-"):
            op = self._next()
            node = Binary(op.text, node, self._product(), op.line, op.column)
        return node

    def _product(self) -> Expr:
        node = self._unary()
        while self._symbol("*") or self._symbol("/"):
            op = self._next()
            node = Binary(op.text, node, self._unary(), op.line, op.column)
        return node

    def _unary(self) -> Expr:
        if self._symbol("-"):
            token = self._next()
            self._enter(token)
            operand = self._unary()
            self._nesting -= 1
            return Unary("-", operand, token.line, token.column)
        return self._atom()

    def _atom(self) -> Expr:
        token = self._peek()
        kind = token.kind
        if kind is TokenKind.NUMBER:
            self._next()
            return Number(Decimal(token.text), token.line, token.column)
        if kind is TokenKind.STRING:
            self._next()
            return String(token.text, token.line, token.column)
        if kind is TokenKind.NAME:
            self._next()
            return Name(token.text, token.line, token.column)
        if kind is TokenKind.KEYWORD and token.text in ("true", "false"):
            self._next()
            return Boolean(token.text == "true", token.line, token.column)
        if kind is TokenKind.SYMBOL and token.text == "(":
            self._next()
            self._enter(token)
            inner = self._expr()
            self._nesting -= 1
            opened = f"line {token.line}, column {token.column}"
            self._expect(TokenKind.SYMBOL, ")", f"')' to close the '(' at {opened}")
            return inner
        hint = None
        if kind is TokenKind.KEYWORD:
            hint = f"'{token.text}' is a reserved word"
        self._fail("expected a value (number, string, true/false, identifier or '(')", hint)


def _bounded(expr: Expr) -> Expr:
    """Return ``expr`` unless its tree is deeper than MAX_TREE_DEPTH (walked without recursion)."""
    stack: list[tuple[Expr, int]] = [(expr, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_TREE_DEPTH:
            raise RuleError(
                node.line,
                node.column,
                f"expression is more than {MAX_TREE_DEPTH} levels deep",
                "split it into several rules",
            )
        if isinstance(node, Binary):
            stack += ((node.left, depth + 1), (node.right, depth + 1))
        elif isinstance(node, Logic):
            stack += ((operand, depth + 1) for operand in node.operands)
        elif isinstance(node, Unary | Membership):
            stack.append((node.operand, depth + 1))
    return expr
