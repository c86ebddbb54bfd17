"""``python -m agents.columns > docs/columns.md``: print the data dictionary as Markdown."""

from agents.columns import markdown

print(markdown(), end="")
