"""Choosing the demo model's recipe on cached features: directions compared in seconds, and leave-one-source-out.

    .venv/bin/python -m bench.demo_experiments [--sizes 224,320] [--what directions,loso]

Fine-tuning MobileNetV2 for every idea would take hours on a CPU. Instead the
frozen backbone's pooled features of every photo and synthesised image (and
of its mirror image) are computed once per input size and cached under
``var/demo_experiments`` (git-ignored); a softmax head is then fitted on them
in a second per variant. Directions are compared on the **validation** split
of :func:`ml.demo_data.build_demo_dataset` (never on its test split, never on
``../shared/samples``); the winner is then trained for real by ``ml.demo``.

Leave-one-source-out: train without one photo collection (and without the
synthesised images drawn over its photos), test on all of that collection's
photos, so how the model does on photos unlike its training ones is measured.
For the synthesised uber_eats class, leave-one-scene-out does the same per
scene kind (bags, backpacks, bikes, ...).

Figures are only comparable within one run (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from bench.common import REPO_DIR, SHARED_DIR, print_table, write_results

CACHE = REPO_DIR / "var" / "demo_experiments"
WEIGHTS = SHARED_DIR / "weights" / "mobilenet_v2_1.0_imagenet_notop.weights.h5"
CLASSES = ("human", "no_human", "uber_eats")


# --- features ------------------------------------------------------------------------------


def _key(path: Path) -> str:
    real = path.resolve()
    return f"{real}:{real.stat().st_size}:{int(real.stat().st_mtime)}"


def features(files: list[Path], size: int, pooling: str = "avg") -> tuple[np.ndarray, np.ndarray]:
    """Pooled frozen-MobileNetV2 features of ``files`` and of their mirror images, cached per file.

    ``pooling`` is how the backbone's last feature map becomes a vector: "avg"
    (the model's own, :data:`ml.architectures.FEATURES_LAYER`), "max", or
    "avg+max" (both, side by side), or "vww" for the legacy person detector's
    pooled features (:func:`_vww_extractor`; ``size`` is then its own 96 px).
    """
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / (f"features_{size}.npz" if pooling == "avg" else f"features_{size}_{pooling.replace('+', '')}.npz")
    cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if path.is_file():
        with np.load(path, allow_pickle=False) as data:
            cache = {k: (a, b) for k, a, b in zip(data["keys"], data["plain"], data["flipped"])}
    keys = [_key(f) for f in files]
    missing = sorted({k: f for k, f in zip(keys, files) if k not in cache}.items())
    if missing:
        from ml.datasets import load_pixels
        from ml.preprocessing import scale_pixels

        extractor = _vww_extractor() if pooling == "vww" else _extractor(size, pooling)
        started = time.perf_counter()
        for start in range(0, len(missing), 256):
            chunk = missing[start:start + 256]
            pixels, kept = load_pixels([f for _, f in chunk], size)
            assert len(kept) == len(chunk), "an unreadable image in the demo data"
            batch = scale_pixels(pixels.astype(np.float32), "rescale" if pooling == "vww" else "mobilenet")
            plain = extractor.predict(batch, batch_size=64, verbose=0)
            flipped = extractor.predict(batch[:, :, ::-1], batch_size=64, verbose=0)
            for (k, _), a, b in zip(chunk, plain, flipped):
                cache[k] = (a.astype(np.float32), b.astype(np.float32))
            done = start + len(chunk)
            print(f"[features {size}px] {done}/{len(missing)} ({done / (time.perf_counter() - started):.1f} img/s)",
                  flush=True)
        names = sorted(cache)
        np.savez(path, keys=np.array(names), plain=np.stack([cache[k][0] for k in names]),
                 flipped=np.stack([cache[k][1] for k in names]))
    return np.stack([cache[k][0] for k in keys]), np.stack([cache[k][1] for k in keys])


_EXTRACTORS: dict[tuple, object] = {}


def _extractor(size: int, pooling: str = "avg"):
    if (size, pooling) not in _EXTRACTORS:
        import keras

        from ml.architectures import FEATURES_LAYER, build_model
        from ml.keras_io import quiet_tensorflow

        quiet_tensorflow()
        model = build_model("mobilenet_v2", len(CLASSES), size, str(WEIGHTS))
        if pooling == "avg":
            _EXTRACTORS[size, pooling] = keras.Model(model.inputs, model.get_layer(FEATURES_LAYER).output)
        else:
            feature_map = model.get_layer(FEATURES_LAYER).input
            pooled = {"max": [keras.layers.GlobalMaxPooling2D()(feature_map)],
                      "avg+max": [keras.layers.GlobalAveragePooling2D()(feature_map),
                                  keras.layers.GlobalMaxPooling2D()(feature_map)]}[pooling]
            _EXTRACTORS[size, pooling] = keras.Model(
                model.inputs, pooled[0] if len(pooled) == 1 else keras.layers.Concatenate()(pooled))
    return _EXTRACTORS[size, pooling]


def _vww_extractor():
    """The pooled features of the legacy person detector (COCO Visual Wake Words, 96 px), with its person score."""
    if ("vww",) not in _EXTRACTORS:
        import keras

        from ml.keras_io import load_model, quiet_tensorflow

        quiet_tensorflow()
        model = load_model(SHARED_DIR / "weights" / "vww_96.h5")
        pooled = model.get_layer("flatten").output
        _EXTRACTORS["vww",] = keras.Model(model.inputs, keras.layers.Concatenate()([pooled, model.outputs[0]]))
    return _EXTRACTORS["vww",]


# --- data ----------------------------------------------------------------------------------


class Data:
    """The files of a demo dataset variant with their labels, sources, splits and scene kinds."""

    def __init__(self, root: Path, seed: int = 0, synth_options: dict | None = None):
        from ml.layouts import read_layout

        folder, split = read_layout(root)
        assert tuple(folder.class_names) == CLASSES
        self.root, self.files, self.labels = root, folder.files, folder.labels
        self.part = np.empty(len(self.files), dtype=object)
        for name in ("train", "val", "test"):
            self.part[getattr(split, name)] = name
        # Source: the photo collection, or "synth" (whatever it was drawn over).
        self.source = np.array([s or "synth" for s in folder.sources])
        self.folder = np.array([_photo_folder(f) for f in self.files])
        self.scene = np.array([_scene(f, seed, synth_options) for f in self.files])

    def subset(self, mask: np.ndarray) -> np.ndarray:
        return np.flatnonzero(mask)


def _photo_folder(path: Path) -> str:
    """``human_detection/no_human`` for a photo (its folder in index.csv), "" for a synthesised image."""
    real = path.resolve()
    try:
        return str(real.parent.relative_to((SHARED_DIR / "datasets").resolve()))
    except ValueError:
        return ""


def _scene(path: Path, seed: int, synth_options: dict | None) -> str:
    """The scene kind of a synthesised image ("" for a photo)."""
    if not path.name.startswith("synth_"):
        return ""
    from ml import synth

    scenes = (synth_options or {}).get("scenes") or synth.SCENES
    return synth.scene_of(seed, int(path.stem.split("_")[1]), scenes)


def demo_data(name: str, **options) -> Data:
    from ml.demo_data import build_demo_dataset

    root = build_demo_dataset(SHARED_DIR / "datasets", REPO_DIR / "var" / "datasets" / name, **options)
    return Data(root, options.get("seed", 0), options.get("synth_options"))


# --- heads ---------------------------------------------------------------------------------


def source_weights(labels: np.ndarray, sources: np.ndarray) -> np.ndarray:
    from ml.fitting import source_weights as weights

    return weights(labels, sources)


def fit_head(x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None, l2: float = 1e-3, steps: int = 400,
             lr: float = 0.05, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Multinomial logistic regression on standardised features (full-batch Adam): (mean, std, W, b)."""
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = ((x - mean) / std).astype(np.float32)
    n, d = z.shape
    k = len(CLASSES)
    w = np.ones(n) if w is None else w / w.mean()
    rng = np.random.default_rng(seed)
    weight, bias = rng.normal(0, 0.01, (d, k)).astype(np.float32), np.zeros(k, np.float32)
    onehot = np.eye(k, dtype=np.float32)[y]
    w = w.astype(np.float32)
    m = [np.zeros_like(weight), np.zeros_like(bias)]
    v = [np.zeros_like(weight), np.zeros_like(bias)]
    for t in range(1, steps + 1):
        p = _softmax(z @ weight + bias)
        g = (p - onehot) * w[:, None] / n
        grads = [z.T @ g + l2 * weight, g.sum(axis=0)]
        for i, (param, grad) in enumerate(zip((weight, bias), grads)):
            m[i] = 0.9 * m[i] + 0.1 * grad
            v[i] = 0.999 * v[i] + 0.001 * grad ** 2
            param -= lr * (m[i] / (1 - 0.9 ** t)) / (np.sqrt(v[i] / (1 - 0.999 ** t)) + 1e-8)
    return mean, std, weight, bias


def predict(head, x: np.ndarray) -> np.ndarray:
    mean, std, weight, bias = head
    return _softmax(((x - mean) / std) @ weight + bias)


def _softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def run_head(data: Data, feats: tuple[np.ndarray, np.ndarray], train: np.ndarray, *, flips: bool = True,
             balance: str = "sources", l2: float = 1e-3, label_override: np.ndarray | None = None,
             drop: np.ndarray | None = None):
    """Fit on ``train`` indices (with mirror images when ``flips``); return the head."""
    plain, flipped = feats
    labels = data.labels if label_override is None else label_override
    if drop is not None:
        train = np.setdiff1d(train, drop)
    x, y = plain[train], labels[train]
    if flips:
        x, y = np.concatenate([x, flipped[train]]), np.concatenate([y, y])
    w = None
    if balance == "sources":
        w = source_weights(labels[train], data.source[train])
        w = np.concatenate([w, w]) if flips else w
    elif balance == "classes":
        counts = np.bincount(y, minlength=len(CLASSES))
        w = len(y) / (len(CLASSES) * counts[y])
    return fit_head(x, y, w, l2=l2)


def scores(data: Data, feats, head, idx: np.ndarray, tta: bool = False) -> dict:
    """Accuracy overall, per source, human recall in human_detection, on indices ``idx``."""
    plain, flipped = feats
    p = predict(head, plain[idx])
    if tta:
        p = (p + predict(head, flipped[idx])) / 2
    pred, true = p.argmax(axis=1), data.labels[idx]
    out = {"n": len(idx), "accuracy": round(float((pred == true).mean()), 4)}
    for source in ("human_detection", "natural_images", "synth"):
        inside = data.source[idx] == source
        if inside.any():
            out[f"acc_{source}"] = round(float((pred[inside] == true[inside]).mean()), 4)
    persons = (data.source[idx] == "human_detection") & (true == 0)
    if persons.any():
        out["hd_person_recall"] = round(float((pred[persons] == 0).mean()), 4)
    out["nll"] = round(float(-np.log(np.clip(p[np.arange(len(idx)), true], 1e-12, 1)).mean()), 4)
    return out


# --- experiments ---------------------------------------------------------------------------


def directions(sizes: list[int]) -> list[dict]:
    rows = []
    base = demo_data("demo-exp-v2", synth_options=V2)
    train, val = base.subset(base.part == "train"), base.subset(base.part == "val")
    for size in sizes:
        feats = features(base.files, size)
        for name, kwargs, tta in (
            ("no balance, no flips", {"balance": "none", "flips": False}, False),
            ("class weights", {"balance": "classes"}, False),
            ("source weights (current)", {"balance": "sources"}, False),
            ("source weights + flip TTA", {"balance": "sources"}, True),
            ("source weights, l2 1e-2", {"balance": "sources", "l2": 1e-2}, False),
            ("source weights, l2 1e-4", {"balance": "sources", "l2": 1e-4}, False),
        ):
            head = run_head(base, feats, train, **kwargs)
            rows.append({"size": size, "variant": name, **scores(base, feats, head, val, tta)})
            print(rows[-1], flush=True)
    return rows


V2 = {"scenes": [list(scene) for scene in (("bag_on_photo", 0.3), ("backpack_on_photo", 0.2),
                                           ("bike_delivery", 0.15), ("bag_on_plain", 0.13),
                                           ("logo_on_plain", 0.12), ("sign_on_photo", 0.1))],
      "lighting": False}
RELABEL = str(REPO_DIR / "ml" / "demo_relabel.csv")


def variants(size: int, seed: int = 0) -> list[dict]:
    """Data variants (synthesis, decoys, relabelling) judged on the same validation photos and both syntheses.

    Each variant changes its own uber_eats images, so its own validation split
    is no yardstick for the others: every head is scored on the validation
    photos (same files whatever the variant) and on the validation uber_eats
    images of synthesis v2 and v3 alike.
    """
    specs = [("synth v2 (current)", "demo-exp-v2", {"synth_options": V2}),
             ("synth v3", "demo-exp-v3", {}),
             ("synth v3 + relabel", "demo-exp-v3-relabel", {"relabel": RELABEL}),
             ("synth v3 + relabel + 300 decoys", "demo-exp-v3-relabel-decoys", {"relabel": RELABEL, "decoys": 300}),
             # Light, colour casts and blur drawn on the uber_eats images alone may become a cue for the class.
             ("synth v3 without its light and blur + relabel", "demo-exp-v3-nolight-relabel",
              {"relabel": RELABEL, "synth_options": {"lighting": False}})]
    loaded = {name: demo_data(folder, seed=seed, **options) for name, folder, options in specs}
    v2, v3 = loaded["synth v2 (current)"], loaded["synth v3"]
    fixed = loaded.get("synth v3 + relabel", v3)
    val_photos = np.flatnonzero((v3.part == "val") & (v3.source != "synth"))
    photo_files = [v3.files[i] for i in val_photos]
    original = v3.labels[val_photos]
    by_path = {f.resolve(): label for f, label in zip(fixed.files, fixed.labels)}
    corrected = np.array([by_path[f.resolve()] for f in photo_files])
    hd_person = np.array([v3.source[i] == "human_detection" for i in val_photos]) & (original == 0)
    photo_feats = features(photo_files, size)
    ue = {name: features([d.files[i] for i in np.flatnonzero((d.part == "val") & (d.source == "synth"))], size)
          for name, d in (("v2", v2), ("v3", v3))}
    rows = []
    for name, data in loaded.items():
        feats = features(data.files, size)
        head = run_head(data, feats, np.flatnonzero(data.part == "train"))
        for tta in (False, True):
            p = predict(head, photo_feats[0])
            if tta:
                p = (p + predict(head, photo_feats[1])) / 2
            pred = p.argmax(axis=1)
            row = {"size": size, "variant": name + (" + flip TTA" if tta else ""),
                   "val photos acc (index labels)": round(float((pred == original).mean()), 4),
                   "(corrected labels)": round(float((pred == corrected).mean()), 4),
                   "hd person recall": round(float((pred[hd_person] == 0).mean()), 4),
                   "photos called uber_eats": int((pred == 2).sum())}
            for version, (plain, flipped) in ue.items():
                q = predict(head, plain)
                if tta:
                    q = (q + predict(head, flipped)) / 2
                row[f"uber_eats recall {version}"] = round(float((q.argmax(axis=1) == 2).mean()), 4)
            rows.append(row)
            print(row, flush=True)
    return rows


def heads(size: int, seed: int = 1) -> list[dict]:
    """Small persons in wide frames: pooling and a person detector's features, on the demo recipe's data.

    Average pooling spreads a person covering a few cells of the last feature
    map over all of them; max pooling keeps the strongest cell. The legacy
    person detector (Visual Wake Words: "is there a person", COCO) adds its
    own features and person score. Each is a head on frozen features, scored
    on the recipe's validation split (seed 1, synthesis v3, relabelled).
    """
    data = demo_data(f"demo-exp-s{seed}", seed=seed, relabel=RELABEL)
    train, val = np.flatnonzero(data.part == "train"), np.flatnonzero(data.part == "val")
    both = features(data.files, size, "avg+max")
    half = both[0].shape[1] // 2  # average-pooled, then max-pooled
    pooled = {"avg": tuple(f[:, :half] for f in both), "max": tuple(f[:, half:] for f in both), "avg+max": both}
    vww = features(data.files, 96, "vww")
    pooled["avg + person detector"] = tuple(np.hstack([a, b]) for a, b in zip(pooled["avg"], vww))
    pooled["person detector alone"] = vww
    rows = []
    for name, feats in pooled.items():
        head = run_head(data, feats, train, l2=1e-2)
        rows.append({"size": size, "features": name, **scores(data, feats, head, val)})
        print(rows[-1], flush=True)
    return rows


def leave_one_source_out(data: Data, size: int, synth_options: dict | None = None, seed: int = 0,
                         **head_options) -> list[dict]:
    """Train without a photo collection (and uber_eats drawn over it), test on all of its photos.

    The uber_eats images of each side are drawn afresh over that side's photos
    only (training photos of the kept collection; every photo of the left-out
    one), so no pixel of the left-out collection reaches training. The
    "all sources" rows are the same test photos' held-out part (val + test)
    with every collection trained on, for comparison.
    """
    from ml import synth

    rows = []
    feats = features(data.files, size)
    photos = data.source != "synth"
    logos = synth.load_logos(SHARED_DIR / "datasets" / "uber_eats_logos")
    drawn: dict[tuple[str, str], Path] = {}
    for collection in ("human_detection", "natural_images"):
        for side, pool, count in (("train", (data.source == collection) & (data.part == "train"), 560),
                                  ("test", data.source == collection, 200)):
            folder = CACHE / f"loso_{collection}_{side}_{synth.VERSION}_{json.dumps(synth_options or {}, sort_keys=True)}"
            folder = folder.with_name(folder.name.replace(" ", "").replace('"', "")[:120])
            if not (folder / "done").is_file():
                folder.mkdir(parents=True, exist_ok=True)
                backgrounds = sorted(data.files[i] for i in np.flatnonzero(pool))
                people = sorted(data.files[i] for i in np.flatnonzero(pool & (data.labels == 0)))
                for i, image in enumerate(synth.synthesise(logos, backgrounds, count, seed + 7, people=people,
                                                           **(synth_options or {}))):
                    image.save(folder / f"synth_{i:05d}.jpg", quality=synth.jpeg_quality(seed, i))
                (folder / "done").write_text("")
            drawn[collection, side] = folder
    for left_out in ("human_detection", "natural_images"):
        kept = "natural_images" if left_out == "human_detection" else "human_detection"
        train_synth = sorted(drawn[kept, "train"].glob("synth_*.jpg"))
        test_synth = sorted(drawn[left_out, "test"].glob("synth_*.jpg"))
        sx, sx_flip = features(train_synth, size)
        tx, _ = features(test_synth, size)
        train = np.flatnonzero(photos & (data.source == kept) & (data.part == "train"))
        x = np.concatenate([feats[0][train], feats[1][train], sx, sx_flip])
        y = np.concatenate([data.labels[train]] * 2 + [np.full(len(sx) * 2, 2)])
        sources = np.concatenate([data.source[train]] * 2 + [np.array(["synth"] * len(sx) * 2)])
        head = fit_head(x, y, source_weights(y, sources), **head_options)
        held = np.flatnonzero(photos & (data.source == left_out))
        rows.append(_loso_row(f"without {left_out}", left_out, "all its photos", head, feats, data, held, tx))
        full = run_head(data, feats, np.flatnonzero(data.part == "train"), **head_options)
        held_out = np.flatnonzero(photos & (data.source == left_out) & (data.part != "train"))
        rows.append(_loso_row("all sources", left_out, "its val + test photos", full, feats, data, held_out, tx))
        print(rows[-2], rows[-1], flush=True)
    # The synthesised class, scene by scene.
    synthetic = data.source == "synth"
    everything = run_head(data, feats, np.flatnonzero(data.part == "train"), **head_options)
    for scene in sorted(set(data.scene[synthetic])):
        of_scene = synthetic & (data.scene == scene)
        head = run_head(data, feats, np.flatnonzero((data.part == "train") & ~of_scene), **head_options)
        every = np.flatnonzero(of_scene)
        held_out = np.flatnonzero(of_scene & (data.part != "train"))
        rows.append({"trained": f"without {scene}", "tested on": f"uber_eats {scene}", "images": len(every),
                     "uber_eats recall": _recall(head, feats, every, 2),
                     "with it (val + test)": _recall(everything, feats, held_out, 2)})
        print(rows[-1], flush=True)
    return rows


def _recall(head, feats, idx: np.ndarray, label: int) -> float:
    p = predict(head, feats[0][idx])
    return round(float((p.argmax(axis=1) == label).mean()), 4) if len(idx) else float("nan")


def _loso_row(trained: str, left_out: str, tested: str, head, feats, data: Data, idx: np.ndarray,
              synth_features: np.ndarray) -> dict:
    pred = predict(head, feats[0][idx]).argmax(axis=1)
    true = data.labels[idx]
    return {"trained": trained, "tested on": f"{left_out}: {tested}", "images": len(idx),
            "accuracy": round(float((pred == true).mean()), 4),
            "human recall": round(float((pred[true == 0] == 0).mean()), 4),
            "no_human recall": round(float((pred[true == 1] == 1).mean()), 4),
            "uber_eats recall (drawn over it)": round(float((predict(head, synth_features).argmax(axis=1) == 2).mean()), 4)}


def noise_candidates(size: int = 224, folds: int = 5, threshold: float = 0.3) -> list[dict]:
    """human_detection no_human photos that heads trained on the other folds call human (out of fold).

    The dataset's README says about 1 in 6 of them shows a person. The
    candidates are only candidates: a contact sheet
    (``var/demo_experiments/noise_candidates.png``) is written so a person
    can confirm each one before it goes into the committed relabel list.
    """
    base = demo_data("demo-exp-v2", synth_options=V2)
    feats = features(base.files, size)
    photos = np.flatnonzero(base.source != "synth")
    order = np.random.default_rng(0).permutation(photos)
    p_human = np.zeros(len(base.files))
    for fold in range(folds):
        held = order[fold::folds]
        train = np.setdiff1d(np.flatnonzero(base.part != "none"), held)
        head = run_head(base, feats, train)
        p = (predict(head, feats[0][held]) + predict(head, feats[1][held])) / 2
        p_human[held] = p[:, 0]
    suspects = [i for i in photos if base.folder[i] == "human_detection/no_human" and p_human[i] > threshold]
    suspects.sort(key=lambda i: -p_human[i])
    rows = [{"n": n, "file": str(Path(base.files[i]).resolve().relative_to((SHARED_DIR / "datasets").resolve())),
             "part": base.part[i], "p_human": round(float(p_human[i]), 3)} for n, i in enumerate(suspects)]
    _contact_sheet([base.files[i] for i in suspects], CACHE / "noise_candidates.png")
    return rows


def _contact_sheet(files: list[Path], out: Path, cell: int = 200, columns: int = 6) -> None:
    from PIL import Image, ImageDraw

    for page, start in enumerate(range(0, len(files), columns * 4)):
        chunk = files[start:start + columns * 4]
        sheet = Image.new("RGB", (cell * columns, cell * ((len(chunk) + columns - 1) // columns)), "white")
        for k, path in enumerate(chunk):
            image = Image.open(path).convert("RGB")
            image.thumbnail((cell, cell - 4))
            sheet.paste(image, ((k % columns) * cell, (k // columns) * cell))
            ImageDraw.Draw(sheet).text(((k % columns) * cell + 3, (k // columns) * cell + 3), str(start + k),
                                       fill=(255, 0, 0))
        sheet.save(out.with_name(f"{out.stem}_{page}{out.suffix}"))


def flip_averaging(bundle: Path, data_dir: Path) -> list[dict]:
    """A trained bundle on its validation split, with and without averaging over the mirror image, and its cost."""
    from ml.datasets import load_pixels
    from ml.evaluate import predict_pixels
    from ml.layouts import read_layout
    from ml.predictor import Predictor

    folder, split = read_layout(data_dir)
    predictor = Predictor.from_bundle(bundle)
    pixels, kept = load_pixels([folder.files[i] for i in split.val], predictor.metadata.input_size)
    labels = folder.labels[split.val][kept]
    sources = np.array([folder.sources[i] or "synth" for i in split.val])[kept]
    persons = (sources == "human_detection") & (labels == 0)
    rows = []
    for name, flip in (("plain", False), ("flip averaged", True)):
        started = time.perf_counter()
        p = predict_pixels(predictor, pixels)
        if flip:
            p = (p + predict_pixels(predictor, pixels[:, :, ::-1])) / 2
        seconds = time.perf_counter() - started
        pred = p.argmax(axis=1)
        rows.append({"bundle": str(bundle), "prediction": name, "val images": len(labels),
                     "val accuracy": round(float((pred == labels).mean()), 4),
                     "hd person recall": round(float((pred[persons] == 0).mean()), 4),
                     "ms per image": round(1000 * seconds / len(labels), 1)})
        print(rows[-1], flush=True)
    return rows


def _write_loso(tables: list[str], size: int) -> None:
    """The table beside the demo model, where its README (ml.demo_report) includes it."""
    from ml.demo_report import LOSO_FILE

    intro = (
        "\n## Leave one source out\n\n"
        f"Made by `python -m bench.demo_experiments --what loso` ({time.strftime('%Y-%m-%d')}, 2-core CPU shared with "
        f"other jobs): a softmax head on frozen MobileNetV2 features at {size} px (not the fine-tuned model), "
        "trained without one photo collection and without any uber_eats image drawn over its photos, then tested "
        "on all of that collection's photos and on 200 uber_eats images drawn over them. The synthesised class is "
        "left out scene kind by scene kind. \"with it\" rows and columns: the same head trained on everything, "
        "on the held-out (validation + test) part only.\n\n"
    )
    body = "\n".join(table.split("\n", 2)[2] for table in tables)  # without the "### title" lines
    (REPO_DIR / "ml" / "demo_model" / LOSO_FILE).write_text(intro + body)


def _table(title: str, rows: list[dict]) -> str:
    headers = list(dict.fromkeys(key for row in rows for key in row))
    return print_table(title, headers, [[row.get(h, "") for h in headers] for row in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="224", help="input sizes to compare")
    parser.add_argument("--what", default="directions", help="comma-separated: noise, directions, variants, heads, loso, tta")
    parser.add_argument("--loso-data", default="demo-exp-v3", help="dataset variant folder for loso")
    parser.add_argument("--loso-options", default="{}", help="build_demo_dataset options of that variant (JSON)")
    parser.add_argument("--bundle", default=str(REPO_DIR / "ml" / "demo_model"), help="bundle for tta")
    parser.add_argument("--bundle-data", default=str(REPO_DIR / "var" / "datasets" / "demo"),
                        help="the dataset that bundle was trained on, for tta")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = {}
    tables = []
    what = args.what.split(",")
    if "tta" in what:
        results["flip_averaging"] = flip_averaging(Path(args.bundle), Path(args.bundle_data))
        tables.append(_table("Flip averaging at test time (validation split, trained bundle)", results["flip_averaging"]))
    if "noise" in what:
        results["noise_candidates"] = noise_candidates()
        tables.append(_table("Label-noise candidates (human_detection/no_human called human out of fold)",
                             results["noise_candidates"]))
    if "directions" in what:
        results["directions"] = directions(sizes)
        tables.append(_table("Directions (validation split, frozen features)", results["directions"]))
    if "variants" in what:
        results["variants"] = [row for size in sizes for row in variants(size)]
        tables.append(_table("Data variants (validation photos; uber_eats validation of both syntheses)",
                             results["variants"]))
    if "heads" in what:
        results["heads"] = [row for size in sizes for row in heads(size)]
        tables.append(_table("Pooling and person-detector features (validation split, frozen features)",
                             results["heads"]))
    if "loso" in what:
        data = demo_data(args.loso_data, **json.loads(args.loso_options))
        results["loso"] = leave_one_source_out(data, sizes[-1])
        photos = [row for row in results["loso"] if "accuracy" in row]
        scenes = [row for row in results["loso"] if "accuracy" not in row]
        tables.append(_table(f"Leave one source out ({sizes[-1]} px, frozen features, {args.loso_data})", photos))
        tables.append(_table(f"Leave one scene kind out ({sizes[-1]} px, frozen features)", scenes))
        _write_loso(tables[-2:], sizes[-1])
    write_results("demo_experiments", results, tables)


if __name__ == "__main__":
    main()
