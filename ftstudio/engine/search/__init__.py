"""Hyperparameter search: Optuna studies kept in a database, each trial an ordinary run.

- `space.py`: the searched settings and their ranges or choices, checked against the settings'
  own declarations (plain data, no Optuna).
- `distributions.py`: a dimension as an Optuna suggestion.
- `objective.py`: the metric a study optimises and its direction.
- `study.py`: storage URLs, samplers, pruners, heartbeats and the study's ftstudio record.
- `trial.py`: one trial's run, reported to the pruner and stopped when pruned.
- `runner.py`: `run_search()`, one worker claiming trials until the study's budget is met.
- `results.py`: trial rows, the best trial, importances, the best settings file, the summary.
"""
