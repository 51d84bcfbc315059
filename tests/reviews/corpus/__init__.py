"""The labelled content-policy corpus (issue 24) and the harness that scores it (``harness.py``).

See ``README.md`` in this folder for the file format and what counts as flagged.
"""
