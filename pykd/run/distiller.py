"""pykd.Distiller: distillation as a keras.Model, for a Keras user's own compile() and fit().

    distiller = pykd.Distiller(teacher, student, temperature=3.0, alpha=0.1)
    distiller.compile(optimizer="adam")
    distiller.fit(train_ds, validation_data=val_ds, epochs=10)   # any data Keras' fit() takes
    distiller.student.save("student.keras")

Its train_step is distill()'s: pykd.run.steps.StepFunctions.batch_train_step, whose loss, update
and skip of a non-finite step are the ones every distill() step runs (StepFunctions._learn).
Labels are class ids (-1 or NaN: unlabeled, taught by the teacher alone) or one-hot rows (all
zeros: unlabeled); sample_weight and class_weight weigh each row's loss as fit()'s do. The data
pipeline decides order and augmentation; the teacher runs live on each batch it gives.
"""

from __future__ import annotations

from .._tf import keras, tf
from ..core.errors import DataError, NonFiniteLossError, Setting
from ..core.validation import loss_settings, rescale_setting
from ..data.images import ImageSpec
from ..kd.hint import Hint
from ..kd.teacher import ModelTeacher, resolve_teacher
from ..models.introspection import input_shape, output_width, outputs_are_probabilities
from ..models.loading import load_model
from . import metrics
from .build import hint_term, live_teacher
from .plan import known_order, spec_of_teacher
from .steps import StepFunctions, StepSettings, Targets


class Distiller(keras.Model):
    """A student learning from a teacher in Keras' own fit(), with distill()'s exact step.

    teacher: a Keras model, a .keras/.h5 path or a list of them (an ensemble). It is run in
        inference mode in `teacher_precision` and never trained; it is not part of the
        Distiller's weights. None trains the student on its labels alone (the scratch baseline).
    student: a Keras model (trained in place) or a path. `distiller.student` is the trained model.
    temperature, alpha, teacher_outputs, teacher_combine, teacher_precision, student_outputs,
        hint: as for distill(). "auto" outputs are read from the models' last layers.
    rescale: multiplies the images before both models see them (None: as given).
    The logs are distill()'s columns: loss, student_loss, distillation_loss (hint_loss),
    accuracy; validation gives val_loss (the hard-label loss) and val_accuracy.
    """

    def __init__(self, teacher, student, *, temperature: float = 3.0, alpha: float = 0.1,
                 teacher_outputs: str = "auto", teacher_combine: str = "logits", teacher_precision: str = "auto",
                 student_outputs: str = "auto", hint: Hint | dict | None = None, rescale: float | None = None,
                 name: str = "distiller"):
        super().__init__(name=name)
        temperature, alpha = loss_settings(temperature, alpha)
        self.student = load_model(student, role="student")
        source = None if teacher is None else resolve_teacher(teacher, outputs=teacher_outputs, combine=teacher_combine,
                                                              precision=teacher_precision)
        if source is not None and not isinstance(source, ModelTeacher):
            raise DataError("Distiller runs a teacher model live; precomputed logits are keyed by image ids, "
                            "which a Keras pipeline does not carry.", "Pass the teacher model, or use {distill} "
                            "with the logits table.", distill=Setting("distill", "teacher=<logits table>"))
        if source is not None:
            _check_pair(source, self.student, hint)
        self._teacher = source  # a plain object: its models are not the Distiller's weights
        self._settings = StepSettings(temperature=temperature, alpha=alpha, distilling=source is not None,
                                      student_probabilities=outputs_are_probabilities(self.student, student_outputs,
                                                                                      "student"))
        self._hint = Hint.coerce(hint)
        self._rescale = rescale_setting(rescale)
        self._functions: StepFunctions | None = None  # made by compile(), with its optimizer

    @property
    def teacher(self) -> keras.Model | list[keras.Model] | None:
        models = [] if self._teacher is None else self._teacher.models
        return models[0] if len(models) == 1 else models or None

    @property
    def stop_training(self) -> bool:  # one flag: callbacks stopping the Distiller or its student stop both
        return getattr(self.__dict__.get("student"), "stop_training", False)

    @stop_training.setter
    def stop_training(self, value: bool) -> None:
        if "student" in self.__dict__:
            self.student.stop_training = value

    def call(self, x, training=False):
        return self.student(x, training=training)

    def compile(self, optimizer="adam", *, steps_per_execution: int = 1, run_eagerly: bool = False,
                jit_compile: bool = False, **refused):
        """Compile with an optimizer; the loss and metrics are the distillation's own."""
        if refused:
            raise DataError("Distiller.compile() takes an optimizer; the loss and metrics are distillation's own "
                            "({given} given).", "Leave them out: the logs hold loss, student_loss, "
                            "distillation_loss and accuracy.", given=", ".join(sorted(refused)))
        if tf.distribute.has_strategy():
            raise DataError("Distiller runs on one device.", "For several replicas, use {distill}.",
                            distill=Setting("distill", "strategy=<the strategy>"))
        super().compile(optimizer=optimizer, steps_per_execution=steps_per_execution, run_eagerly=run_eagerly,
                        jit_compile=jit_compile)
        spec, targets = _spec(self.student, self._rescale), Targets()
        if self._teacher is not None:
            teacher_spec = spec_of_teacher(self._teacher, spec)
            teacher_size = None if teacher_spec == spec else teacher_spec.size
            hint = None if self._hint is None else hint_term(self._hint, self._teacher, self.student, teacher_size)
            if spec.height is not None:  # bfloat16 where it can, else float32 with a warning (as distill())
                self._teacher.settle_precision(tf.zeros((1, spec.height, spec.width, spec.channels)))
            targets = Targets(teacher=live_teacher(self._teacher, teacher_size), hint=hint)
        self.optimizer.build([*self.student.trainable_variables,
                              *([] if targets.hint is None else targets.hint.projection.trainable_variables)])
        # Eager here: Keras compiles train_step itself (with steps_per_execution, jit_compile).
        self._functions = StepFunctions(self.student, self.optimizer, self._settings, spec, run_eagerly=True,
                                        targets=targets)
        self._step = tf.Variable(tf.constant(0, tf.int64), trainable=False)

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        self._functions.batch_train_step(x, y, sample_weight, self._step)
        self._step.assign_add(1)
        return metrics.mean_tensors(self._functions.train_sums, hint=self._hint is not None,
                                    distilling=self._settings.distilling)

    def test_step(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        if y is None:
            raise DataError("Distiller.evaluate() needs labels: give (images, labels).")
        self._functions.batch_test_step(x, y)
        return metrics.mean_tensors(self._functions.test_sums, test=True)

    def reset_metrics(self):
        super().reset_metrics()
        if self._functions is not None:  # the epoch's sums start again, as Keras' metrics do
            for sums in (self._functions.train_sums, self._functions.test_sums):
                sums.assign(tf.zeros(metrics.SLOTS, tf.float64))
            self._step.assign(0)

    def fit(self, *args, callbacks=None, **kwargs):
        """Keras' fit(). A non-finite loss or gradient changes nothing, skips every later step and ends
        the fit with NonFiniteLossError at the end of its epoch (the student keeps its last good weights)."""
        if self._functions is None:
            raise DataError("The Distiller is not compiled.", "Call {compile} first.",
                            compile=Setting("distiller.compile", "optimizer='adam'"))
        self._functions.stopped_at.assign(-1)
        watch = _NonFinite(self._functions)
        if isinstance(callbacks, keras.callbacks.CallbackList):
            callbacks.append(watch)
        else:  # first: an epoch that was not finite is neither recorded nor checkpointed by a later callback
            callbacks = [watch, *_as_list(callbacks)]
        return super().fit(*args, callbacks=callbacks, **kwargs)


class _NonFinite(keras.callbacks.Callback):
    def __init__(self, functions: StepFunctions):
        super().__init__()
        self.functions = functions

    def on_epoch_end(self, epoch, logs=None):
        stopped = int(self.functions.stopped_at.numpy())
        if stopped >= 0:
            raise NonFiniteLossError(epoch + 1, stopped + 1)


def _as_list(callbacks) -> list:
    if callbacks is None:
        return []
    return list(callbacks) if isinstance(callbacks, (list, tuple)) else [callbacks]


def _spec(student: keras.Model, rescale) -> ImageSpec:
    height, width, channels = input_shape(student)
    return ImageSpec(height, width, channels or 3, rescale)


def _check_pair(teacher: ModelTeacher, student: keras.Model, hint) -> None:
    """What distill() checks of its models before the first step: one output per class in both, the same
    classes in the same order where they know them, and a hint read from a single teacher."""
    width = output_width(student)
    for model in teacher.models:
        if output_width(model) != width:
            raise DataError(f"The teacher outputs {output_width(model)} classes but the student {width}.",
                            "Give models with one output per class of the same classes.")
    known_order(student, teacher.models)
    if hint is not None and len(teacher.models) > 1:
        raise DataError("A hint reads one teacher's layer, and the teacher is an ensemble.",
                        "Give one teacher model with the hint, or leave the hint out.")
