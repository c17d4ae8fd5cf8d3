"""Ground-truth labels: reading label files (files.py), writing them to the database all
or nothing (store.py), and `.labels.json` sidecars dropped in the inbox (sidecars.py).

Nothing here but service.py re-queues stages; service.py sits above the pipeline.
"""
