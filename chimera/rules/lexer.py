"""Turn rule text into tokens, each with its 1-based line and column."""

from __future__ import annotations

import enum

import msgspec

from chimera.rules.errors import RuleError

KEYWORDS = frozenset(
    {"rule", "priority", "when", "then", "and", "or", "not", "in", "true", "false"}
)
MAX_TEXT_CHARS = 200_000
MAX_NUMBER_DIGITS = 40

_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_DIGITS = frozenset("0123456789")
_WORD = _LETTERS | _DIGITS
_SPACE = frozenset(" \t\r\n")
_TWO_CHAR = frozenset({"==", "!=", "<=", ">="})
_ONE_CHAR = frozenset("<>+-*/()[],:=")
_ESCAPES = {'"': '"', "\\": "\\"}


class TokenKind(enum.Enum):
    """What a token is."""

    NUMBER = "number"
    STRING = "string"
    NAME = "identifier"
    KEYWORD = "keyword"
    SYMBOL = "symbol"
    END = "end of text"


class Token(msgspec.Struct, frozen=True):
    """One token: ``text`` is its value (a string literal's unescaped content)."""

    kind: TokenKind
    text: str
    line: int
    column: int

    def describe(self) -> str:
        """Return how an error message names this token."""
        if self.kind is TokenKind.END:
            return "the end of the text"
        if self.kind is TokenKind.STRING:
            return f'string "{self.text}"'
        return f"'{self.text}'"


def is_identifier(text: str) -> bool:
    """Tell whether ``text`` is an ASCII identifier (letters, digits, ``_``; no leading digit)."""
    return bool(text) and text[0] in _LETTERS and all(ch in _WORD for ch in text)


def tokenize(text: str) -> list[Token]:
    """Return the tokens of ``text`` ending with an END token; raise a located RuleError."""
    if len(text) > MAX_TEXT_CHARS:
        raise RuleError(1, 1, f"rule text is {len(text)} characters; the limit is {MAX_TEXT_CHARS}")
    tokens: list[Token] = []
    pos, line, line_start, size = 0, 1, 0, len(text)
    while pos < size:
        ch = text[pos]
        column = pos - line_start + 1
        if ch in _SPACE:
            if ch == "\n":
                line, line_start = line + 1, pos + 1
            pos += 1
        elif ch == "#":
            while pos < size and text[pos] != "\n":
                pos += 1
        elif ch in _LETTERS:
            end = pos + 1
            while end < size and text[end] in _WORD:
                end += 1
            word = text[pos:end]
            kind = TokenKind.KEYWORD if word in KEYWORDS else TokenKind.NAME
            tokens.append(Token(kind, word, line, column))
            pos = end
        elif ch in _DIGITS:
            pos = _number(text, pos, line, column, tokens)
        elif ch == '"':
            pos = _string(text, pos, line, column, tokens)
        elif text[pos : pos + 2] in _TWO_CHAR:
            tokens.append(Token(TokenKind.SYMBOL, text[pos : pos + 2], line, column))
            pos += 2
        elif ch in _ONE_CHAR:
            tokens.append(Token(TokenKind.SYMBOL, ch, line, column))
            pos += 1
        else:
            hint = "use '!=' for 'not equal'" if ch == "!" else None
            if ch in "'`":
                hint = 'strings are written in double quotes: "EXTREME"'
            elif ch == "&" or ch == "|":
                hint = "write 'and' / 'or'"
            raise RuleError(line, column, f"unexpected character {ch!r}", hint)
    tokens.append(Token(TokenKind.END, "", line, pos - line_start + 1))
    return tokens


def _number(text: str, pos: int, line: int, column: int, tokens: list[Token]) -> int:
    end, size = pos, len(text)
    while end < size and text[end] in _DIGITS:
        end += 1
    if end < size and text[end] == ".":
        end += 1
        if end >= size or text[end] not in _DIGITS:
            raise RuleError(
                line, column + end - pos, "expected digits after the decimal point", "write 1.0"
            )
        while end < size and text[end] in _DIGITS:
            end += 1
    if end < size and text[end] in _LETTERS:
        raise RuleError(
            line,
            column + end - pos,
            f"unexpected {text[end]!r} right after the number {text[pos:end]}",
            "numbers are plain decimals such as 0.5 (no exponents or units)",
        )
    if end - pos > MAX_NUMBER_DIGITS:
        raise RuleError(line, column, f"number has more than {MAX_NUMBER_DIGITS} digits")
    tokens.append(Token(TokenKind.NUMBER, text[pos:end], line, column))
    return end


def _string(text: str, pos: int, line: int, column: int, tokens: list[Token]) -> int:
    chars: list[str] = []
    end, size = pos + 1, len(text)
    while True:
        if end >= size or text[end] == "\n":
            raise RuleError(line, column, "unterminated string", 'close it with " on the same line')
        ch = text[end]
        if ch == '"':
            break
        if ch == "\\":
            escaped = text[end + 1] if end + 1 < size else ""
            if escaped not in _ESCAPES:
                raise RuleError(
                    line,
                    column + end - pos,
                    f"unknown escape \\{escaped}" if escaped else "unknown escape \\",
                    'only \\" and \\\\ are escapes',
                )
            chars.append(_ESCAPES[escaped])
            end += 2
            continue
        chars.append(ch)
        end += 1
    tokens.append(Token(TokenKind.STRING, "".join(chars), line, column))
    return end + 1
