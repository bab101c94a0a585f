"""Scheduled retraining: the run that preprocesses new videos, trains on, evaluates and publishes,
its child processes and versioned publishing. Sits above both halves."""
