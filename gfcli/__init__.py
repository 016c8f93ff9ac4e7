"""gfcli: a genomics command-line toolkit in the style of samtools and bcftools."""

__version__ = "0.1.0"
