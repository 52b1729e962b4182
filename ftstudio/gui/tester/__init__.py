"""The Test tab: try a checkpoint on a sentence or a whole labelled file.
"""
