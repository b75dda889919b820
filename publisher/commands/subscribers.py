"""CLI verbs (placeholder module: filled by its feature)."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
