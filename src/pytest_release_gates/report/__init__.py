"""Outputs built from the verdict: the verdict file, the terminal section, Markdown."""
