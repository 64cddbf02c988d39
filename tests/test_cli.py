"""The command line: `python -m pykd demo`, `distill`, `train-scratch`, `evaluate`, `predict`, `export`,
`compare`. Each runs in this process through pykd.cli.main; one smoke test runs `python -m pykd` itself."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pandas as pd
import tensorflow as tf
from conftest import tiny_model

import pykd
from pykd.cli import main

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


def test_python_dash_m_pykd_interrupted_writes_the_finished_epochs_and_says_how_to_resume(digits, tmp_path):
    student, out, ckpt = tmp_path / "s.keras", tmp_path / "out", tmp_path / "ckpt"
    pykd.models.save_model(tiny_model(seed=2), student)
    command = ["train-scratch", "--student", str(student), "--train", digits["train_csv"], "--directory",
               digits["directory"], "--epochs", "50", "--steps-per-epoch", "20", "--batch-size", "8", "--verbose", "0",
               "--checkpoint-dir", str(ckpt), "--out", str(out)]
    # Ctrl-C raises KeyboardInterrupt in the child even where this process was started ignoring SIGINT.
    ctrl_c = "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); " \
             "sys.argv[0] = 'pykd'; runpy.run_module('pykd', run_name='__main__')"
    proc = subprocess.Popen([sys.executable, "-c", ctrl_c, *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=ENV)
    deadline = time.time() + 300
    while proc.poll() is None and time.time() < deadline:  # Ctrl-C once the first epoch is checkpointed
        meta = pykd.run.checkpoint.read_meta(ckpt) if ckpt.is_dir() else None
        if meta is not None and meta["records"]:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130, stdout + stderr
    assert re.search(r"Interrupted after epoch \d+ of 50: Saved the trained student to .*student.keras; wrote "
                     r".*history.csv and .*history.png\. Run the same command with --resume to continue\.", stderr)
    assert "Traceback" not in stderr and "oneDNN" not in stderr  # no raw traceback; TensorFlow's banner is filtered
    finished = pd.read_csv(out / "history.csv")
    assert 1 <= len(finished) < 50 and finished["epoch"].tolist() == list(range(1, len(finished) + 1))
    assert pykd.models.load_model(out / "student.keras").count_params() == tiny_model().count_params()
    assert (out / "history.png").stat().st_size > 5000
    # The same command again would replace the student: refused, unless --overwrite; with --resume it continues.
    before = (out / "student.keras").read_bytes()
    assert main(command) == 2
    assert (out / "student.keras").read_bytes() == before
    assert main([*command, "--resume"]) == 0
    assert pd.read_csv(out / "history.csv")["epoch"].tolist() == list(range(1, 51))


def test_the_outputs_of_a_training_command_may_be_urls(digits, tmp_path, capsys):
    student, out = tmp_path / "s.keras", f"ram://pykd-cli-{tmp_path.name}/run"
    pykd.models.save_model(tiny_model(seed=2), student)
    command = ["train-scratch", "--student", str(student), "--train", digits["train_csv"], "--directory",
               digits["directory"], "--epochs", "1", "--steps-per-epoch", "2", "--verbose", "0", "--out", out]
    assert main(command) == 0
    assert f"Saved the trained student to {out}/student.keras; wrote {out}/history.csv" in capsys.readouterr().out
    assert sorted(tf.io.gfile.listdir(out)) == ["history.csv", "history.png", "student.keras"]
    assert not os.path.exists("ram:")  # nothing written to a local folder named after the URL
    assert main(command) == 2
    refused = capsys.readouterr().err
    assert f"error: '{out}/student.keras' already holds a student" in refused and "Pass --overwrite" in refused
    assert main([*command, "--overwrite"]) == 0
    assert main(["predict", "--model", f"{out}/student.keras", "--directory", digits["directory"], "--out",
                 f"{out}/predictions.csv"]) == 0
    assert len(pd.read_csv(tf.io.gfile.GFile(f"{out}/predictions.csv"))) == len(os.listdir(digits["directory"]))


def test_demo_writes_the_table_history_and_plots(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--size", "16", "--teacher-epochs", "1", "--teacher-steps", "2",
                 "--student-epochs", "2", "--verbose", "0"]) == 0
    shown = capsys.readouterr().out
    for row in ("teacher", "student (scratch)", "student (distilled)"):
        assert row in shown
    history = pd.read_csv(out / "history.csv")
    assert set(history["model"]) == {"teacher", "scratch", "distilled"}
    results = json.loads((out / "results.json").read_text())
    assert results["teacher"]["params"] > 10 * results["student (distilled)"]["params"]
    lite = results["tflite"]  # the distilled student as float32 and int8 files, weighed by compare()
    assert lite["int8"]["bytes"] < lite["float32"]["bytes"] == (out / "student.tflite").stat().st_size
    assert lite["float32"]["agreement"] >= 0.99 and 0 <= lite["int8"]["agreement"] <= 1
    assert abs(lite["int8"]["params"] - results["student (distilled)"]["params"]) <= 0.01 * lite["int8"]["params"]
    assert (out / "students.png").stat().st_size > 5000 and (out / "distilled_history.png").is_file()


def test_distill_command_trains_saves_and_reports_bad_input(digits, tmp_path, capsys):
    teacher, student = tmp_path / "t.keras", tmp_path / "s.keras"
    pykd.models.save_model(tiny_model(seed=1), teacher)
    pykd.models.save_model(tiny_model(seed=2), student)
    out = tmp_path / "out"
    common = ["distill", "--teacher", str(teacher), "--student", str(student), "--directory", digits["directory"]]
    assert main([*common, "--train", digits["train_csv"], "--validation", digits["validation_csv"],
                 "--y-col", "label", "--epochs", "2", "--steps-per-epoch", "3", "--verbose", "0",
                 "--save-student", str(tmp_path / "trained.keras"), "--out", str(out)]) == 2
    assert "error: The validation table has no column 'label'" in capsys.readouterr().err
    assert main([*common, "--train", digits["train_csv"], "--epochs", "2", "--steps-per-epoch", "3", "--verbose", "0",
                 "--save-student", str(tmp_path / "trained.keras"), "--out", str(out)]) == 0
    assert len(pd.read_csv(out / "history.csv")) == 2 and (out / "history.png").is_file()
    trained = pykd.models.load_model(tmp_path / "trained.keras")
    assert trained.count_params() == tiny_model().count_params()


def test_train_scratch_always_writes_the_student_and_evaluate_reads_it(digits, tmp_path, capsys):
    student = tmp_path / "s.keras"
    pykd.models.save_model(tiny_model(seed=2), student)
    out = tmp_path / "out"
    assert main(["train-scratch", "--student", str(student), "--train", digits["train_csv"], "--directory",
                 digits["directory"], "--epochs", "1", "--steps-per-epoch", "2", "--verbose", "0", "--out", str(out)]) == 0
    assert (out / "student.keras").is_file() and "Saved the trained student" in capsys.readouterr().out
    assert main(["evaluate", "--model", str(out / "student.keras"), "--data", digits["validation_csv"],
                 "--directory", digits["directory"], "--y-col", ",".join(digits["classes"])]) == 0
    assert set(json.loads(capsys.readouterr().out.strip().splitlines()[-1])) == {"loss", "accuracy", "n"}


def test_train_scratch_reads_a_folder_of_class_subfolders(digits, tmp_path):
    table = pd.read_csv(digits["train_csv"]).dropna(subset=["label"]).head(30)
    for image_id, label in zip(table["image_id"], table["label"]):
        (tmp_path / "train" / digits["classes"][int(label)]).mkdir(parents=True, exist_ok=True)
        shutil.copy(os.path.join(digits["directory"], image_id), tmp_path / "train" / digits["classes"][int(label)])
    student = tmp_path / "s.keras"
    pykd.models.save_model(tiny_model(seed=2, n_classes=table["label"].nunique()), student)
    assert main(["train-scratch", "--student", str(student), "--train", str(tmp_path / "train"), "--epochs", "1",
                 "--steps-per-epoch", "2", "--verbose", "0", "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "student.keras").is_file()


def test_bad_outputs_fail_before_training_and_errors_speak_in_flags(digits, tmp_path, capsys):
    student = tmp_path / "s.keras"
    pykd.models.save_model(tiny_model(seed=2), student)
    common = ["train-scratch", "--student", str(student), "--train", digits["train_csv"],
              "--directory", digits["directory"], "--verbose", "0", "--out", str(tmp_path / "out")]
    assert main([*common, "--save-student", str(tmp_path / "student.txt")]) == 2
    assert "error: Save models to a .keras" in capsys.readouterr().err
    (tmp_path / "a-file").write_text("x")
    assert main([*common[:-1], str(tmp_path / "a-file")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert main([*common, "--rescale", "0"]) == 2
    assert "--rescale 1/255" in capsys.readouterr().err  # a flag, not rescale=1/255
    assert not (tmp_path / "out").exists()


def test_predict_export_and_compare_from_the_command_line(digits, tmp_path, capsys):
    model = tmp_path / "m.keras"
    pykd.models.save_model(tiny_model(seed=2), model)
    common = ["--directory", digits["directory"], "--classes", ",".join(digits["classes"])]
    assert main(["predict", "--model", str(model), *common, "--submission", "--out", str(tmp_path / "sub.csv")]) == 0
    submission = pd.read_csv(tmp_path / "sub.csv")
    assert list(submission.columns) == ["image_id", "label"] and len(submission) == len(os.listdir(digits["directory"]))
    assert set(submission["label"]) <= set(digits["classes"])
    assert main(["export", "--model", str(model), "--out", str(tmp_path / "m.tflite")]) == 0
    assert (tmp_path / "m.tflite").stat().st_size > 0
    assert main(["export", "--model", str(model), "--out", str(tmp_path / "m8.tflite"), "--quantize", "int8",
                 "--representative", digits["validation_csv"], "--directory", digits["directory"]]) == 0
    assert (tmp_path / "m8.tflite").stat().st_size < (tmp_path / "m.tflite").stat().st_size
    assert main(["compare", "--model", f"keras={model}", "--model", f"lite={tmp_path / 'm.tflite'}",
                 "--data", digits["validation_csv"], "--directory", digits["directory"],
                 "--y-col", ",".join(digits["classes"])]) == 0
    shown = capsys.readouterr().out
    assert "keras" in shown and "lite" in shown and "ms_per_image" in shown
