"""The package's version: one line that the package, the command line and the build read."""
__version__ = "0.2.0"
