"""jingwu (警務): public-safety command and service platform."""
__version__ = "0.1.0"
