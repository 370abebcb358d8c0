"""A differential conformance suite for loss functions.

Importing this package imports no framework; see DESIGN (catalog -> cases ->
reference -> adapters -> compare -> results -> report).
"""
