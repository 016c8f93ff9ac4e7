"""SAM/BAM/CRAM: `view` planning and formatting (`view.py`), headers and @PG (`header.py`),
raw BAM record bytes from BGZF ranges (`rawbam.py`) and table outputs (`tables.py`)."""
