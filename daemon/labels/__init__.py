"""Ground-truth labels: reading label files (files.py), writing them to the database all
or nothing (store.py), and `.labels.json` sidecars dropped in the inbox (sidecars.py).

Nothing here re-queues stages: daemon/label_service.py does that, above the pipeline.
"""
