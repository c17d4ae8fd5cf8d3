"""Training as jobs: the supervisor that starts, watches and reaps a training run, the
child processes it runs in (`python -m daemon.learn.jobs.train_job`, one
`python -m daemon.learn.jobs.head_job` per head) and their failure boundary
(isolation.py), and the retry of failed heads with smaller settings."""
