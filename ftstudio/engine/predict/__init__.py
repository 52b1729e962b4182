"""Using a trained model: a checkpoint in, labels and probabilities out (`predictor.py`).
"""
