"""The demo dataset: the shared photos plus synthesised uber_eats images, as pre-split class folders.

:func:`build_demo_dataset` lays out ``shared/datasets`` (``index.csv``) in a
local cache folder, ``<split>/<class>/<collection>/<photo>``, which
:func:`ml.layouts.read_layout` reads with its split as given.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np

from ml.datasets import DatasetError, _part_size, link_or_copy

DEMO_CLASSES = ("human", "no_human", "uber_eats")

#: The demo dataset's held-out shares, taken from every photo folder of index.csv on its own.
DEMO_VAL_SPLIT = 0.15
DEMO_TEST_SPLIT = 0.15


def build_demo_dataset(
    shared_datasets: str | Path, out: str | Path, uber_eats_count: int = 800, seed: int = 0,
    relabel: str | Path | None = None, synth_options: dict | None = None, decoys: int = 0,
) -> Path:
    """Lay out the shared photos plus synthesised uber_eats as pre-split train/val/test folders.

    Every photo folder of index.csv (``human_detection/no_human``,
    ``natural_images/cat``, ...) is split on its own, seeded
    (:data:`DEMO_VAL_SPLIT`, :data:`DEMO_TEST_SPLIT`), so each source is held
    out in the same share and the test photos are named by the seed alone.
    Synthesised uber_eats images of a split are drawn over that split's photos
    only: no test photo reaches training, not even as a background. Photos go
    to ``<split>/<label>/<collection>/`` (the first folder of their path in
    index.csv), so training can weigh the collections evenly; synthesised
    images go directly into ``<split>/uber_eats/``.

    ``relabel`` is a CSV (``file,label,...``) of index.csv files whose label
    is corrected; a corrected photo keeps the split of its folder, so a
    relabelling never changes which photos are held out. ``synth_options`` go
    to :func:`ml.synth.synthesise`; the people of a split's human photos
wear the logo in its courier scenes. ``decoys`` no_human images are drawn as
the uber_eats ones but without any logo (and without people), over each
split's no_human photos, filed with the collection they were drawn over:
a green box is not what makes a photo uber_eats. Real photos are linked, not copied (they
    stay in the shared folder, read only); synthesised images are written as
    JPEG. A manifest records what was built, so a second call with the same
    arguments reuses the folder.
    """
    from ml import synth

    shared_datasets, out = Path(shared_datasets).resolve(), Path(out)
    index = shared_datasets / "index.csv"
    if not index.is_file():
        raise DatasetError(f"No index.csv in {shared_datasets}; expected the shared datasets folder.")
    corrected = dict(zip(*read_relabel(relabel))) if relabel else {}
    synth_options = json.loads(json.dumps(synth_options or {}))  # as the manifest will read back
    manifest = {"source": str(shared_datasets), "uber_eats_count": uber_eats_count, "seed": seed, "version": 3,
                "synth_version": synth.VERSION, "split": [DEMO_VAL_SPLIT, DEMO_TEST_SPLIT],
                "relabel": [list(item) for item in sorted(corrected.items())], "synth_options": synth_options,
                "decoys": decoys}
    manifest_path = out / "manifest.json"
    if manifest_path.is_file() and json.loads(manifest_path.read_text()) == manifest:
        return out

    rows = _index_rows(index)
    unknown = sorted(set(corrected) - {row["file"] for row in rows})
    if unknown:
        raise DatasetError(f"{relabel} names files that are not in {index}: {', '.join(unknown[:5])}.")
    if out.exists():
        shutil.rmtree(out)
    folders: dict[str, list[dict]] = {}
    for row in rows:
        folders.setdefault(str(Path(row["file"]).parent), []).append(row)
    photos: dict[str, list[tuple[Path, str, str]]] = {"train": [], "val": [], "test": []}
    for name in sorted(folders):
        members = folders[name]
        # A seed per folder (its name's bytes), so adding a folder never moves another's photos.
        order = np.random.default_rng([seed, *name.encode()]).permutation(len(members))
        n_test = _part_size(len(members), len(members), DEMO_TEST_SPLIT)
        n_val = _part_size(len(members), len(members) - n_test, DEMO_VAL_SPLIT)
        for rank, position in enumerate(order):
            part = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
            row = members[position]
            source = shared_datasets / row["file"]
            # One sub-folder per collection (its source, for class_balance="sources"); the rest
            # of the path made flat keeps names unique within it.
            collection, _, rest = row["file"].partition("/")
            label = corrected.get(row["file"], row["label"])
            link = out / part / label / collection / (rest.replace("/", "__") if rest else collection)
            link.parent.mkdir(parents=True, exist_ok=True)
            link_or_copy(source, link)
            photos[part].append((source, label, collection))

    logos = synth.load_logos(shared_datasets / "uber_eats_logos")
    start, decoy_start = 0, _DECOY_START
    for part in ("train", "val", "test"):
        backgrounds = sorted(path for path, _, _ in photos[part])
        people = sorted(path for path, label, _ in photos[part] if label == "human")
        (out / part / "uber_eats").mkdir(parents=True, exist_ok=True)
        count = _share(uber_eats_count, part)
        for i, image in enumerate(synth.synthesise(logos, backgrounds, count, seed, start=start, people=people,
                                                   **synth_options), start=start):
            image.save(out / part / "uber_eats" / f"synth_{i:05d}.jpg", quality=synth.jpeg_quality(seed, i))
        start += count
        empty = sorted({c for _, label, c in photos[part] if label == "no_human"})
        for collection in empty:
            scenery = sorted(p for p, label, c in photos[part] if label == "no_human" and c == collection)
            count = round(_share(decoys, part) * len(scenery) / sum(
                1 for _, label, _ in photos[part] if label == "no_human"))
            options = {**synth_options, "scenes": [s for s in synth_options.get("scenes", synth.SCENES)
                                                   if s[0] not in synth.PEOPLE_SCENES]}
            for i, image in enumerate(synth.synthesise(logos, scenery, count, seed, start=decoy_start, decoy=True,
                                                       **options), start=decoy_start):
                image.save(out / part / "no_human" / collection / f"decoy_{i:07d}.jpg",
                           quality=synth.jpeg_quality(seed, i))
            decoy_start += count
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return out


#: Decoys are numbered from here, so none repeats an uber_eats image's random draws.
_DECOY_START = 1_000_000


def _share(count: int, part: str) -> int:
    """Synthesised images of ``count`` that go to ``part``: the photos' shares, the rest to train."""
    held = {"val": round(count * DEMO_VAL_SPLIT), "test": round(count * DEMO_TEST_SPLIT)}
    return held.get(part, count - sum(held.values()))


def _index_rows(index: Path) -> list[dict]:
    with open(index, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        if row["label"] not in DEMO_CLASSES:
            raise DatasetError(f"{index}: unexpected label {row['label']!r} for {row['file']}.")
    return rows


def read_relabel(path: str | Path) -> tuple[list[str], list[str]]:
    """The files (as index.csv names them) and corrected labels of a relabel CSV."""
    path = Path(path)
    with open(path, newline="") as fh:
        reader = csv.DictReader(line for line in fh if not line.startswith("#"))
        if not reader.fieldnames or not {"file", "label"} <= set(reader.fieldnames):
            raise DatasetError(f"{path} must have a header with 'file' and 'label' columns.")
        rows = list(reader)
    bad = sorted({row["label"] for row in rows} - set(DEMO_CLASSES))
    if bad:
        raise DatasetError(f"{path}: unexpected labels {', '.join(bad)}.")
    return [row["file"] for row in rows], [row["label"] for row in rows]
