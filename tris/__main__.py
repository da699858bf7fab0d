"""`python -m tris …` runs the command line."""

from tris.interfaces.cli.main import main

if __name__ == "__main__":
    main()
