"""Hyperparameter tuning with optuna: search spaces (space.py), studies (study.py), storage
(storage.py), results (report.py); `convnet tune` runs them (cli_run.py)."""
