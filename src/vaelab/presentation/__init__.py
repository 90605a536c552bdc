"""Presentation: figures, the per-run report of analyses, tables, and the web explorer."""
