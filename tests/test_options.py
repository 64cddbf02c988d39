"""Each option is declared once (pykd.run.options); every copy agrees with the declaration."""

import inspect

import pytest

import pykd
from pykd.cli import ENTRY, build_parser
from pykd.run import options
from pykd.run.kinds import flag_name
from pykd.run.schedule import PEAK

# The entry points whose signatures list their options, and the arguments that are not options.
SIGNED = {
    "distill": (pykd.distill, {"teacher", "student", "train"}),
    "train_scratch": (pykd.train_scratch, {"student", "train"}),
    "evaluate": (pykd.evaluate, {"model", "data"}),
    "predict": (pykd.predict, {"model", "data"}),
    "compare": (pykd.compare, {"models", "data"}),
    "teacher_logits": (pykd.teacher_logits, {"teacher", "data", "path"}),
    "export": (pykd.export, {"model", "path", "format", "quantize", "representative"}),
}
# Entry points that pass **options on, and their own named arguments.
PASSING = {"sweep": pykd.sweep, "noisy_student": pykd.noisy_student, "out_of_fold_logits": pykd.out_of_fold_logits}


@pytest.mark.parametrize("entry", SIGNED)
def test_each_signature_lists_the_declared_options_with_their_defaults_and_types(entry):
    function, others = SIGNED[entry]
    parameters = {n: p for n, p in inspect.signature(function).parameters.items() if n not in others}
    declared = {o.name: o for o in options.declared(entry)}
    assert list(parameters) == list(declared), "the signature's options, in declaration order"
    for name, parameter in parameters.items():
        assert parameter.kind == parameter.KEYWORD_ONLY, name
        assert parameter.default == declared[name].default, name
        assert parameter.annotation.replace("'", '"') == declared[name].kind.hint, name


@pytest.mark.parametrize("entry", PASSING)
def test_functions_that_pass_options_on_take_none_of_them_themselves(entry):
    named = set(inspect.signature(PASSING[entry]).parameters)
    passed = {o.name for o in options.declared(entry)}
    assert not passed & named
    assert set(options.OWN[entry]) <= named | set(options.FIXED.get(entry, ())) | {"temperature", "alpha"}


@pytest.mark.parametrize("entry", ["distill", "train_scratch", "evaluate", "predict", "teacher_logits", "export"])
def test_every_option_is_documented_in_the_docstring(entry):
    function = SIGNED[entry][0]
    doc = inspect.getdoc(function)
    for option in options.declared(entry):
        assert f"{option.name}:" in doc, option.name


@pytest.mark.parametrize("command", ENTRY)
def test_every_option_with_a_command_line_form_is_a_flag_defaulting_to_its_default(command):
    parser = build_parser()
    required = {"distill": ["--teacher", "t", "--student", "s", "--train", "x"],
                "train-scratch": ["--student", "s", "--train", "x"], "evaluate": ["--model", "m", "--data", "d"],
                "predict": ["--model", "m"], "compare": ["--model", "m", "--data", "d"],
                "export": ["--model", "m", "--out", "o"]}[command]
    args = parser.parse_args([command, *required])
    flagged = [o for o in options.declared(ENTRY[command]) if o.kind.cli() is not None and o.cli]
    assert flagged
    for option in flagged:
        assert getattr(args, option.name) == option.default, option.name
    usage = parser._subparsers._group_actions[0].choices[command].format_usage()
    assert all(flag_name(o.name) in usage for o in flagged)


def test_flags_read_choices_numbers_and_lists_as_the_functions_take_them():
    args = build_parser().parse_args(["distill", "--teacher", "t", "--student", "s", "--train", "x",
                                      "--cache-teacher", "false", "--cache-images", "auto", "--batch-size", "64",
                                      "--y-col", "CBB,CMD", "--classes", "a,b", "--image-size", "32", "48",
                                      "--learning-rate", "0.01", "--resume", "--teacher-precision", "float32"])
    assert (args.cache_teacher, args.cache_images, args.batch_size) == (False, "auto", 64)
    assert (args.y_col, args.classes, args.image_size) == (["CBB", "CMD"], ["a", "b"], [32, 48])
    assert (args.learning_rate, args.resume, args.teacher_precision) == (0.01, True, "float32")


def test_an_unknown_name_is_refused_with_the_name_meant_in_each_language():
    with pytest.raises(pykd.DataError) as raised:
        options.check_names("distill", ["batchSize", "learning_rat", "zzz"])
    python, r = raised.value.render("python"), raised.value.render("r")
    assert "Unknown options 'batchSize', 'learning_rat', 'zzz' for distill()" in python["problem"]
    assert python["fix"].startswith("Did you mean batch_size=..., learning_rate=...? The options are 'directory', ")
    assert r["fix"].startswith("Did you mean batch_size = ..., learning_rate = ...?")
    with pytest.raises(pykd.DataError, match=r"Did you mean teacher_precision=\.\.\.\?$"):
        options.check_names("teacher_logits", ["precision"])
    options.check_names("distill", ["batch_size", "hint"])
    with pytest.raises(pykd.DataError, match="temperature"):
        options.check_names("train_scratch", ["temperature"])  # a distill() option only
    with pytest.raises(pykd.DataError, match="no function 'fit'"):
        options.declared("fit")
    with pytest.raises(pykd.DataError) as raised:  # set by noisy_student() itself: said so, not "unknown"
        options.check_names("noisy_student", ["teacher_view", "epochs"], "rkd_noisy_student")
    python, r = raised.value.render("python"), raised.value.render("r")
    assert (python["problem"], python["fix"]) == ("noisy_student() always uses teacher_view='clean'.", "Leave teacher_view out.")
    assert r["problem"] == 'rkd_noisy_student() always uses teacher_view = "clean".'


def test_every_option_is_checked_by_its_kind_and_made_plain():
    given = options.given("distill", {**options.defaults("distill"), "batch_size": 64.0, "seed": 3.0,
                                      "augment": {"horizontal_flip": True}, "cache_dir": "caches"})
    checked = options.checked(given)
    assert (checked.batch_size, checked.seed, checked.verbose) == (64, 3, 1)
    assert isinstance(checked.batch_size, int) and checked.augment == pykd.Augmentation(horizontal_flip=True)
    assert checked.cache_dir == "caches"
    assert checked.learning_rate == PEAK and checked.callbacks == ()  # the schedule's peak
    with pytest.raises(pykd.DataError, match="last_batch must be one of 'keep', 'drop', not 'all'"):
        options.checked(options.given("distill", {**options.defaults("distill"), "last_batch": "all"}))


def test_the_resume_key_and_the_params_hold_the_options_declared_for_them(digits):
    from conftest import tiny_model

    from pykd.run.plan import prepare
    from pykd.run.resume import run_key

    plan = prepare("distill", tiny_model(seed=2), tiny_model(seed=1), digits["train_csv"],
                   options.given("distill", {**options.defaults("distill"), "directory": digits["directory"],
                                             "classes": digits["classes"], "verbose": 0}))
    key = run_key(plan)
    for name in {o.resume for o in options.OPTIONS if o.resume} - {"teacher_view", "hint", "weights",
                                                                    "frozen_precision"}:  # when they apply
        assert name in key
    history = pykd.distill(tiny_model(seed=1), tiny_model(seed=2), digits["train_csv"], directory=digits["directory"],
                           classes=digits["classes"], epochs=1, steps_per_epoch=1, batch_size=8, verbose=0)
    assert {o.name for o in options.OPTIONS if o.params} <= set(history.params)


def test_r_is_told_how_to_convert_each_option():
    conversions = options.for_r("distill")
    assert conversions["batch_size"] == "integer" and conversions["cache_dir"] == "path"
    assert conversions["validation"] == "table" and conversions["callbacks"] == "callbacks"
    assert conversions["temperature"] == "value"
    described = options.described("train_scratch", "r")
    row = described["name"].index("cache_images")
    assert described["default"][row] == '"auto"' and "uint8" in described["description"][row]
    assert described["default"][described["name"].index("resume")] == "FALSE"
