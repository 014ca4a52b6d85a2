"""Text as users type it and as terminals, Markdown and HTML read it: one canonical form for
what is stored (so look-alikes are one report) and one neutral form for what is shown (so no
control sequence reaches a terminal, a mail body or a page)."""

from __future__ import annotations

import html
import re
import reprlib
import unicodedata

# -- canonical form (what is stored, before any content id is computed) -----------------------

_LINE_BREAKS = re.compile("\r\n|[\r\u2028\u2029]")
_TRAILING = re.compile(r"[ \t]+$", re.MULTILINE)


def _space_or_drop(ch: str) -> str:
    cat = unicodedata.category(ch)
    if cat == "Zs":
        return " "  # no-break, narrow no-break, figure, ideographic spaces … -> a plain space
    if cat == "Cf":
        return ""  # zero-width space/joiners, word joiner, BOM, soft hyphen, bidi controls
    return ch


def canonical_text(value: str, *, single_line: bool = False) -> str:
    """NFC; every Unicode space a plain space; invisible format characters (zero-width spaces,
    BOM, soft hyphens, bidi controls) removed; CRLF, CR and Unicode line separators as LF;
    trailing spaces on every line and blank edges removed. `single_line` also folds every run of
    white space (line breaks included) into one space: names, sources, ids.
    Idempotent: canonical_text(canonical_text(s)) == canonical_text(s)."""
    s = unicodedata.normalize("NFC", value)
    if not s.isascii():
        s = "".join(_space_or_drop(ch) if not ch.isascii() else ch for ch in s)
        s = unicodedata.normalize("NFC", s)  # dropping a joiner can leave a composable pair
    s = _LINE_BREAKS.sub("\n", s)
    if single_line:
        return " ".join(s.split())
    s = _TRAILING.sub("", s)
    return s.strip()


# -- neutral form (what is shown) ----------------------------------------------------------

# C0 controls but tab and LF, DEL, C1 controls (ESC, CSI, OSC, ST …), and lone surrogates. CR is
# among them: on a terminal it returns the cursor and lets later text overwrite earlier text.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
# Invisible format characters that reorder or hide text on screen (Trojan-Source bidi controls).
_BIDI = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069\u061c]")


def _visible(m: re.Match[str]) -> str:
    ch = m.group()
    code = ord(ch)
    if code < 0x20:
        return "^" + chr(code + 0x40)  # caret notation: ESC -> ^[, CR -> ^M
    return f"\\u{code:04x}"


def neutral(value: object, *, newlines: bool = True) -> str:
    """`value` as text with every control character but tab and LF made visible (ESC -> ^[, CR -> ^M,
    C1 and bidi controls -> \\uXXXX): safe to print to a terminal or write into Markdown/HTML
    source. With `newlines=False`, LF and tab are shown as ^J and ^I too (one-line cells)."""
    s = str(value)
    s = _UNSAFE.sub(_visible, s)
    s = _BIDI.sub(_visible, s)
    if not newlines:
        s = s.replace("\n", "^J").replace("\t", "^I")
    return s


# What can make Markdown emit HTML or a link: a `<` that could open a tag or an autolink, an `&`
# that could start a character reference, link and image brackets, code spans, a `>` opening a
# block quote; a pipe ends a table cell. A backslash before any ASCII punctuation is a literal.
# A `>` elsewhere (`a -> b`) is inert and stays as written.
_MD_SPECIAL = re.compile(r"([\\`\[\]|])")
_MD_TAG = re.compile(r"<(?=[A-Za-z/!?])")
_MD_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")
_MD_QUOTE = re.compile(r"^(\s*)>", re.MULTILINE)


def markdown_text(value: object, *, newlines: bool = True) -> str:
    """User text for a Markdown document (or a mail body that may be read as one): neutralised,
    and what would make raw HTML (`<img onerror>`), entities, links (`[x](javascript:…)`,
    `<javascript:…>`), code spans or block quotes backslash-escaped. Reads as plain text (no
    `&lt;` entities); renders as the same text. `newlines=False` for table cells."""
    s = _MD_SPECIAL.sub(r"\\\1", neutral(value, newlines=newlines))
    s = _MD_ENTITY.sub(r"\\&", _MD_TAG.sub(r"\\<", s))
    return _MD_QUOTE.sub(r"\1\\>", s)


_JSON_RAW = re.compile("[\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u061c\u2028\u2029]")


def json_safe(text: str) -> str:
    """JSON text (json.dumps with ensure_ascii=False) with the characters it leaves raw but a
    terminal acts on (DEL, C1 controls, bidi controls, line separators) as \\u escapes: the same JSON."""
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def html_text(value: object) -> str:
    """User text for HTML: neutralised and fully escaped (quotes too)."""
    return html.escape(neutral(value), quote=True)


def plural(n: int, word: str, words: str | None = None) -> str:
    """`1 expert`, `2 experts`; `words` for an irregular plural (`hypothesis`, `hypotheses`)."""
    return f"{n} {word if n == 1 else (words or word + 's')}"


# A password in a store's URL: postgresql://user:PASSWORD@host/… (up to the last @ before the
# host: a password may hold an unescaped @) and ?password=… / &sslpassword=… in its query.
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^/\s]*@")
_QUERY_PASSWORD = re.compile(r"([?&;](?:ssl)?password=)[^&\s'\"]*", re.IGNORECASE)


def hide_secrets(text: str) -> str:
    """Text with every password of a database URL in it replaced by *** (issue 20): for `info`,
    every error line and anything else printed or recorded that may quote the store's address."""
    return _QUERY_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", text))


# -- excerpts (what an error message quotes of the input) --------------------------------------

EXCERPT = 80  # characters of input an error message quotes at most


def excerpt(text: object, limit: int = EXCERPT) -> str:
    """`text` for an error message: one line (control characters, line breaks and tabs shown),
    at most `limit` characters and, when cut, '…' and its full length. An error message never
    grows with its input: a huge cell or value is named by where it is and how it starts."""
    s = text if isinstance(text, str) else str(text)
    n = len(s)
    if n > limit:
        s = s[:limit]
    s = neutral(s, newlines=False)
    if n > limit:
        return f"{s[:limit]}… ({n:,} characters)"
    return s


_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxstring = _REPR.maxother = EXCERPT
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 6


def quoted(value: object, limit: int = EXCERPT) -> str:
    """repr(value) as an error message quotes it: a short value exactly as repr shows it; a long
    text as its start in quotes, '…' and its length; a big or deep list or mapping by its first
    items and levels (reprlib), never expanded whole."""
    if isinstance(value, str):
        if len(value) <= limit:
            return neutral(repr(value), newlines=False)
        return f"{neutral(repr(value[:limit]), newlines=False)[:-1]}…{repr(value)[0]} ({len(value):,} characters)"
    try:
        shown = _REPR.repr(value)
    except (RecursionError, ValueError):  # pragma: no cover - reprlib bounds depth already
        shown = f"<{type(value).__name__}>"
    return excerpt(shown, limit * 2)
