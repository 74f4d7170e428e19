"""The job engine: jobs are database rows (the truth), executed on dask.distributed.

- :mod:`.events` — the event bus (in-process now; a broker could back it later);
- :mod:`.executors` — where work runs: a dask cluster, or threads in tests;
- :mod:`.work` — what a job sends to a worker and gets back (plain, picklable);
- :mod:`.handlers` — one handler per job kind: ``prepare`` (engine side, reads the
  database) and ``execute`` (worker side, pure: files in, files out);
- :mod:`.products` — registering products and completing jobs in one transaction;
- :mod:`.planner` — what to do automatically after files arrive or jobs finish;
- :mod:`.runner` — the loop: requeue at start, claim, execute, complete or retry.
"""
