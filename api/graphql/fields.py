"""Typed spellings of Strawberry's resolver decorators.

`@strawberry.field(description=...)` is typed as returning Any, which mypy
--strict reports as an untyped decorator on every resolver. These keep the
resolver's own signature for the type checker; at run time they are Strawberry's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import strawberry

F = TypeVar("F", bound=Callable[..., Any])


def field(description: str) -> Callable[[F], F]:
    """`@strawberry.field(description=...)`."""
    return cast(Callable[[F], F], strawberry.field(description=description))


def mutation(description: str) -> Callable[[F], F]:
    """`@strawberry.mutation(description=...)`."""
    return cast(Callable[[F], F], strawberry.mutation(description=description))


def subscription(description: str) -> Callable[[F], F]:
    """`@strawberry.subscription(description=...)`."""
    return cast(Callable[[F], F], strawberry.subscription(description=description))
