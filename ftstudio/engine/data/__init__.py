"""Training data: where it comes from, how it is read, cleaned, split, summarised and batched.

`sources.py` resolves a data spec (the embedded sample, a file or folder, a Hub dataset) and reads
its raw splits; `reading.py` turns files into splits; `columns.py` finds the text and label columns;
`splits.py` holds out validation/test rows; `prepare.py` ties them into clean splits; `summary.py`
describes them; `batching.py` tokenizes them into batches; `sample.py` is the embedded dataset;
`sample_tasks.py` derives multi-label, regression and pairs samples from its real labels.
"""
