"""The web console the daemon serves at ``/``: profiles, configuration, members, gateways, commits.

:mod:`~reconciler.daemon.console.views` assembles each screen's JSON document
from what the daemon knows (the status record, the report summary, the live
member index, the state store, the git history); :mod:`~.routes` serves every
document twice, as JSON under ``/api/v1/`` and as a server-rendered page
(:mod:`~.pages`, Jinja templates in ``templates/``); ``static/`` holds the one
stylesheet and the one script (live updates, search as you type, Retry
Upload), shipped in the package: the console works offline.  Wired into the
daemon's HTTP application by :mod:`reconciler.daemon.endpoints`.
"""
