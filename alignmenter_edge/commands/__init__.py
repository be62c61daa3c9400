"""CLI sub-commands: each module defines ``add_parser(subparsers)`` and sets ``func``."""
