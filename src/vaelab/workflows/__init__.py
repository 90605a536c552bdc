"""Workflows: what chains several layers (data, training, analyses, figures) into one command.

They sit above every layer and below the command line: ``demo`` trains the book's models and
writes all of their figures.
"""
