"""Sampling profiles of the running server with py-spy, summarised as hot spots.

py-spy samples the server process from outside (no code in `src/` changes, no tracing
overhead in the server's own loop). `record` writes py-spy's raw format: one line per
distinct stack, `thread;outer (file:line);...;inner (file:line) count`. `hot_spots` turns that
into two rankings that answer "where does the time go":

- self time, per function (the hottest line inside it named), across all code: shows the
  leaves that burn CPU (TLS, JSON, SQLite, the logging module, the event loop itself);
- inclusive time, per function of this project (`kube/`), excluding the event-loop frames:
  shows which request-handling step those leaves belong to.

Shares are of all non-idle samples of all threads, so a figure reads "x % of the CPU the
server spent while the scenario ran" (idle threads waiting in epoll or a queue are left out
by py-spy).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PY_SPY = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*):(?P<line>\d+)\)$")
PROJECT = "kube/"
OUTERMOST = "kube/cli/"  # `kube server` and the supervisor: under every event-loop sample
SAMPLE_RATE = 200


# Where a sample's time goes, by the innermost frame that matches (file prefix, or a function
# name part for the socket transport whose file also holds the event loop): so a deepcopy inside
# the field manager counts as managedFields, a socket send under TLS as TLS + socket I/O.
CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("TLS + socket I/O", ("ssl.py", "asyncio/sslproto.py", "_SelectorSocketTransport")),
    ("request log", ("logging/",)),
    ("authentication", ("kube/auth/",)),
    (
        "managedFields",
        ("kube/api/fieldmanager.py", "kube/api/fieldpath.py", "kube/apiserver/managedfields.py"),
    ),
    (
        "defaulting + validation",
        ("kube/api/defaults/", "kube/api/validation/", "kube/api/unknownfields.py"),
    ),
    ("patch", ("kube/api/patch.py", "kube/api/strategicpatch.py", "kube/api/patchmeta.py")),
    ("watch cache", ("kube/apiserver/watchcache.py",)),
    ("storage (SQLite)", ("kube/storage/",)),
    (
        "encode/decode",
        (
            "kube/codec/",
            "kube/apiserver/negotiation.py",
            "ObjectStore.decode",
            "ObjectStore.encode",
        ),
    ),
    ("other kube code", ("kube/",)),
    ("HTTP + event loop", ("aiohttp/", "asyncio/", "selectors.py", "threading.py", "queue.py")),
]


def category(frames: list[tuple[str, str, int]]) -> str:
    """The first category, innermost frame first, that a stack belongs to."""
    for func, file, _ in reversed(frames):
        for name, marks in CATEGORIES:
            if any(file.startswith(m) or m in func for m in marks):
                return name
    return "other"


def available() -> bool:
    return PY_SPY is not None


@contextmanager
def record(pid: int, out: Path, rate: int = SAMPLE_RATE) -> Iterator[Path]:
    """Sample `pid` while the block runs; on exit py-spy is stopped with SIGINT and flushes."""
    if PY_SPY is None:
        raise RuntimeError("py-spy is not installed: .venv/bin/pip install py-spy")
    command = [PY_SPY, "record", "--pid", str(pid), "--format", "raw", "--threads"]
    command += ["--rate", str(rate), "--nonblocking", "--output", str(out)]
    with out.with_suffix(".log").open("w") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=log)
    time.sleep(0.5)  # let py-spy attach before the measured work starts
    try:
        yield out
    finally:
        os.kill(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def _short(path: str) -> str:
    for marker in ("site-packages/", "/src/", "lib/python3.11/", "lib/python3.12/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def _parse(line: str) -> tuple[list[str], int] | None:
    stack, _, count = line.rstrip("\n").rpartition(" ")
    if not stack or not count.isdigit():
        return None
    return stack.split(";"), int(count)


def _frame(frame: str) -> tuple[str, str, int] | None:
    match = FRAME.match(frame)
    if match is None:
        return None
    return match["func"], _short(match["file"]), int(match["line"])


def _thread_name(frame: str) -> str:
    # py-spy --threads roots every stack with `thread (<tid>): <name>`.
    return frame.split(": ", 1)[-1].strip()


def hot_spots(raw: Path, top: int = 10) -> dict[str, object]:
    """Self-time and inclusive-time rankings from a py-spy raw file (see the module doc)."""
    total = 0
    self_fn: Counter[tuple[str, str]] = Counter()
    self_line: Counter[tuple[str, str, int]] = Counter()
    incl_fn: Counter[tuple[str, str]] = Counter()
    incl_line: Counter[tuple[str, str, int]] = Counter()
    threads: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    for text in raw.read_text().splitlines():
        parsed = _parse(text)
        if parsed is None:
            continue
        frames, count = parsed
        total += count
        named = [f for f in (_frame(x) for x in frames) if f is not None]
        roots = [x for x in frames if x.startswith("thread (")]
        threads[_thread_name(roots[0]) if roots else "unattributed"] += count
        categories[category(named)] += count
        if named:
            func, file, line = named[-1]
            self_fn[(func, file)] += count
            self_line[(func, file, line)] += count
        seen: set[tuple[str, str]] = set()
        for func, file, line in named:
            if not file.startswith(PROJECT) or file.startswith(OUTERMOST):
                continue
            if (func, file) in seen:
                continue
            seen.add((func, file))
            incl_fn[(func, file)] += count
            incl_line[(func, file, line)] += count

    def best_line(counter: Counter[tuple[str, str, int]], func: str, file: str) -> int:
        lines = [(n, line) for (f, p, line), n in counter.items() if f == func and p == file]
        return max(lines)[1] if lines else 0

    def ranked(
        counter: Counter[tuple[str, str]], lines: Counter[tuple[str, str, int]]
    ) -> list[dict[str, object]]:
        return [
            {
                "where": f"{func} ({file}:{best_line(lines, func, file)})",
                "share": n / total if total else 0.0,
            }
            for (func, file), n in counter.most_common(top)
        ]

    return {
        "samples": total,
        "threads": {name: n / total for name, n in threads.most_common()} if total else {},
        "categories": {name: n / total for name, n in categories.most_common()} if total else {},
        "self": ranked(self_fn, self_line),
        "inclusive_project": ranked(incl_fn, incl_line),
    }
