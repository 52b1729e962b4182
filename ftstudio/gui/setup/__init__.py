"""The Setup tab: the model, the data, every setting, and the layers that train.
"""
