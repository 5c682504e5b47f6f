"""`python -m onprem.cli`: the same entry point as the `onprem` script."""

from onprem.cli import main

main()
