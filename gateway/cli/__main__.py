"""`python -m gateway.cli` runs the `doorstep` command."""

from gateway.cli import main

main()
