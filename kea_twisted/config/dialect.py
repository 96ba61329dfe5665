"""
Kea's JSON dialect, reduced to JSON that commentjson's grammar reads.

Kea's configuration lexer (``src/bin/dhcp4/dhcp4_lexer.ll`` at Kea-2.2.0)
accepts more than JSON:

* comments: ``# ...`` and ``// ...`` to the end of the line, ``/* ... */``
  over several lines (an unclosed one is ``Comment not closed. (/* in line
  N`` -- Kea's text, parenthesis unbalanced as Kea prints it);
* ``<?include "path"?>`` anywhere a token may stand: the file's text is read
  in its place.  Kea 2.2 opens ``path`` as written, that is relative to the
  process's working directory, and names positions inside it with the path as
  written [obs: ``kea-dhcp4 -t sub/top.json`` from ``/tmp`` fails with
  ``Can't open include file inc.json``, from ``sub/`` it works].  We first
  try the including file's directory (the brief: configurations read from
  ``/etc/kea`` with a relative include then work whatever the working
  directory), then the working directory as Kea does.  Kea allows 11 nested
  includes (``Too many nested include.`` beyond); a loop is detected at once
  and reported with the same words Kea ends up printing;
* extra commas: ``[1,,2]`` and ``{"a": 1,,}`` are accepted with a warning
  (``Extraneous comma``); commentjson takes one trailing comma, so runs of
  commas are reduced to one here;
* numbers such as ``.5``, ``-.5``, ``+5``, ``5.`` and ``1e5`` (lark's
  ``SIGNED_NUMBER``, which commentjson uses, already reads them).

The pre-pass never changes where a character stands: comments and surplus
commas become spaces (newlines kept), so a position in the output maps back
to the file, line and column it came from through :class:`SourceMap`.
Included text is spliced in and mapped back to the included file.

Text is handled as Latin-1 decoded bytes so that one character is one byte:
Kea's columns count bytes (flex ``yyleng``), and so do ours.

Tests: tests/test_config_loader.py, tests/test_hostile_config.py
"""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

from kea_twisted.config.errors import ConfigError

__all__ = [
    "MAX_INCLUDE_DEPTH",
    "MAX_CONFIG_SIZE",
    "MAX_NESTING",
    "Chunk",
    "SourceMap",
    "Prepared",
    "prepare_text",
    "prepare_file",
    "read_source",
]

#: Kea 2.2 refuses an include when 11 included files are already open
#: (``Parser4Context::includeFile``: ``states_.size() > 10``).
MAX_INCLUDE_DEPTH = 11

#: The most configuration text (a file and all it includes) read at once.
#: Kea 2.2 reads any size; ours is parsed on the reactor thread (about a
#: second per megabyte), so a reload of a 100 MB file would stop DHCP for
#: minutes: refuse beyond this, before reading.
MAX_CONFIG_SIZE = 64 * 1024 * 1024

#: Kea 2.2 reads any depth (a 20,000-deep list passes ``-t``); Python walks
#: the tree with its own stack, so we refuse deeper than this, cleanly.
MAX_NESTING = 200


@dataclass(frozen=True)
class Chunk:
    """A run of the output copied from one file, starting at ``line.col``."""

    out_start: int
    file: str
    line: int
    col: int


class SourceMap:
    """Maps an offset in the prepared text back to (file, line, col)."""

    def __init__(self, text: str, chunks: Sequence[Chunk]):
        self._chunks = list(chunks)
        self._starts = [c.out_start for c in self._chunks]
        self._line_starts = [0]
        find = text.find
        i = find("\n")
        while i != -1:
            self._line_starts.append(i + 1)
            i = find("\n", i + 1)
        self.end = len(text)

    def _out_line(self, offset: int) -> int:
        return bisect.bisect_right(self._line_starts, offset) - 1

    def locate(self, offset: int) -> Tuple[str, int, int]:
        """The file, 1-based line and 1-based column of ``offset``."""
        index = max(0, bisect.bisect_right(self._starts, offset) - 1)
        chunk = self._chunks[index]
        first = self._out_line(chunk.out_start)
        here = self._out_line(offset)
        if here == first:
            return chunk.file, chunk.line, chunk.col + (offset - chunk.out_start)
        return chunk.file, chunk.line + (here - first), offset - self._line_starts[here] + 1


@dataclass
class Prepared:
    """The pre-pass result: JSON text for commentjson, and its map back."""

    text: str
    source_map: SourceMap
    #: (file, line, col, message) of Kea's syntax warnings (extra commas).
    warnings: List[Tuple[str, int, int, str]]


def _too_large(path: str, size: int) -> ConfigError:
    return ConfigError(f"configuration file {path} is too large: {size} bytes, at most {MAX_CONFIG_SIZE} "
                       "are read", syntax=True)


def read_source(path: str) -> str:
    """A file's bytes as Latin-1 text (one character per byte); a file
    larger than :data:`MAX_CONFIG_SIZE` is refused before it is read."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size > MAX_CONFIG_SIZE:
            raise _too_large(path, size)
        # A file that grows while being read (or a FIFO) is cut at the limit.
        data = f.read(MAX_CONFIG_SIZE + 1)
        if len(data) > MAX_CONFIG_SIZE:
            raise _too_large(path, len(data))
        return data.decode("latin-1")


Opener = Callable[[str], str]


class _Scanner:
    def __init__(self, opener: Opener):
        self.opener = opener
        self.out: List[str] = []
        self.out_len = 0
        self.chunks: List[Chunk] = []
        self.commas: List[Tuple[str, int, int]] = []
        self.depth = 0
        self.total = 0

    def emit(self, s: str) -> None:
        self.out.append(s)
        self.out_len += len(s)

    def scan(self, text: str, filename: str, stack: Tuple[str, ...]) -> None:
        """Copy ``text`` (from ``filename``) to the output, blanking comments
        and splicing includes; ``stack`` holds the files being included."""
        # Includes can multiply a file under the limit (a file included by
        # many others): the limit is on everything read.
        self.total += len(text)
        if self.total > MAX_CONFIG_SIZE:
            raise _too_large(filename, self.total)
        n = len(text)
        i = 0
        line, col = 1, 1  # position of text[i]
        seg_start = 0  # start of the current unflushed run of text
        buf: List[str] = []  # the run being copied, already rewritten

        def flush() -> None:
            if buf:
                self.emit("".join(buf))
                buf.clear()

        self.chunks.append(Chunk(self.out_len, filename, 1, 1))
        last_sig = ""  # last significant character copied (for extra commas)
        while i < n:
            c = text[i]
            if c == '"':
                # A string: copied as is; it ends at the closing quote or at
                # the end of the line (Kea's strings never hold a newline).
                j = i + 1
                while j < n:
                    d = text[j]
                    if d == "\\" and j + 1 < n and text[j + 1] != "\n":
                        j += 2
                        continue
                    if d == '"' or d == "\n":
                        break
                    j += 1
                if j < n and text[j] == '"':
                    j += 1
                buf.append(text[i:j])
                col += j - i
                i = j
                last_sig = '"'
                continue
            if c == "#" or (c == "/" and text.startswith("//", i)):
                j = text.find("\n", i)
                if j == -1:
                    j = n
                buf.append(" " * (j - i))
                col += j - i
                i = j
                continue
            if c == "/" and text.startswith("/*", i):
                j = text.find("*/", i + 2)
                if j == -1:
                    raise ConfigError(f"Comment not closed. (/* in line {line}", syntax=True)
                body = text[i : j + 2]
                buf.append("".join("\n" if ch == "\n" else " " for ch in body))
                nl = body.count("\n")
                if nl:
                    line += nl
                    col = len(body) - body.rfind("\n")
                else:
                    col += len(body)
                i = j + 2
                continue
            if c == "<" and text.startswith("<?", i):
                path, end = self._directive(text, i, filename, line, col)
                flush()
                self._include(path, filename, stack)
                # the rest of this file, from just after "?>"
                skipped = text[i:end]
                nl = skipped.count("\n")
                if nl:
                    line += nl
                    col = len(skipped) - skipped.rfind("\n")
                else:
                    col += len(skipped)
                i = end
                self.chunks.append(Chunk(self.out_len, filename, line, col))
                last_sig = "?"
                continue
            if c == ",":
                if last_sig == ",":
                    buf.append(" ")
                    self.commas.append((filename, line, col))
                else:
                    buf.append(",")
                last_sig = ","
                i += 1
                col += 1
                continue
            if c == "\n":
                line += 1
                col = 1
                buf.append(c)
                i += 1
                continue
            if c in "[{":
                self.depth += 1
                if self.depth > MAX_NESTING:
                    raise ConfigError(
                        f"configuration nested deeper than {MAX_NESTING} levels",
                        syntax=True,
                        location=f"{filename}:{line}.{col}",
                    )
            elif c in "]}":
                self.depth -= 1
            if c not in " \t\r":
                last_sig = c
            buf.append(c)
            i += 1
            col += 1
        flush()

    def _directive(self, text: str, i: int, filename: str, line: int, col: int) -> Tuple[str, int]:
        """Parse ``<?include "path"?>`` starting at ``text[i]``; return the
        path and the offset just past ``?>``."""
        n = len(text)
        j = i + 2

        def skip_blank(k: int) -> int:
            while k < n and text[k] in " \t\r\n":
                k += 1
            return k

        def bad(k: int) -> ConfigError:
            if k >= n:
                return ConfigError("Directive not closed.", syntax=True)
            # Kea: the lexer's catch-all rule, at the offending character.
            before = text[i:k]
            nl = before.count("\n")
            ln = line + nl
            cl = (len(before) - before.rfind("\n")) if nl else col + len(before)
            return ConfigError(
                f"Invalid character: {text[k]}", syntax=True, location=f"{filename}:{ln}.{cl}"
            )

        j = skip_blank(j)
        if not text.startswith("include", j):
            raise bad(j)
        j = skip_blank(j + len("include"))
        if j >= n or text[j] != '"':
            raise bad(j)
        k = j + 1
        while k < n and text[k] not in '"\n':
            k += 1
        if k >= n or text[k] != '"' or k == j + 1:
            raise bad(k if k < n else j)
        path = text[j + 1 : k]
        k = skip_blank(k + 1)
        if not text.startswith("?>", k):
            raise bad(k)
        return path, k + 2

    def _include(self, path: str, including: str, stack: Tuple[str, ...]) -> None:
        if len(stack) - 1 >= MAX_INCLUDE_DEPTH:
            raise ConfigError("Too many nested include.", syntax=True)
        for name in _include_candidates(path, including):
            key = os.path.realpath(name)
            if key in stack:
                # Kea would recurse until its depth limit and print this.
                raise ConfigError("Too many nested include.", syntax=True)
            try:
                text = self.opener(name)
            except (OSError, ValueError):
                continue
            self.scan(text, name, stack + (key,))
            return
        raise ConfigError(f"Can't open include file {path}", syntax=True)


def _include_candidates(path: str, including: str) -> List[str]:
    """The files an include may name, in order: beside the including file,
    then as written (Kea 2.2: relative to the working directory)."""
    base = os.path.dirname(including)
    if os.path.isabs(path) or including.startswith(("<", "\0")) or not base:
        return [path]
    return [os.path.join(base, path), path]


def _prepare(text: str, filename: str, stack: Tuple[str, ...], opener: Opener) -> Prepared:
    scanner = _Scanner(opener)
    scanner.scan(text, filename, stack)
    out = "".join(scanner.out)
    warnings = [
        (f, ln, cl, "Extraneous comma. A piece of configuration may have been omitted.")
        for (f, ln, cl) in scanner.commas
    ]
    return Prepared(out, SourceMap(out, scanner.chunks), warnings)


def prepare_text(text: str, filename: str = "<string>", opener: Optional[Opener] = None) -> Prepared:
    """Pre-pass over ``text`` (Latin-1 decoded bytes: see the module doc)."""
    return _prepare(text, filename, ("\0" + filename,), opener or read_source)


def prepare_file(path: str, opener: Optional[Opener] = None) -> Prepared:
    """Pre-pass over the file ``path``; a missing file is Kea's
    ``Unable to open file <path>``."""
    opener = opener or read_source
    try:
        text = opener(path)
    except (OSError, ValueError):
        raise ConfigError(f"Unable to open file {path}", syntax=True) from None
    return _prepare(text, path, (os.path.realpath(path),), opener)
