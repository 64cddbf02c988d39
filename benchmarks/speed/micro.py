"""Micro-benchmarks: the teacher's forward pass (fp32, bf16, with and without XLA), the two
augmenters, and an epoch of input alone from the JPEG files and from the decoded-image cache."""

from __future__ import annotations

import time

import bench_models as bm
import numpy as np
from common import median, ratio_per_round

from pykd._tf import tf
from pykd.data.image_cache import DecodedImages
from pykd.data.images import FileImages, ImageSpec
from pykd.data.stream import BatchStream
from pykd.kd.teacher import ModelTeacher

PIPE_PYKD = "input-only epoch: pykd.data.images.FileImages (decode JPEGs)"
AUG_PYKD = "augmenter: pykd.data.augmentation.build_augmenter (what every augmented method here uses)"
AUG_CHAIN = "augmenter: stock Keras 3 chain (RandomRotation, RandomTranslation, RandomZoom, RandomFlip)"
PIPE_CACHE = "input-only epoch: pykd.data.image_cache.DecodedImages (cache_images)"

RATIOS = [
    ("teacher forward fp32 + XLA", "teacher forward fp32"),
    ("teacher forward bf16", "teacher forward fp32"),
    ("teacher forward bf16 + XLA", "teacher forward fp32"),
    (AUG_PYKD, AUG_CHAIN),
    (PIPE_CACHE, PIPE_PYKD),
]


class Micro:
    """In-memory batches of 64, so only the compute differs: teacher forward, augmenter, decode.

    decoded: a pykd.data.image_cache.DecodedImages over ctx["paths"] (a replayed run's image
    source), read for the decoded-cache input epoch.
    """

    def __init__(self, ctx, decoded, n_batches=8):
        self.ctx, self.decoded, self.n_batches = ctx, decoded, n_batches
        self.results: dict[str, list[float]] = {}
        self.errors: dict[str, str] = {}
        self.cases: dict = {}

    def setup(self):
        ctx = self.ctx
        rows = [np.arange(i * bm.BATCH_SIZE, (i + 1) * bm.BATCH_SIZE) % ctx["n"] for i in range(self.n_batches)]
        self.batches = [tf.gather(ctx["all_images"], r) for r in rows]
        for name, fn in self._compute_cases().items():
            try:
                for x in self.batches[:2]:
                    np.asarray(fn(x))
                self.cases[name] = fn
            except Exception as err:  # e.g. an op without an XLA kernel
                self.errors[name] = f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
        self.pipelines = self._input_epochs()
        for run in self.pipelines.values():
            run()

    def _compute_cases(self) -> dict:
        ctx = self.ctx
        teacher32 = bm.clone(bm.teacher, ctx["teacher_weights"])
        # The same model computing in bfloat16 (its weights stay float32), as distill()'s teacher_precision="bfloat16".
        teacher16 = ModelTeacher([teacher32], precision="bfloat16").logits
        pykd_aug = ctx["augmenter"]()
        keras_chain = bm.keras_chain_augmenter(0)

        def call(layer, training):
            return lambda x: layer(x, training=training)

        return {
            "teacher forward fp32": tf.function(call(teacher32, False)),
            "teacher forward fp32 + XLA": tf.function(call(teacher32, False), jit_compile=True),
            "teacher forward bf16": tf.function(teacher16),
            "teacher forward bf16 + XLA": tf.function(teacher16, jit_compile=True),
            AUG_PYKD: tf.function(call(pykd_aug, True)),
            AUG_CHAIN: tf.function(call(keras_chain, True)),
        }

    def _input_epochs(self) -> dict:
        """An epoch of input alone (no training): JPEG files, and pykd's decoded-image cache."""
        ctx = self.ctx
        spec = ImageSpec(*bm.IMAGE_SHAPE)
        stream = BatchStream(ctx["n"], bm.BATCH_SIZE, shuffle=True, seed=0)
        n_steps = stream.steps_per_pass

        def pipeline(source, tag):
            def run():
                t0 = time.perf_counter()
                first = None
                for _ in source.batches(stream.take(n_steps)):
                    if first is None:
                        first = time.perf_counter()
                end = time.perf_counter()
                self.results.setdefault(f"input start-up to first batch, ms ({tag})", []).append(1000 * (first - t0))
                return end - t0

            return run

        pipelines = {PIPE_PYKD: pipeline(FileImages(ctx["paths"], spec), "JPEG files")}
        if isinstance(self.decoded, DecodedImages):
            pipelines[PIPE_CACHE] = pipeline(self.decoded, "decoded cache")
        else:
            self.errors[PIPE_CACHE] = f"no decoded-image cache to read (got {type(self.decoded).__name__})"
        return pipelines

    def run_round(self, round_index):
        for name, fn in self.cases.items():
            np.asarray(fn(self.batches[0]))  # warm-up (see bench.py's WARM)
            t0 = time.perf_counter()
            for x in self.batches:
                out = fn(x)
            np.asarray(out)
            self.results.setdefault(name, []).append(self.n_batches * bm.BATCH_SIZE / (time.perf_counter() - t0))
        for name, run in self.pipelines.items():
            self.results.setdefault(name, []).append(self.ctx["n"] / run())

    def summary(self) -> dict:
        out = {name: median(values) for name, values in self.results.items()}
        ratios = {
            f"{a} / {b}": ratio_per_round(self.results[a], self.results[b])
            for a, b in RATIOS
            if a in self.results and b in self.results
        }
        return {"images_per_s": out, "ratios": ratios, "errors": self.errors}
