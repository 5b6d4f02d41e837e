"""fundbot: funding-call matcher and notification bot for Klimatkontrakt 2030 cities."""
__version__ = "0.1.0"
