"""Presentation: figures, the per-run report of analyses, and the demo."""
