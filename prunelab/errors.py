"""User-facing errors: the CLI prints them as one line and exits with code 2."""


class PrunelabError(Exception):
    """Bad input (unknown name, missing data, nonsense number, wrong checkpoint...)."""


class TrainingDiverged(PrunelabError):
    """The loss became NaN or infinite."""
