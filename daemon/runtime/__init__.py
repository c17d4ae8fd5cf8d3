"""The services that drive the pipeline: the daemon process (service), its stage
workers, the inbox and its watcher, the training scheduler, cluster membership, forget,
the home folder and its lock, and what `lprd status` gathers and shows."""
