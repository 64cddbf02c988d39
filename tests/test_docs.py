"""Every parameter of every public function is documented in its docstring."""

import inspect
import re

import pytest

import pykd

PUBLIC = [pykd.distill, pykd.train_scratch, pykd.evaluate, pykd.distillation_loss, pykd.teacher_logits,
          pykd.out_of_fold_logits, pykd.sweep, pykd.datasets.write_digits, pykd.datasets.fashion_mnist, pykd.models.set_trainable,
          pykd.models.save_model, pykd.models.load_model, pykd.models.example_teacher, pykd.models.example_student,
          pykd.predict, pykd.export, pykd.compare, pykd.models.classifier, pykd.models.save_weights,
          pykd.models.load_weights]


@pytest.mark.parametrize("function", PUBLIC, ids=lambda f: f.__name__)
def test_every_parameter_is_documented(function):
    doc = inspect.getdoc(function) or ""
    undocumented = [
        name for name, p in inspect.signature(function).parameters.items()
        if p.kind not in (p.VAR_POSITIONAL,) and not re.search(rf"(^|[\s,(]){re.escape(name)}\b[^\n]*", doc)
    ]
    assert not undocumented, f"{function.__name__} does not document {undocumented}"
