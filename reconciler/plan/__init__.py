"""The pure planner: (desired repo, inventory, applied state) -> one action per gateway.

No I/O and no clock.  The rules of docs/reference/desired-state.md live here
(:mod:`reconciler.plan.planning`); :mod:`reconciler.plan.desired` computes each
gateway's desired configuration, :mod:`reconciler.plan.values` compares values
(secrets by keyed hash), :mod:`reconciler.plan.secretchecks` asks whether a
secret's value fits its key's catalog rule (without seeing it),
:mod:`reconciler.plan.rendering` prints plans.
"""
