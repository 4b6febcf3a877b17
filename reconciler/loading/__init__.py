"""YAML files and git blobs -> model objects, with file/line/column positions for errors.

Imports only :mod:`reconciler.model`.
"""
