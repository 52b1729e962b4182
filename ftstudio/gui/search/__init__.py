"""The Search tab: a hyperparameter study defined with Setup's widgets, run as an `ftstudio search`
child process, and its trials shown live (table, value by trial, parameter scatter, importance)."""
