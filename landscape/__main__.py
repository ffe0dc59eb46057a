"""`python -m landscape ...` (and `torchrun -m landscape ...`) runs the command-line tool."""

from landscape.cli import main

main()
