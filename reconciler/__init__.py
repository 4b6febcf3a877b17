"""Declarative profile rollouts for LG2WAN charging gateways.

Layers (docs/reference/layers.md), each importing only the ones before it:
``model`` -> ``loading`` -> ``editing`` -> ``plan`` -> ``members`` -> ``store``
-> ``drivers`` -> ``headends`` -> ``engine`` -> ``daemon`` -> ``cli``.
"""

__version__ = "0.1.0"
