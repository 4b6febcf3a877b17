"""Pydantic schemas of config files and the parameter catalog; pure, no I/O.

Imported by every other layer; imports none of them.
"""
