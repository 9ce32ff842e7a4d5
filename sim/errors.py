"""The exceptions trialsim raises on purpose."""


class SimError(Exception):
    """Base of every error trialsim raises deliberately."""


class ScenarioError(SimError):
    """Bad input: a scenario file, a --set override or a command-line option.

    The message is complete on its own (file, key path, value, what is allowed): the command line
    prints it as it is and exits with status 2.
    """
