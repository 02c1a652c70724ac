"""Plots and the HTML report, rendered from saved artifacts only (never from live objects)."""
