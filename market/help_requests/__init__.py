"""民声 and 微心愿: residents' requests that volunteers take on and earn points for (issue 18).

A resident posts a small need (``service``: text, a category, who may see it, an optional
photo) from the home page or the household's doorplate; a grid worker posts for an elder
without a phone (assisted). A volunteer near them claims it, may release it, and when the
requester (or the grid worker for them) confirms it done with hours, the volunteer earns points
by the community's rate for the category — through ``market.points.lots.earn_steps``, the path
every earned credit takes (caps, 公示, lots), in the confirming transaction. Disputes go to the
office first; a disagreement about a claim goes to the office; a request nobody takes is
escalated to its grid worker (``board.escalate``). The office sees the board, the export and
the figures (``board``); a community sets its rates and limits (``terms``).

Rooms: ``rules`` (pure rules and defaults), ``schemas`` (what the API takes and answers),
``terms`` (a community's rates and limits), ``service`` (the steps of a request), ``board``
(the office's and the grid worker's views, the export, the figures, escalation),
``controllers`` (the API); the pages are ``market.web.help_pages``.
"""
