"""Messages read well in both languages: Python values in Python, R values in R, no Python-only words in R.

Each case raises the DataError a user meets (most of them first seen from R) and checks
its Python rendering and its R rendering (`render("r")`, what the rkd package shows).
"""

import importlib
import pickle
import re

import numpy as np
import pandas as pd
import pytest
from conftest import SIZE, tiny_model, write_images

import pykd
from pykd import DataError, models
from pykd._tf import keras
from pykd.core.errors import Few, Setting, Words, every, few, kind, literal, plural
from pykd.core.validation import one_of, real_number, whole_number
from pykd.data.augmentation import Augmentation
from pykd.data.bad_images import report_bad_images
from pykd.data.frames import check_labels_fit, read_table, resolve_table
from pykd.data.labels import check_classes, label_ids, label_layout
from pykd.models.inputs import image_spec
from pykd.models.introspection import input_shape, outputs_are_probabilities
from pykd.run.settings import callback_list, optimizer_recipe

sweep_module = importlib.import_module("pykd.recipes.sweep")  # pykd.sweep is the function

# What an R user must never read: Python's None/True/False, its type names, its list brackets
# (an interval such as [0, 1] is no list) and its single-quoted strings.
PYTHON_ONLY = re.compile(r"\bNone\b|\bTrue\b|\bFalse\b|\bdict\b|\bfloat\b|\bstr\b|\[(?!0, 1[\])])|'[^'\s]*'")


def both(err: DataError) -> tuple[str, str]:
    """(Python message, R message) of `err`; the R one checked for Python-only words."""
    r = err.message("r")
    assert not PYTHON_ONLY.search(r), f"Python words in the R message: {r!r}"
    return err.message("python"), r


def raised(function, *args, **kwargs) -> tuple[str, str]:
    with pytest.raises(DataError) as info:
        function(*args, **kwargs)
    return both(info.value)


@pytest.fixture(scope="module")
def student():
    return models.example_student((SIZE, SIZE, 3), n_classes=3, seed=1)


@pytest.fixture
def folder(tmp_path):
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        (tmp_path / name).write_bytes(b"x")
    return tmp_path


# --- the helpers ---------------------------------------------------------------------------------------------


def test_kind_describes_a_value_in_each_language():
    assert literal(kind(42.0)) == "a number (42.0)" and literal(kind(42.0), "r") == "a number (42)"
    assert literal(kind("flip")) == "text ('flip')" and literal(kind("flip"), "r") == 'text ("flip")'
    assert literal(kind([1, 2])) == "a list of length 2" and literal(kind([1, 2]), "r") == "a vector or list of length 2"
    assert literal(kind({"a": 1})) == "a dict" and literal(kind({"a": 1}), "r") == "a named list"
    assert literal(kind(None), "r") == "NULL" and literal(kind(np.bool_(True)), "r") == "TRUE"
    assert literal(np.bool_(False), "r") == "FALSE" and literal(np.float64(2.0), "r") == "2"
    assert literal(kind(object())) == literal(kind(object()), "r") == "an object of class object"


def test_every_shows_all_items_and_words_differ_by_language():
    names = [f"n{i}" for i in range(7)]
    assert literal(few(names)).endswith("'n4' and 2 more")
    assert literal(every(names), "r") == ", ".join(f'"{n}"' for n in names)
    assert literal(few(names, limit=3), "r") == '"n0", "n1", "n2" and 4 more'
    assert literal(Words("load_model()", "rkd_load_model()"), "r") == "rkd_load_model()"
    assert literal(Words("load_model()", "rkd_load_model()"), "cli") == "load_model()"
    assert plural(1, "file is", "files are") == "file is" and plural(2, "file is", "files are") == "files are"
    err = DataError("{a} {b}", a=every(names), b=Words("x", "y"))
    assert pickle.loads(pickle.dumps(err)).message("r") == err.message("r")
    assert Few(names).limit == 5


# --- 1 to 7: settings ------------------------------------------------------------------------------------------


def test_1_rescale_names_none_in_each_language(student):
    python, r = raised(image_spec, student, None, 0)
    assert python.startswith("rescale must be a finite number other than 0, or None, not 0.")
    assert r == ("rescale must be a finite number other than 0, or NULL, not 0. Pixels are multiplied by rescale: "
                 "use rescale = 1/255 to scale them to [0, 1], or NULL to leave them.")


def test_2_horizontal_flip_names_the_logicals_in_each_language():
    python, r = raised(Augmentation, horizontal_flip="yes")
    assert python == "Augmentation horizontal_flip must be True or False, not 'yes'. For example horizontal_flip=True."
    assert r == 'Augmentation horizontal_flip must be TRUE or FALSE, not "yes". For example horizontal_flip = TRUE.'


def test_3_augment_of_the_wrong_kind():
    python, r = raised(Augmentation.coerce, "flip")
    assert python == ("augment must be None, a pykd.Augmentation or a dict of its settings, not text ('flip'). "
                      "For example augment={'horizontal_flip': True}.")
    assert r == ('augment must be NULL, augmentation() or a named list of its settings, not text ("flip"). '
                 "For example augment = list(horizontal_flip = TRUE).")


@pytest.mark.parametrize("model,python_kind,r_kind", [
    (42.0, "a number (42.0)", "a number (42)"),
    ([1.0], "a list of length 1", "a vector or list of length 1"),
])
def test_4_a_model_of_the_wrong_kind(model, python_kind, r_kind):
    python, r = raised(models.load_model, model, role="student")
    assert python == (f"The student must be a Keras model or the path of a .keras or .h5 file, not {python_kind}. "
                      "Build it with Keras, or load a saved one with load_model().")
    assert r == (f"The student must be a Keras model or the path of a .keras or .h5 file, not {r_kind}. "
                 "Build it with Keras, or load a saved one with rkd_load_model().")


def test_5_unknown_augmentation_settings_list_every_valid_name():
    python, r = raised(Augmentation.coerce, {"vertical_flip": True})
    names = ["rotation_range", "width_shift_range", "height_shift_range", "shear_range", "zoom_range",
             "horizontal_flip", "fill_mode", "mixup", "cutmix"]
    assert r == 'Unknown augmentation setting: "vertical_flip". The settings are ' + ", ".join(f'"{n}"' for n in names) + "."
    assert "more" not in python and python.startswith("Unknown augmentation setting: 'vertical_flip'.")
    _, r = raised(Augmentation.coerce, {"vertical_flip": True, "brightness": 1})
    assert r.startswith('Unknown augmentation settings: "brightness", "vertical_flip".')
    _, r = raised(Augmentation, fill_mode="mirror")
    assert r.startswith('Augmentation fill_mode must be one of "reflect", "wrap", "constant", "nearest", not "mirror".')


@pytest.mark.parametrize("size,part,value", [([224, 0], "width", 0), ([0, 224], "height", 0), ([224, 1.5], "width", 1.5)])
def test_6_image_size_names_height_and_width_not_an_index(student, size, part, value):
    python, r = raised(image_spec, student, size, None)
    assert r.startswith(f"The {part} in image_size must be")
    assert python.startswith(f"The {part} in image_size must be") and f"not {value}." in python
    assert "[0]" not in python + r and "[1]" not in python + r
    _, r = raised(models.classifier, "mobilenet_v3_small", 5, (32, 32.5, 3))
    assert r.startswith("The width in input_shape must be a whole number >= 1, not 32.5.")


@pytest.mark.parametrize("name,minimum,means", [
    ("seed", 0, "a different random start each time"),
    ("steps_per_epoch", 1, "one pass over the table"),
    ("validation_steps", 1, "one pass over the validation table"),
])
def test_7_each_setting_says_what_none_means_for_it(name, minimum, means):
    python, r = raised(whole_number, 1.5, name, minimum=minimum, allow_none=True)
    assert python == (f"{name} must be a whole number >= {minimum}, not 1.5. "
                      f"Give one whole number, for example {name}=8, or None for {means}.")
    assert r == (f"{name} must be a whole number >= {minimum}, not 1.5. "
                 f"Give one whole number, for example {name} = 8, or NULL for {means}.")


def test_7_seed_from_distill(tmp_path):
    directory = tmp_path / "img"
    table = pd.DataFrame({"image_id": write_images(directory, 6, size=SIZE), "label": [0, 1, 2] * 2})
    with pytest.raises(DataError) as info:
        pykd.distill(tiny_model(n_classes=3, seed=1), tiny_model(n_classes=3, seed=2), table,
                     directory=str(directory), seed=1.5, epochs=1, verbose=0)
    _, r = both(info.value)
    assert r.endswith("or NULL for a different random start each time.") and "one pass" not in r


# --- 8 to 11, 14: tables ---------------------------------------------------------------------------------------


def test_8_one_hot_values_other_than_0_and_1_are_named_with_column_and_row(folder):
    digits = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    frame = pd.DataFrame({"image_id": ["a.jpg", "b.jpg", "c.jpg"], **{c: [0, 0, 0] for c in digits}})
    frame.loc[2, "three"] = 2
    python, r = raised(resolve_table, frame, directory=folder, y_col=digits)
    assert python.startswith("The train table's one-hot columns must hold only 0 and 1, not 2 in column 'three' (row 3).")
    assert r.startswith('The train table\'s one-hot columns must hold only 0 and 1, not 2 in column "three" (row 3).')
    assert "do not" not in r
    frame["five"] = pd.Series([0, "yes", 0], dtype=object)  # text is not read as 0
    _, r = raised(resolve_table, frame, directory=folder, y_col=digits)
    assert 'not "yes" in column "five" (row 2), 2 in column "three" (row 3).' in r
    blank = pd.DataFrame({"image_id": ["a.jpg", "b.jpg"], "A": ["1", ""], "B": ["0", "NA"]})
    assert resolve_table(blank, directory=folder, y_col=["A", "B"]).labels.tolist() == [0, -1]


def test_9_counts_agree_with_their_verbs(folder):
    one_missing = pd.DataFrame({"image_id": ["a.jpg", "gone.jpg"], "label": [0, 1]})
    python, r = raised(resolve_table, one_missing, directory=folder, name="validation")
    assert python.startswith("1 of 2 image files in the validation table is missing from ")
    assert r.endswith(': "gone.jpg". Check directory and x_col, or drop the row whose image is missing.')
    two_missing = pd.DataFrame({"image_id": ["a.jpg", "gone.jpg", "lost.jpg"], "label": [0, 1, 1]})
    python, _ = raised(resolve_table, two_missing, directory=folder)
    assert "2 of 3 image files in the train table are missing" in python and "rows whose images are" in python
    python, r = raised(report_bad_images, {"a.jpg": "truncated"}, "error")
    assert python == "1 image file is unreadable: a.jpg (truncated). Remove or replace it, or pass on_bad_image='skip' to train without it."
    assert r.endswith('pass on_bad_image = "skip" to train without it.')
    table = resolve_table(pd.DataFrame({"image_id": ["a.jpg"], "label": [7]}), directory=folder)
    python, _ = raised(check_labels_fit, table, 3)
    assert "has label 7 (row 1) but the models output only 3 classes (0..2). Fix that label," in python
    with pytest.warns(UserWarning, match=r"Skipped 1 unreadable image file: a.jpg\."):
        report_bad_images({"a.jpg": "truncated"}, "skip")


@pytest.mark.parametrize("dtype", ["string", "str", object])
def test_10_empty_and_na_text_labels_are_missing_in_every_string_dtype(folder, dtype):
    labels = pd.Series(["1", "", "NA"], dtype=dtype)
    table = resolve_table(pd.DataFrame({"image_id": ["a.jpg", "b.jpg", "c.jpg"], "label": labels}),
                                 directory=folder)
    assert table.labels.tolist() == [1, -1, -1]
    named = pd.Series(["CMD", "", "NA"], dtype=dtype)
    assert resolve_table(pd.DataFrame({"image_id": ["a.jpg", "b.jpg", "c.jpg"], "label": named}),
                                directory=folder, classes=["CBB", "CMD"]).labels.tolist() == [1, -1, -1]


def test_10_a_table_as_r_sends_it_with_empty_labels(folder):
    sent = {"image_id": ["a.jpg", "b.jpg", "c.jpg"], "label": ["CBB", "", "CMD"]}  # pandas 3 makes this its str dtype
    assert resolve_table(sent, directory=folder, classes=["CBB", "CMD"]).labels.tolist() == [0, -1, 1]


@pytest.mark.parametrize("y_col,python_kind,r_kind", [
    (1.0, "a number (1.0)", "a number (1)"),
    (["CBB", 2.0], "a number (2.0)", "a number (2)"),
    ({"a": 1}, "a dict", "a named list"),
])
def test_11_y_col_of_the_wrong_kind(folder, y_col, python_kind, r_kind):
    frame = pd.DataFrame({"image_id": ["a.jpg"], "label": [0]})
    python, r = raised(resolve_table, frame, directory=folder, y_col=y_col)
    assert python == (f"y_col must be a column name, a list of one-hot column names, or None, not {python_kind}. "
                      "For example y_col='label', or y_col=['CBB', 'CBSD', 'CMD'].")
    assert r == (f"y_col must be a column name, a vector of one-hot column names, or NULL, not {r_kind}. "
                 'For example y_col = "label", or y_col = c("CBB", "CBSD", "CMD").')
    _, r = raised(label_layout, frame, y_col, None)  # evaluate() and validation tables start here
    assert r.startswith("y_col must be a column name")


def test_11_a_one_hot_table_missing_a_class_column_is_told_which():
    frame = pd.DataFrame({"image_id": ["a.jpg"], "CBB": [1], "CMD": [0]})
    for y_col, classes in (("label", ["CBB", "CBSD", "CMD"]), (["CBB", "CBSD", "CMD"], None)):
        python, r = raised(label_layout, frame, y_col, classes, "validation")
        assert python.startswith("The validation table has one-hot label columns but none for the class 'CBSD': "
                                 "each of the 3 classes needs its column. Add the column: 1 for the images")
        assert r.startswith('The validation table has one-hot label columns but none for the class "CBSD"')


def test_11_x_col_of_the_wrong_kind(folder):
    frame = pd.DataFrame({"image_id": ["a.jpg"], "label": [0]})
    python, r = raised(resolve_table, frame, directory=folder, x_col=1.0)
    assert python == "x_col must be the name of the column of image file names, not a number (1.0). For example x_col='image_id'."
    assert r == 'x_col must be the name of the column of image file names, not a number (1). For example x_col = "image_id".'


def test_11_and_1_through_distill(tmp_path):
    directory = tmp_path / "img"
    table = pd.DataFrame({"image_id": write_images(directory, 6, size=SIZE), "label": [0, 1, 2] * 2})
    for options, start in [({"y_col": 1}, "y_col must be a column name"), ({"rescale": 0}, "rescale must be"),
                           ({"image_size": [SIZE, 0]}, "The width in image_size must be >= 1")]:
        with pytest.raises(DataError) as info:
            pykd.distill(tiny_model(n_classes=3, seed=1), tiny_model(n_classes=3, seed=2), table,
                         directory=str(directory), epochs=1, verbose=0, **options)
        assert both(info.value)[1].startswith(start)


def test_14_label_ids_is_the_public_reading_of_a_label_column():
    assert label_ids(["CMD", "", None, "CBB", "NA", float("nan")], ["CBB", "CMD"]) == [1, -1, -1, 0, -1, -1]
    assert label_ids([0, 2.0, float("nan")]) == [0, 2, -1]
    assert label_ids("CMD", ["CBB", "CMD"]) == [1]  # one R value arrives as a scalar
    assert label_ids(pd.Series(["1", "", "0"], dtype="string")) == [1, -1, 0]
    assert label_ids(np.array([1, 0])) == [1, 0]
    python, r = raised(label_ids, ["CBB", "eleven"], ["CBB", "CMD"], "df", "class")
    assert python.startswith("The df table's label column 'class' has values that are not whole-number class ids ('eleven') in row 2.")
    assert r.startswith('The df table\'s label column "class" has values')
    _, r = raised(label_ids, [0, 1], ["CBB"])
    assert r.startswith('classes must name at least two classes, not c("CBB").')


def test_tables_of_the_wrong_kind(folder):
    _, r = raised(read_table, 3)
    assert r == ("The train table must be a data frame or the path of a CSV file, not a number (3). "
                 "Give a data frame, or the path of a CSV file with one row per image.")
    _, r = raised(read_table, {"a": [1, 2], "b": [1, 2, 3]})
    assert r.startswith("The train table's columns have different lengths: 2, 3.")
    _, r = raised(check_classes, 3)
    assert r.startswith("classes must be a list of class names, not a number (3).")


# --- 12: the model helpers -------------------------------------------------------------------------------------


def test_12_model_helpers_refuse_what_is_not_a_model(student, tmp_path):
    for function, args in [(models.set_trainable, ("model", False)), (models.describe, ("model",)),
                           (models.save_model, ("model", str(tmp_path / "m.keras")))]:
        python, r = raised(function, *args)
        assert python == ("The model must be a Keras model, not text ('model'). "
                          "Build it with Keras, or load a saved one with load_model().")
        assert r == 'The model must be a Keras model, not text ("model"). Build it with Keras, or load a saved one with rkd_load_model().'
    python, r = raised(models.set_trainable, student, "no")
    assert python == "trainable must be True or False, not 'no'." and r == 'trainable must be TRUE or FALSE, not "no".'
    _, r = raised(models.set_trainable, student, False, 3)
    assert r == "The layer to start from must be a layer name, or NULL for the whole model, not a number (3)."
    _, r = raised(models.save_model, student, 3)
    assert r == 'The file to save to must be a path ending in .keras, not a number (3). For example path = "student.keras".'
    assert models.describe(student)["n_outputs"] == 3


@pytest.mark.parametrize("example", [models.example_teacher, models.example_student])
def test_12_example_models_check_their_settings(example):
    assert models.describe(example((SIZE, SIZE), n_classes=3))["input_shape"] == [SIZE, SIZE, 3]  # (h, w) is RGB
    _, r = raised(example, (2, 2, 3))
    assert re.fullmatch(r"The example (teacher|student) takes images of at least \dx\d pixels, not 2x2\. "
                        r"For example input_shape = c\(32, 32, 3\)\.", r)
    python, r = raised(example, (32, 32, 3), 0)
    assert python == r == "n_classes must be >= 2, not 0."
    _, r = raised(example, (32, 32, 3), 10, 1.5)
    assert r.startswith("seed must be a whole number >= 0, not 1.5.") and r.endswith("NULL for a different random start each time.")
    _, r = raised(example, (32, 32, 3), 2.5)
    assert r.startswith("n_classes must be a whole number >= 2, not 2.5.")
    _, r = raised(example, "32")
    assert r.startswith('input_shape must be (height, width, channels), not "32".')


def test_12_subclassed_models_get_a_fix_in_each_language():


    class Subclassed(keras.Model):
        def call(self, x):
            return x

    python, r = raised(input_shape, Subclassed(name="net"))
    assert python.endswith("starting from keras.Input((height, width, channels)).") and "'net'" in python
    assert r.endswith("starting from keras3::keras_input(shape = c(height, width, channels)).") and '"net"' in r


# --- 13: sweep -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("grid,start", [
    ({"temperatures": (2, -1)}, "temperature must be a number > 0, not -1."),
    ({"alphas": (0.5, 2)}, "alpha must be a number in [0, 1] (it weights the hard-label loss), not 2."),
    ({"alphas": ["0.5"]}, 'alpha must be a number in [0, 1] (it weights the hard-label loss), not "0.5".'),
    ({"temperatures": []}, "temperatures must be a vector of one or more numbers, not a vector or list of length 0."),
    ({"temperatures": 4}, "temperatures must be a vector of one or more numbers, not a number (4)."),
    ({"alphas": "0.5"}, 'alphas must be a vector of one or more numbers, not text ("0.5").'),
])
def test_13_sweep_checks_every_pair_before_any_work(monkeypatch, tmp_path, grid, start):
    def never(*args, **kwargs):
        raise AssertionError("the sweep started working before checking its grid")

    monkeypatch.setattr(sweep_module, "teacher_logits", never)
    monkeypatch.setattr(sweep_module, "distill", never)
    monkeypatch.setattr(sweep_module, "load_model", never)
    with pytest.raises(DataError) as info:
        pykd.sweep(tiny_model(n_classes=3), tiny_model(n_classes=3), pd.DataFrame(), directory=str(tmp_path), **grid)
    assert both(info.value)[1].startswith(start)


def test_13_the_grid_is_every_pair_as_floats():
    assert sweep_module.grid(np.array([1, 2]), [0.5]) == [(1.0, 0.5), (2.0, 0.5)]


# --- other messages of these modules read well in R too --------------------------------------------------------


@pytest.mark.parametrize("function,args,expected_r", [
    (callback_list, (["x"],),
     'callbacks must be Keras callbacks, not text ("x"). Pass Keras callback objects, e.g. keras3::callback_early_stopping().'),
    (optimizer_recipe, (3, None),
     'optimizer must be an optimizer name or a Keras optimizer, not a number (3). Use a name such as "adam" or "sgd", '
     "or a Keras optimizer."),
    (optimizer_recipe, ("adamm", None),
     'Unknown optimizer "adamm". Use a name such as "adam" or "sgd", or a Keras optimizer.'),
    (one_of, ("x", "cache_teacher", ("auto", True, False)), 'cache_teacher must be one of "auto", TRUE, FALSE, not "x".'),
    (real_number, (None, "dropout"), "dropout must be a finite number, not NULL."),
    (outputs_are_probabilities, (None, "softmax", "teacher"),
     'teacher_outputs must be one of "auto", "logits", "probabilities", not "softmax". "auto" reads it from the last '
     'layer; say "probabilities" for a model ending in softmax.'),
    (models.classifier, ("mobilenet_v3_small", 5, (32, 32, 3), 3),
     'weights must be NULL, "imagenet" or the path of a weights file, not a number (3).'),
    (models.classifier, ("mobilenet_v3_small", 5, (32, 32, 3), None, "yes"), 'freeze_backbone must be TRUE or FALSE, not "yes".'),
])
def test_other_messages_in_r(function, args, expected_r):
    assert raised(function, *args)[1] == expected_r


def test_settings_render_for_the_command_line_too():
    err = DataError("{a}", "{b}", a=Setting("seed", None), b=Words("load_model()", "rkd_load_model()", cli="--student"))
    assert err.render("cli") == {"problem": "--seed None", "fix": "--student"}


def test_a_table_without_its_directory_is_refused_by_every_function_that_reads_images(digits):
    model = tiny_model(seed=1)
    calls = [lambda: pykd.evaluate(model, digits["validation_csv"], y_col=list(digits["classes"])),
             lambda: pykd.predict(model), lambda: pykd.teacher_logits(model, digits["train_csv"]),
             lambda: pykd.compare({"m": model}, digits["validation_csv"], y_col=list(digits["classes"]))]
    for call in calls:
        with pytest.raises(DataError, match=r"^directory is not set, and .*Set directory to the folder"):
            call()
