"""Optional speed levers, each switchable, each checked against the plain path before it is used.

`levers.py` is the one interface through which the trainer applies them and logs their status;
`cpu_runtime.py` sets process-wide CPU settings; `frozen_features.py`, `fast_dropout.py` and
`first_token_top_layer.py` are the levers; `lever_check.py` is the logits check they pass.
"""
