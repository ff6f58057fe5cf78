"""Child process that parses one uploaded PDF and prints a JSON verdict on stdout.

Run only by ``tracker.documents.inspection`` as a script (``python -I <this file> PATH MEMORY CPU MAX_OBJECTS``),
never imported by the application: a hostile PDF can make a parser spin or allocate without bound, so the
parsing happens here, under an address-space and CPU limit, and the parent kills us after its time limit.
Running the file as a script (not ``-m tracker...``) keeps Flask and the application out of this process.

Verdicts: ``{"verdict": "ok", "pages": N}``, or ``damaged``, ``encrypted``, ``active``, ``embedded``,
``too_complex``, ``memory``. Anything else (no output, a crash, a signal) is a failure for the parent.

What is refused, and why (the same PDF may later be appended to a signed dossier sent to the DGFiP, so
anything that runs, phones home or carries a hidden payload must not get in):

* ``active``: JavaScript (``/JS`` keys, ``/S /JavaScript`` actions, the ``/Names`` → ``/JavaScript`` tree),
  ``/Launch`` (runs a program), ``/SubmitForm`` and ``/ImportData`` (send or load data), ``/RichMediaExecute``
  and ``/RichMedia`` annotations (Flash), ``/XFA`` forms (they carry their own scripts, invisible to the
  ``/JS`` check). In automatic triggers (the catalog's ``/OpenAction`` and every ``/AA``, including their
  ``/Next`` chains) only ``/GoTo`` and ``/Named`` are accepted: a ``/URI`` or ``/GoToR`` fired on opening
  contacts a server or a network share (NTLM hash leak) without a click. Clicked links (``/URI``,
  ``/GoTo``, ``/GoToR``) stay accepted: ordinary exported documents have them.
* ``embedded``: attached files (``/EF`` file specifications, the ``/EmbeddedFiles`` tree, ``/FileAttachment``
  annotations, ``/EmbeddedFile`` streams): an opaque payload that would bypass the content checks.

Both a raw scan of the bytes (names normalised for ``#xx`` escapes, catches objects outside the cross-reference
table) and a walk over every parsed object (catches objects inside compressed object streams) are done.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import sys
import warnings
from pathlib import Path

from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject

# Acrobat looks for the end-of-file marker in the last 1024 bytes; a file cut in the middle has none there.
EOF_WINDOW = 1024
# Direct containers (dictionaries and arrays inside objects) are counted against a larger budget.
DIRECT_PER_INDIRECT = 10

RAW_ACTIVE_NAMES = frozenset(
    {b"JavaScript", b"JS", b"Launch", b"SubmitForm", b"ImportData", b"RichMediaExecute", b"XFA"}
)
ACTIVE_KEYS = frozenset({"/JS", "/JavaScript", "/XFA", "/RichMediaContent", "/RichMediaSettings"})
ACTIVE_ACTIONS = frozenset({"/JavaScript", "/Launch", "/SubmitForm", "/ImportData", "/RichMediaExecute"})
ACTIVE_SUBTYPES = frozenset({"/RichMedia"})
EMBEDDED_KEYS = frozenset({"/EF", "/EmbeddedFiles"})
EMBEDDED_TYPES = frozenset({"/FileAttachment", "/EmbeddedFile"})
AUTOMATIC_SAFE_ACTIONS = frozenset({"/GoTo", "/Named"})
# A /Next chain longer than this on an automatic trigger is itself suspicious.
MAX_ACTION_CHAIN = 100

# A PDF name: a slash then regular characters (PDF 32000-1, 7.2.2: whitespace and delimiters end it).
_REGULAR = rb"[^\x00\t\n\x0c\r ()<>\[\]{}/%]"
_PLAIN_ACTIVE_NAME = re.compile(
    rb"/(?:" + b"|".join(sorted(RAW_ACTIVE_NAMES, key=len, reverse=True)) + rb")(?!" + _REGULAR + rb")"
)
_ESCAPED_NAME = re.compile(rb"/(" + _REGULAR + rb"*#" + _REGULAR + rb"*)")
_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")


class TooComplex(Exception):
    """More objects than the budget allows."""


def raw_scan_is_active(data: bytes) -> bool:
    """Whether the bytes hold a dangerous name token, ``#xx`` escapes decoded (``/J#61vaScript``)."""
    if _PLAIN_ACTIVE_NAME.search(data):
        return True
    for match in _ESCAPED_NAME.finditer(data):
        name = _NAME_ESCAPE.sub(lambda escape: bytes([int(escape.group(1), 16)]), match.group(1))
        if name in RAW_ACTIVE_NAMES:
            return True
    return False


def _resolve(value: object) -> object:
    if isinstance(value, IndirectObject):
        return value.get_object()
    return value


def _name(value: object) -> str | None:
    value = _resolve(value)
    return str(value) if isinstance(value, NameObject) else None


def _automatic_action_is_unsafe(action: object) -> bool:
    """An action fired without a click: only /GoTo and /Named are harmless there."""
    pending = [action]
    steps = 0
    while pending:
        steps += 1
        if steps > MAX_ACTION_CHAIN:
            return True
        current = _resolve(pending.pop())
        if isinstance(current, ArrayObject):
            # A destination array (page, fit mode) or a list of /Next actions.
            pending.extend(item for item in list.__iter__(current) if isinstance(_resolve(item), DictionaryObject))
            continue
        if not isinstance(current, DictionaryObject):
            continue  # a named destination or null
        action_type = _name(dict.get(current, "/S"))
        if action_type is not None and action_type not in AUTOMATIC_SAFE_ACTIONS:
            return True
        if "/Next" in current:
            pending.append(dict.__getitem__(current, "/Next"))
    return False


def _dictionary_finding(dictionary: DictionaryObject) -> str | None:
    keys = set(dict.keys(dictionary))
    if keys & ACTIVE_KEYS:
        return "active"
    if _name(dict.get(dictionary, "/S")) in ACTIVE_ACTIONS:
        return "active"
    subtype = _name(dict.get(dictionary, "/Subtype"))
    if subtype in ACTIVE_SUBTYPES:
        return "active"
    if "/AA" in keys:
        triggers = _resolve(dict.__getitem__(dictionary, "/AA"))
        if isinstance(triggers, DictionaryObject) and any(
            _automatic_action_is_unsafe(action) for action in dict.values(triggers)
        ):
            return "active"
    if keys & EMBEDDED_KEYS or subtype in EMBEDDED_TYPES or _name(dict.get(dictionary, "/Type")) in EMBEDDED_TYPES:
        return "embedded"
    return None


def _object_references(reader: PdfReader, max_objects: int) -> list[IndirectObject]:
    """Every object the cross-reference tables list, reachable or not, including compressed ones."""
    listed = sum(len(table) for table in reader.xref.values()) + len(reader.xref_objStm)
    if listed > max_objects:
        raise TooComplex
    references = [
        IndirectObject(number, generation, reader)
        for generation, table in reader.xref.items()
        for number in table
        if number != 0
    ]
    references.extend(IndirectObject(number, 0, reader) for number in reader.xref_objStm)
    return references


def walk_finding(reader: PdfReader, max_objects: int) -> str | None:
    """Visit the trailer, the catalog and every listed object; return the worst finding."""
    root = _resolve(dict.get(reader.trailer, "/Root"))
    if (
        isinstance(root, DictionaryObject)
        and "/OpenAction" in root
        and _automatic_action_is_unsafe(dict.__getitem__(root, "/OpenAction"))
    ):
        return "active"
    pending: list[object] = [reader.trailer, *_object_references(reader, max_objects)]
    seen: set[tuple[int, int]] = set()
    indirect_count = 0
    direct_count = 0
    embedded = False
    while pending:
        item = pending.pop()
        if isinstance(item, IndirectObject):
            key = (item.idnum, item.generation)
            if key in seen:
                continue
            seen.add(key)
            indirect_count += 1
            if indirect_count > max_objects:
                raise TooComplex
            item = item.get_object()
        else:
            direct_count += 1
            if direct_count > max_objects * DIRECT_PER_INDIRECT:
                raise TooComplex
        if isinstance(item, DictionaryObject):  # stream objects are dictionaries too
            finding = _dictionary_finding(item)
            if finding == "active":
                return finding
            embedded = embedded or finding == "embedded"
            pending.extend(value for value in dict.values(item) if isinstance(value, (IndirectObject, dict, list)))
        elif isinstance(item, ArrayObject):
            pending.extend(value for value in list.__iter__(item) if isinstance(value, (IndirectObject, dict, list)))
    return "embedded" if embedded else None


def _failure(error: BaseException) -> dict[str, object]:
    """A parse error means a damaged file, unless memory ran out somewhere along the way: pypdf wraps some
    errors, and a module it imports lazily fails with ImportError or OSError when it cannot be mapped."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, (MemoryError, ImportError, OSError)):
            return {"verdict": "memory"}
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return {"verdict": "damaged"}


def analyse(path: str, max_objects: int) -> dict[str, object]:
    data = Path(path).read_bytes()
    if not data.startswith(b"%PDF-") or b"%%EOF" not in data[-EOF_WINDOW:]:
        return {"verdict": "damaged"}
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        encrypted = reader.is_encrypted
    except Exception as error:
        return _failure(error)
    if encrypted:
        return {"verdict": "encrypted"}
    if raw_scan_is_active(data):
        return {"verdict": "active"}
    try:
        page_count = len(reader.pages)
        finding = walk_finding(reader, max_objects)
    except TooComplex:
        return {"verdict": "too_complex"}
    except Exception as error:
        # Includes RecursionError (page tree loops): an object a viewer might read but we cannot is
        # refused rather than skipped, so a parser difference cannot hide an action from us.
        return _failure(error)
    if finding is not None:
        return {"verdict": finding}
    if page_count < 1:
        return {"verdict": "damaged"}
    return {"verdict": "ok", "pages": page_count}


def _limit_resources(memory_bytes: int, cpu_seconds: int) -> None:
    try:
        import resource
    except ImportError:  # not a POSIX system: only the parent's time limit applies
        return
    limits = (
        (resource.RLIMIT_AS, (memory_bytes, memory_bytes)),
        # SIGXCPU at the soft limit, SIGKILL at the hard one: a safety net if the parent died.
        (resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1)),
    )
    for limit, values in limits:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(limit, values)


def main(argv: list[str]) -> int:
    path, memory_bytes, cpu_seconds, max_objects = argv[1], int(argv[2]), int(argv[3]), int(argv[4])
    # pypdf reports oddities through logging and warnings; a hostile file could make them huge.
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    out_of_memory = json.dumps({"verdict": "memory"}).encode()  # prepared while memory is still there
    _limit_resources(memory_bytes, cpu_seconds)
    try:
        output = json.dumps(analyse(path, max_objects)).encode()
    except MemoryError:
        output = out_of_memory
    os.write(sys.stdout.fileno(), output)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
