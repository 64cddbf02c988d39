"""Every option of distill(), train_scratch() and the functions that share them, declared once.

Each `Option` says its name, default, kind (how its values are checked, written as a type,
read from the command line and converted from R: pykd.run.kinds), what it does, which entry
points take it, whether a checkpoint's resume key holds it and whether the history's params
report it. From this list come the `Options` record, the check of every value
(`checked`), the docstrings' option lines, the command-line flags (pykd.cli), the names R
accepts in `...` and how it converts them (`for_r`), the resume key (pykd.run.resume) and
the history's params (pykd.run.trainer). The entry points' signatures are written out in
pykd.api for readers and type checkers; tests/test_options.py checks them against this list.
"""

from __future__ import annotations

import difflib
import re
import textwrap
from dataclasses import KW_ONLY, dataclass, field, make_dataclass, replace
from types import SimpleNamespace

from ..core.errors import DataError, Setting, Text, Words, every, few, literal
from ..core.validation import alpha_setting, rescale_setting, temperature_setting, verbosity
from ..data.augmentation import Augmentation
from ..data.tta import TtaViews
from ..kd.hint import Hint
from ..models.precision import PRECISIONS
from . import kinds
from .settings import callback_list, optimizer_recipe, strategy_setting

DISTILL, SCRATCH = "distill", "train_scratch"
TRAINING = (DISTILL, SCRATCH)
SCORING = ("evaluate", "predict", "compare", "teacher_logits")
EXPORT = "export"  # reads its representative images (quantize="int8") as the scoring functions read theirs
# Entry points that take another's options and pass them on (their own arguments apart).
PASSED_ON = {"sweep": DISTILL, "noisy_student": DISTILL, "out_of_fold_logits": SCRATCH}
# The values they set themselves: refused if given, saying so.
FIXED = {"noisy_student": {"teacher_view": "clean", "larger_student": True}}
# Their own arguments, or set by them: not among the options they pass on.
OWN = {"noisy_student": ("augment", *FIXED["noisy_student"]),
       "sweep": ("directory", "x_col", "classes", "verbose", "temperature", "alpha"),
       "out_of_fold_logits": ("directory", "x_col", "y_col", "classes", "seed")}


@dataclass(frozen=True)
class Option:
    name: str
    default: object
    kind: kinds.Kind
    doc: str
    entries: tuple = TRAINING
    _: KW_ONLY  # the rest by name, so a declaration line says what each value is
    resume: str | None = None  # the resume-key entry that holds it (pykd.run.resume), None if none
    params: bool = False  # reported in the history's params as its checked value
    cli: bool = True  # a flag of the commands that take it, when its kind has one (augment: cli.py's own flags)


AUTO = ("auto", True, False)

OPTIONS: tuple[Option, ...] = (
    # The table and its images.
    Option("directory", None, kinds.Text(hint="str | os.PathLike | None", r="path"), "the folder holding the image "
           "files; `x_col` names them relative to it (not set when train is a folder or arrays).", (*TRAINING, *SCORING, EXPORT)),
    Option("validation", None, kinds.Table(), "an optional table like `train` (or a folder of class subfolders, or "
           "(x, y) arrays); it may use the other label layout (one-hot columns named by `classes`, or a \"label\" "
           "column). Its hard-label loss and accuracy are reported as val_loss and val_accuracy every epoch."),
    Option("x_col", "image_id", kinds.Text(), "the column of image file names.", (*TRAINING, *SCORING, EXPORT)),
    Option("y_col", "label", kinds.Columns(), "one label column (class ids from 0, or class names listed in "
           "`classes`; NA = unlabeled) or a list of one-hot columns (an all-zero row = unlabeled).",
           (*TRAINING, "evaluate", "compare")),
    Option("classes", None, kinds.Columns(hint="Sequence[str] | None"), "class names in class-id order; by default "
           "the classes the model knows (pykd.models.classes_of), else the one-hot column names, or numbers. At "
           "least two, each once.", (*TRAINING, *SCORING)),
    Option("weight_col", None, kinds.Text(hint="str | None"), "a column of per-row weights (numbers >= 0, "
           "as Keras' sample_weight): each training row's loss is multiplied by its weight. None: every row weighs 1.",
           resume="weights"),
    Option("class_weight", None, kinds.Coerced(coerce=lambda v: v, hint="dict | Sequence[float] | None", r="named"),
           "weights by class, as Keras' class_weight: a dict of class id (a number, as the table's labels give it) "
           "or class name (text) to weight (classes left out weigh 1), or one weight per class in class-id order. A "
           "labeled row's loss is multiplied by its class's weight (times its weight_col weight); unlabeled rows "
           "weigh 1.", resume="weights"),
    Option("image_size", None, kinds.Pair(), "(height, width) the images are resized to; by default the model's "
           "input size.", (*TRAINING, *SCORING, EXPORT)),
    Option("rescale", None, kinds.Number(rule=rescale_setting, none=True, hint="float | None"), "a factor pixels (0..255) "
           "are multiplied by, e.g. 1/255, or None to leave them.", (*TRAINING, *SCORING, EXPORT)),
    Option("batch_size", 32, kinds.Whole(), "images per batch (under a strategy, the global batch).",
           (*TRAINING, *SCORING), resume="batch_size", params=True),
    Option("on_bad_image", "error", kinds.Choice(values=("error", "skip")), "\"error\" stops before training at an "
           "unreadable image, naming it; \"skip\" leaves such images out with one warning.",
           (*TRAINING, "evaluate", "predict", "teacher_logits")),
    # How long, and how the data is cut into batches.
    Option("epochs", 10, kinds.Whole(), "epochs to train.", params=True),
    Option("steps_per_epoch", None, kinds.Whole(none=True, hint="int | None"), "batches per epoch, continuing where "
           "the last epoch stopped (None: one pass)."),
    Option("validation_steps", None, kinds.Whole(none=True, hint="int | None"), "the same for validation."),
    Option("last_batch", "keep", kinds.Choice(values=("keep", "drop")), "\"keep\" the short last batch of a pass (metrics "
           "weighted by rows) or \"drop\" it.", resume="last_batch", params=True),
    # The loss and the teacher.
    Option("temperature", 3.0, kinds.Number(rule=temperature_setting), "T > 0, softening both distributions.", (DISTILL,),
           resume="temperature"),
    Option("alpha", 0.1, kinds.Number(rule=alpha_setting), "in [0, 1], the weight of the hard-label loss (1 - alpha weighs "
           "the distillation term).", (DISTILL,), resume="alpha"),
    Option("teacher_outputs", "auto", kinds.Choice(values=("auto", "logits", "probabilities")), "\"auto\", \"logits\" or "
           "\"probabilities\" (a teacher ending in softmax gives probabilities; they are turned into logits, never "
           "softmaxed twice).", (DISTILL, "teacher_logits")),
    Option("teacher_combine", "logits", kinds.Choice(values=("logits", "probabilities")), "how an ensemble is averaged, "
           "\"logits\" or \"probabilities\".", (DISTILL, "teacher_logits")),
    Option("teacher_precision", "auto", kinds.Choice(values=PRECISIONS), "\"auto\" (the default) runs the teacher's forward "
           "pass in bfloat16 where the hardware computes it natively (CPUs with avx512_bf16/amx_bf16, GPUs of compute "
           "capability 8.0+; PYKD_BFLOAT16=1 or 0 forces the answer), 1.6-1.9x faster in `make bench`, and in float32 "
           "elsewhere; logits then round to ~3 significant digits. A teacher that cannot compute in bfloat16 runs in "
           "float32 with a warning saying why. \"float32\" or \"bfloat16\" forces either.", (DISTILL, "teacher_logits")),
    Option("teacher_view", "same", kinds.Choice(values=("same", "clean")), "under augmentation, \"same\" (the default) shows "
           "the teacher the student's augmented view, so the student matches the teacher's function on every view "
           "(\"consistent\" distillation, Beyer et al., 2022; with mixup or cutmix, the same mixture); \"clean\" gives "
           "the teacher's logits of the original images (computed once) as targets for the augmented student, the "
           "noised student of Xie et al. (2020).", (DISTILL,), resume="teacher_view"),
    Option("hint", None, kinds.Coerced(coerce=Hint.coerce, hint="Hint | dict | None"), "feature distillation (FitNets): "
           "None, a pykd.Hint or a dict of its fields (teacher_layer, student_layer, weight=1.0). The student layer's "
           "output, through a learned projection, is regressed on the teacher layer's (mean squared difference times "
           "weight, per row, added to the loss and reported as hint_loss). The teacher then runs every step. A layer "
           "inside a nested model (the backbone of pykd.models.classifier(), rkd_classifier() in R) is named by its "
           "path, the nested model's name, a slash, the layer's name: \"backbone/block6a_project_bn\"; a bare name "
           "found in one nested model only is read as its path.", (DISTILL,), resume="hint"),
    Option("larger_student", False, kinds.Switch(), "a student with more trainable parameters than the teacher has "
           "in all is refused as a likely swap of the two; True says a larger student is meant (noisy-student "
           "self-training).", (DISTILL,)),
    Option("cache_teacher", "auto", kinds.Choice(values=AUTO), "\"auto\" computes the teacher's logits once per image and "
           "reuses them every epoch when there is no augmentation; True insists, False never caches.", (DISTILL,)),
    Option("student_outputs", "auto", kinds.Choice(values=("auto", "logits", "probabilities")), "\"auto\" (read from the "
           "last layer), \"logits\" or \"probabilities\"."),
    Option("tta", False, kinds.Coerced(coerce=TtaViews.coerce, hint="bool | int | Augmentation | dict",
                                       flag={"metavar": "true|K"}),
           "test-time augmentation: False predicts each image as it is; True averages the probabilities of the image "
           "and its mirror image; k >= 2 of the image and k - 1 random views (a flip half of the time, shifts of up "
           "to 10%); an augmentation, of the image and 4 views of it. The image itself is always a view, and each "
           "image gets the same views whatever its batch or table. Flip only when a mirror image keeps its class "
           "(leaves, not digits).", ("predict",)),
    Option("model_outputs", "auto", kinds.Choice(values=("auto", "logits", "probabilities")), "\"auto\" (probabilities when "
           "the model ends in softmax or its rows on the first images are >= 0 and sum to 1), \"logits\" or "
           "\"probabilities\".", ("evaluate", "predict")),
    # Optimization.
    Option("optimizer", "adam", kinds.Text(hint="str | keras.optimizers.Optimizer"), "a name (\"adam\", \"sgd\", ...) "
           "or a keras optimizer object (a LossScaleOptimizer scales the loss as compile() does).",
           resume="optimizer"),
    Option("learning_rate", None, kinds.Number(hint="float | keras.optimizers.schedules.LearningRateSchedule | None"),
           "for a named optimizer, the peak of the run's schedule: a linear warm-up over the first 5% of the "
           "steps, then a cosine decay to 0 at the last step (default 3e-3; README.md gives the measurements behind "
           "both); a fixed rate when a ReduceLROnPlateau or LearningRateScheduler callback sets it, or a dataset's "
           "length is unknown. A keras LearningRateSchedule is used as given. Refused next to an optimizer object, "
           "which has its own rate.", resume="optimizer"),
    Option("augment", None, kinds.Coerced(coerce=Augmentation.coerce, hint="Augmentation | dict | None"), "None, a "
           "pykd.Augmentation or a dict of its fields: random transforms of the training images inside the compiled "
           "step.", resume="augment", cli=False),
    Option("callbacks", None, kinds.Coerced(coerce=callback_list, r="callbacks", hint="keras.callbacks.Callback | "
           "Sequence[keras.callbacks.Callback] | None"), "a Keras callback or a list of them; they see the student as "
           "their model, compiled with the run's optimizer and an accuracy metric as under fit()."),
    Option("seed", None, kinds.Whole(minimum=0, none=True, hint="int | None"), "seeds shuffling, augmentation and "
           "Keras' initial state; None for a random start, which keras.utils.set_random_seed() repeats.",
           resume="seed", params=True),
    Option("verbose", "auto", kinds.Choice(values=("auto", 0, 1, 2), rule=verbosity, hint="int | str"),
           "0 silent, 1 a progress bar (\"auto\", the default), 2 one line per epoch."),
    # Caches, checkpoints and devices.
    Option("cache_images", "auto", kinds.Choice(values=AUTO), "\"auto\" decodes every image once into a uint8 file and reads "
           "epochs from it when that is exact (files already at the model's size), the run reads more rows than the "
           "table holds, and the file fits in half the free disk space; True always (resized pixels round to whole "
           "grey levels); False never."),
    Option("cache_features", "auto", kinds.Choice(values=AUTO), "\"auto\" computes the output of the student's frozen prefix "
           "(a frozen backbone: no trainable weights, dropout or noise) once per image and trains only the rest, when "
           "there is no augmentation or strategy, the teacher's logits are cached, the table is read more than once "
           "and the features are no larger than the images and take under half the free disk space; True insists (or "
           "says why not), False never. history.params[\"feature_cache\"] tells where the prefix ended and its bytes "
           "on disk."),
    Option("frozen_precision", "auto", kinds.Choice(values=PRECISIONS), "under augmentation, where its output cannot be "
           "cached, the student's frozen prefix (a frozen backbone) runs every step outside the gradient tape, in "
           "inference mode and in this precision: \"auto\" (the default) bfloat16 where the hardware computes it "
           "natively, as the teacher (teacher_precision), else float32; \"float32\" keeps it exact; a prefix that "
           "cannot compute in bfloat16 runs in float32 with a warning. history.params[\"frozen_prefix\"] says where "
           "it ended and its precision.", resume="frozen_precision"),
    Option("cache_dir", None, kinds.Folder(), "where the caches are kept and reused by later runs; by default "
           "checkpoint_dir; without either nothing is kept (decoded images and features go to temporary files deleted "
           "at the end of the run)."),
    Option("checkpoint_dir", None, kinds.Folder(), "a folder for an atomic checkpoint after every epoch."),
    Option("resume", False, kinds.Switch(), "continue from the checkpoint in checkpoint_dir (exactly, stream "
           "positions included)."),
    Option("strategy", None, kinds.Coerced(coerce=strategy_setting, hint="tf.distribute.Strategy | None"), "a "
           "tf.distribute.Strategy (MirroredStrategy, MultiWorkerMirroredStrategy, ...); batch_size is then the global "
           "batch, split across replicas."),
    Option("run_eagerly", False, kinds.Switch(), "run the very same train step op by op instead of compiled, for "
           "debugging with prints and breakpoints (slower; same results).", params=True),
)

# What distill() and train_scratch() were given besides the models and the training table.
Options = make_dataclass("Options", [(o.name, object, field(default=o.default)) for o in OPTIONS], frozen=True)
Options.__doc__ = "The options of one distill() or train_scratch() call (pykd.run.options.OPTIONS); checked by checked()."


ENTRIES = (*TRAINING, *SCORING, EXPORT, *PASSED_ON)


def declared(entry: str) -> tuple[Option, ...]:
    """The options `entry` ("distill", "predict", "sweep", ...) takes, in declaration order."""
    if entry not in ENTRIES:
        raise DataError("pykd has no function {entry} that takes options.", "Name one of {entries}.",
                        entry=entry, entries=every(ENTRIES))
    base = PASSED_ON.get(entry, entry)
    return tuple(o for o in OPTIONS if base in o.entries and o.name not in OWN.get(entry, ()))


def given(entry: str, values: dict) -> Options:
    """The Options of a call to `entry`, from its keyword arguments (`locals()` of the entry point)."""
    return Options(**{o.name: values[o.name] for o in declared(entry)})


def checked(options: Options) -> Options:
    """The options with every value checked and made plain (DataError naming the first wrong one).

    Each option's own kind checks it; the rules between options follow.
    """
    values = {o.name: o.kind.check(getattr(options, o.name), o.name) for o in OPTIONS}
    values["optimizer"], values["learning_rate"] = optimizer_recipe(values["optimizer"], values["learning_rate"])
    values["callbacks"] = tuple(values["callbacks"])
    if values["resume"] and values["checkpoint_dir"] is None:
        raise DataError("resume=True needs checkpoint_dir= to resume from.",
                        "Pass the checkpoint_dir of the run to continue.")
    return replace(options, **values)


def checked_call(entry: str, values: dict) -> SimpleNamespace:
    """The options a call to `entry` was given (`locals()` of the entry point), each checked by its kind."""
    return SimpleNamespace(**{o.name: o.kind.check(values[o.name], o.name) for o in declared(entry)})


def check_names(entry: str, names, r_function: str | None = None) -> None:
    """Refuse names `entry` does not take, suggesting the option meant (R's `...`, the CLI).

    r_function: the R function that calls `entry` (rkd_noisy_student), as R messages name it.
    """
    function = Words(f"{entry}()", f"{r_function or entry}()")
    fixed = [Setting(n, v) for n, v in FIXED.get(entry, {}).items() if n in names]
    if fixed:
        raise DataError("{function} always uses {fixed}.", "Leave {names} out.",
                        function=function, fixed=few(fixed), names=few([Text(f.name) for f in fixed]))
    known = [o.name for o in declared(entry)]
    unknown = [n for n in names if n not in known]
    if not unknown:
        return
    guesses = [_closest(n, known) for n in unknown]
    suggestions = [Setting(guess, Text("...")) for guess in guesses if guess is not None]
    fix = " ".join([*(["Did you mean {suggestions}?"] if suggestions else []),
                    *(["The options are {known}."] if None in guesses else [])])
    raise DataError(f"Unknown option{'s' if len(unknown) > 1 else ''} {{unknown}} for {{function}}.", fix,
                    function=function, unknown=few(unknown), suggestions=few(suggestions), known=every(known))


def _closest(name: str, known: list[str]) -> str | None:
    """batchSize, batch.size or batch_sise -> batch_size; precision -> teacher_precision (when only one ends so)."""
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", str(name)).replace(".", "_").replace("-", "_").lower()
    if snake in known:
        return snake
    ending = [k for k in known if k.endswith("_" + snake)]
    if len(ending) == 1:
        return ending[0]
    close = difflib.get_close_matches(snake, known, n=1, cutoff=0.75)
    return close[0] if close else None


def for_r(entry: str) -> dict[str, str]:
    """{option name: how R converts it} for the options `entry` takes (Rpkg/R/checks.R)."""
    return {o.name: o.kind.r for o in declared(entry)}


def defaults(entry: str) -> dict[str, object]:
    """{option name: default} for the options `entry` takes."""
    return {o.name: o.default for o in declared(entry)}


def described(entry: str, language: str = "python") -> dict[str, list[str]]:
    """The options `entry` takes as columns: name, default (as code in `language`) and description."""
    chosen = declared(entry)
    return {"name": [o.name for o in chosen], "default": [literal(o.default, language) for o in chosen],
            "description": [o.doc for o in chosen]}


def with_docs(docstring: str, entry: str, indent: str = "    ") -> str:
    """`docstring` (ending in "Options:") followed by a line for each option `entry` takes: "name: what it does"."""
    lines = []
    for option in declared(entry):
        lines += textwrap.wrap(f"{option.name}: {option.doc}", width=92, initial_indent=indent,
                               subsequent_indent=indent + "    ")
    return docstring.rstrip() + "\n" + "\n".join(lines) + "\n"
