"""`python -m landscape ...` (and `torchrun -m landscape ...`) runs the command-line tool."""

from landscape.cli import main
from landscape.inputs.importing import user_code_importable

user_code_importable()  # `python -m` put the working folder first: the installed packages go first
main()
