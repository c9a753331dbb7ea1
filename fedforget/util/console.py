"""A quiet, informative console: fedforget's own INFO lines, a progress display for long
phases, and nothing from Flower, Ray, Alembic or torch below WARNING unless ``--verbose``.

:func:`setup_console` is called once by the CLI. It installs one filter on the root
handlers and on Flower's logger (which has a console handler of its own): a record passes
when it comes from ``fedforget.*`` or is a WARNING or worse (everything passes with
``verbose``). The one deprecation fedforget uses knowingly, Flower's ``run_simulation``
(the only in-process entry point; docs/performance.md), is silenced here and nowhere else,
and so is Ray's FutureWarning about the accelerator environment variable it sets for
CPU-only actors. (torch's warning about the read-only data arrays is filtered where they
are made read-only: fedforget.data.federation.) :class:`Progress` is the progress display (tqdm on stderr: rounds done /
total, elapsed, ETA), shown only when stderr is a terminal.
"""

from __future__ import annotations

import logging
import sys
import warnings
from typing import Any

KNOWN_DEPRECATIONS = ("`run_simulation` function is deprecated",)
OWN = "fedforget"


class ConsoleFilter(logging.Filter):
    """Lets through fedforget's own records and, from other libraries, WARNING or worse
    (all of them with ``verbose``); never the known deprecations."""

    def __init__(self, verbose: bool = False) -> None:
        super().__init__()
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if any(d in msg for d in KNOWN_DEPRECATIONS):
            return False
        if self.verbose or record.levelno >= logging.WARNING:
            return True
        return record.name == OWN or record.name.startswith(OWN + ".")


def setup_console(verbose: bool = False) -> None:
    """Logging for a command-line run (see the module docstring)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    f = ConsoleFilter(verbose)
    for h in logging.getLogger().handlers:
        h.addFilter(f)
    logging.getLogger("flwr").addFilter(f)  # Flower's own console handler sees its records first
    if not verbose:
        for noisy in ("flwr", "ray", "filelock", "matplotlib", "datasets", "urllib3", "alembic"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r"Tip: In future versions of Ray", category=FutureWarning)


class Progress:
    """A progress bar per phase (tqdm, on stderr when it is a terminal; else nothing)."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.bar: Any = None
        self.phase = ""

    def update(self, phase: str, done: int, total: int) -> None:
        """Round ``done`` of ``total`` of ``phase`` finished."""
        if not self.enabled or total <= 1:
            return
        if self.bar is None or self.phase != phase:
            self.close()
            from tqdm import tqdm

            self.bar, self.phase = tqdm(total=total, desc=phase, unit="round", leave=False, file=sys.stderr), phase
        self.bar.n = done
        self.bar.refresh()
        if done >= total:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
