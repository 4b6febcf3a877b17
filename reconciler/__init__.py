"""Declarative profile rollouts for LG2WAN charging gateways.

Layers (DESIGN.md section 9), each importing only the ones before it:
``model`` -> ``loading`` -> ``plan`` -> ``store`` -> ``drivers`` -> ``engine``
-> ``daemon`` -> ``cli``.
"""

__version__ = "0.1.0"
