"""`python -m distilkit.serving [flags]`: the same server as `distilkit serve`."""

from . import main

main()
