"""`gfcli depth`: samtools depth's rows and mosdepth's summaries from one coverage core.

Submodules import numpy; import them inside command bodies only.
"""
