"""Generated datasets for scale tests and benchmarks (PERFORMANCE.md's tiers S, M and L).

``territory`` invents the collectivités, ``content`` what their requests say, ``history`` the path each
request took through the workflow, ``generator`` writes it all; ``cli`` is ``tracker dataset seed``.
"""
