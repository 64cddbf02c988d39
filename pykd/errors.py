"""Exceptions raised to users: their messages are the user interface."""


class DataError(ValueError):
    """A table, an image or an argument that cannot be trained on.

    Raised before the first training step, so nothing has changed yet.
    """


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; the offending update was not applied."""

    def __init__(self, epoch: int, step: int):
        self.epoch = epoch
        self.step = step
        super().__init__(
            f"The loss became NaN or infinite at epoch {epoch}, step {step}. "
            "Training stopped; the student keeps its weights from the last good step. "
            "Try a lower learning_rate, or check the images and the rescale factor."
        )
