"""The OCPP head-end and its simulated charge points (``reconciler ocpp serve`` / ``ocpp simulate``).

Southbound it speaks OCPP-J 1.6 and 2.0.1 over WebSocket (message schemas of the
``ocpp`` library); northbound it serves the head-end API of
docs/reference/headend-api.md, so the engine reaches OCPP charge points through
the same driver as LG2WAN gateways.  :mod:`.wire` converts values and addresses
keys, :mod:`.callplans` is the pure part (which calls a job needs, what each
answer means); the server and the simulator build on both.
"""
