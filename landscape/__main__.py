"""`python -m landscape ...` (and `torchrun -m landscape ...`) runs the command-line tool."""

from .cli import main

main()
