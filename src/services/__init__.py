"""Domain operations: the rules that belong to the data, below the HTTP layer.

Functions here load, change and flush models and raise ``src.exceptions`` errors;
the views commit.
"""
