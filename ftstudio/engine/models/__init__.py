"""Pretrained models: where they come from, how they load, what trains, and on which device.

`sources.py` resolves a model spec (the embedded default, a folder, the HF cache, a Hub id);
`files.py` reads model folders and the HF cache without torch; `download.py` fetches from the Hub;
`loading.py` builds the model and tokenizer; `head.py` finds the task head's output layer; `freezing.py` decides which parameters train;
`devices.py` picks the device and precision.
"""
