"""Live ingest: find complete raw files, read and classify them, register them once.

- :mod:`.scan` reads one file (checksum, primary header, classification): pure, runs in
  worker processes;
- :mod:`.fields` maps a header to the seed's API record fields;
- :mod:`.register` writes scanned files into the app database, with log entries;
- :mod:`.complete` decides when a file that is still being written is complete;
- :mod:`.watcher` watches the raw tree (watchfiles, or polling for network filesystems);
- :mod:`.backfill` registers an existing archive in parallel (``gsp ingest PATH``).
"""
