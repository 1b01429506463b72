"""`python -m talentloop.cli`: the same as the `talentloop` command."""

from talentloop.cli import main

main()
