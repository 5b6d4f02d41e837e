"""Normalisation shared by all adapters: HTML to text, dates, language."""
