"""Run the landscape command line from a source checkout: `python cli.py compute ...`."""

from landscape.cli import main

if __name__ == "__main__":
    main()
