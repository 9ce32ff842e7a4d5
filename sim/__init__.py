"""trialsim: patient-level discrete-event simulation of oncology trials."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("trialsim")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
