"""What every audience's module needs to add its subcommands."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, TypeAlias

__all__ = ["SubParsers"]

if TYPE_CHECKING:
    SubParsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    SubParsers = argparse._SubParsersAction
