"""`tracker run`, the long-running service: ``service`` (the scheduler, its jobs, signals and
exits), ``locks`` (one service per database; leader election on PostgreSQL), ``metrics``
(Prometheus) and ``logs`` (a line per round)."""
