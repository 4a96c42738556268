"""Helpers shared by CLI commands: consoles, settings, ledger, error-to-exit-code mapping."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any

import typer
from rich.console import Console

from carbontrail.config import Settings, load_settings
from carbontrail.errors import CarbontrailError, ConfigError, LedgerError, PolicyError, UnitError

#: human output (tables, progress) goes to stderr; machine output (--json) to stdout
err = Console(stderr=True)
out = Console()

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_LEDGER = 4
EXIT_POLICY_DENIED = 5


def settings(**overrides: Any) -> Settings:
    """Settings for a CLI command (explicit flags are the overrides)."""
    return load_settings(**overrides)


def open_ledger(s: Settings | None = None) -> Any:
    from carbontrail.ledger import Ledger

    return Ledger.open(settings=s or settings())


def print_json(data: Any) -> None:
    """Machine-readable output on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


@contextlib.contextmanager
def cli_errors() -> Iterator[None]:
    """Turn carbontrail errors into a one-line message and a meaningful exit code."""
    try:
        yield
    except (ConfigError, UnitError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(EXIT_CONFIG) from exc
    except LedgerError as exc:
        err.print(f"[red]ledger error:[/red] {exc}")
        raise typer.Exit(EXIT_LEDGER) from exc
    except PolicyError as exc:
        err.print(f"[red]policy error:[/red] {exc}")
        raise typer.Exit(EXIT_ERROR) from exc
    except CarbontrailError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(EXIT_ERROR) from exc
