"""The Runs tab: every past run, its curves and settings, resume, compare, delete.
"""
