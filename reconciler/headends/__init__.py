"""The ``headends`` layer: servers of the head-end API.

- :mod:`~reconciler.headends.simulator`: the LG2WAN head-end simulator (HTTP face),
  served by ``reconciler simulate``, the demo, the tests and the benchmarks;
- :mod:`~reconciler.headends.fleet`: its simulated gateways and their job rules;
- :mod:`~reconciler.headends.faults`: its injectable faults.

Head-ends may use ``model``, ``loading``, ``store`` and the API's bodies in
``drivers``; never ``engine``, ``daemon`` or ``cli`` (``tests/test_layers.py``).
"""
