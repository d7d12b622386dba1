"""Export the schema SDL: `python -m api.graphql.export --output schema.graphql` (`make schema`).

The same text as `strawberry export-schema api.graphql.schema:schema`, without
needing Strawberry's CLI extra.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from strawberry.printer import print_schema

from api.graphql.schema import schema


def schema_sdl() -> str:
    """The SDL of the schema, as the file holds it (with a final newline)."""
    return print_schema(schema) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Write the SDL to --output, or print it."""
    parser = argparse.ArgumentParser(prog="python -m api.graphql.export", description=__doc__)
    parser.add_argument("--output", "-o", type=Path, help="file to write (default: stdout)")
    args = parser.parse_args(argv)
    text = schema_sdl()
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
        print(f"Schema exported to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
