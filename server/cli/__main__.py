"""`python -m riskops.server.cli`: the same as the `riskops` command."""

from riskops.server.cli.main import main

main()
