"""Detection transfer (the paper's Section 6) in the run store: an experiment's transfer: section
plans Prune-C, Prune-D, Scratch-E and Scratch-B on the classification arms' runs, runs them,
reports mAP with comparisons, and reuses everything when run again."""
import copy
import json
import subprocess
import sys

import pytest
import torch
import yaml

pytest.importorskip("pycocotools")

TINY = {
    "name": "det-tiny", "dataset": "fashion-mnist", "data": {"train_subset": 512, "test_subset": 256, "augment": False},
    "models": [{"arch": "resnet20", "width": 0.25, "targets": [{"stages": [0.5, 0.5, 0.5]}]}],
    "prune": {"method": "l1-norm", "selection": "largest"},
    "regimes": ["finetune", "scratch-e", "scratch-b"], "seeds": [0, 1],
    "recipe": {"epochs": 1, "batch_size": 64, "lr": 0.05}, "finetune": {"epochs": 1, "lr": 0.001, "schedule": "constant"},
    "transfer": {"data": {"train": 24, "test": 12, "size": 48},
                 "detector": {"min_size": 48, "max_size": 48, "representation": 32, "proposals": 50, "rois_per_image": 16},
                 "recipe": {"epochs": 1, "batch_size": 8, "lr": 0.01}, "prune_d": {"lr": 0.001}},
}


def _plan(raw):
    from prunelab.runs.experiment import experiment_from_mapping
    from prunelab.runs.plan import plan
    from pathlib import Path

    return plan(experiment_from_mapping(copy.deepcopy(raw), "test", Path(".")))


def test_transfer_plans_each_setting_on_its_classification_run_and_renames_no_classification_run():
    grid = _plan(TINY)
    plain = _plan({k: v for k, v in TINY.items() if k != "transfer"})
    cls = [r.settings.run_id() for r in grid.runs if r.transfer is None]
    assert cls == [r.settings.run_id() for r in plain.runs]  # the classification runs are the same runs
    for seed in (0, 1):
        runs = {r.regime: r for r in grid.runs if r.seed == seed and r.transfer is None}
        det = {r.regime: r for r in grid.runs if r.seed == seed and r.transfer is not None}
        assert set(det) == {"prune-c", "detector", "prune-d", "scratch-e", "scratch-b"}
        # Prune-C starts from the fine-tuned classifier, Scratch-E/B from theirs, the detector from the large model
        for setting, source in (("prune-c", "finetune"), ("scratch-e", "scratch-e"), ("scratch-b", "scratch-b")):
            s = det[setting].settings
            assert s.init == {"kind": "backbone", "from_run": runs[source].settings.run_id()}
            assert s.arch == runs[source].settings.arch and s.task["kind"] == "detection"
        assert det["detector"].settings.init["from_run"] == runs["baseline"].settings.run_id()
        # Prune-D: a prune step of the detector run, then the pruned detector with the detector's layers
        pd = det["prune-d"]
        assert pd.prune.baseline == det["detector"].settings.run_id()
        assert pd.settings.init == {"kind": "inherit", "from_prune": pd.prune.id,
                                    "heads": det["detector"].settings.run_id()}
        assert pd.settings.recipe.lr == 0.001 and det["prune-c"].settings.recipe.lr == 0.01
        # the chain each setting's compute ledger sums
        assert det["prune-c"].labels["chain"] == [runs["baseline"].settings.run_id(), runs["finetune"].settings.run_id()]
        assert pd.labels["chain"] == [runs["baseline"].settings.run_id(), det["detector"].settings.run_id()]
    # the detection recipe names the runs: another detector recipe is other runs, the classifiers are the same
    other = _plan({**TINY, "transfer": {**TINY["transfer"], "recipe": {"epochs": 2, "batch_size": 8, "lr": 0.01}}})
    ids = lambda g, det: {r.settings.run_id() for r in g.runs if (r.transfer is not None) == det}  # noqa: E731
    assert ids(other, False) == ids(grid, False) and not ids(other, True) & ids(grid, True)


def test_a_transfer_section_names_its_problems_in_one_line():
    from prunelab.errors import PrunelabError

    for change, msg in (({"settings": ["prune-x"]}, "transfer.settings must list"),
                        ({"data": {"dataset": "coco"}}, "'coco' is not a detection set"),
                        ({"detector": {"min_size": 64, "max_size": 32}}, "min_size <= max_size"),
                        ({"prune_d": {"epochs": 0}}, "at least one epoch")):
        with pytest.raises(PrunelabError, match=msg):
            _plan({**TINY, "transfer": {**TINY["transfer"], **change}})
    with pytest.raises(PrunelabError, match="Prune-C takes the backbone of the finetune arm"):
        _plan({**TINY, "regimes": ["scratch-e", "scratch-b"]})
    # what would fail only after the classifiers trained is refused at planning
    with pytest.raises(PrunelabError, match="'magnitude' is unstructured"):
        _plan({**TINY, "prune": {"method": "magnitude"}, "models": [{"arch": "resnet20", "width": 0.25,
                                                                     "targets": [0.5]}]})
    with pytest.raises(PrunelabError, match="'taylor' scores filters on classification images"):
        _plan({**TINY, "prune": {"method": "taylor"}})
    _plan({**TINY, "prune": {"method": "taylor"}, "transfer": {**TINY["transfer"], "settings": ["prune-c"]}})
    with pytest.raises(PrunelabError, match="read the backbone's 128 output channels; vgg11-w0.25-p0.5 has 64"):
        _plan({**TINY, "models": [{"arch": "vgg11", "width": 0.25, "targets": [0.5]}]})
    with pytest.raises(PrunelabError, match="a detector needs a convolutional feature extractor"):
        _plan({**TINY, "dataset": "cifar10", "data": {}, "models": [{"arch": "preresnet56", "targets": [0.5]}]})


def test_judge_of_a_transfer_file_judges_its_classification():
    from prunelab.runs.judge_grids import judge_plan
    from prunelab.runs.experiment import experiment_from_mapping
    from pathlib import Path

    j = judge_plan(experiment_from_mapping(copy.deepcopy(TINY), "test", Path(".")), {"method": "l1-norm"})
    assert all(r.transfer is None for grid, _ in j.parts.values() for r in grid.runs)
    assert set(j.parts) == {"method", "uniform", "random"}


def test_the_small_transfer_runs_reports_map_and_trains_nothing_again(tmp_path):
    from prunelab.cli.protocol import tables
    from prunelab.report.transfer import transfer_rows
    from prunelab.runs import RunStore
    from prunelab.runs.execution import grid_results, run_grid

    store = RunStore(tmp_path / "store")
    grid = _plan(TINY)
    first = run_grid(grid, store, progress=False)
    assert len(first.trained) == len({r.settings.run_id() for r in grid.runs})
    results = grid_results(grid, store)
    rows = transfer_rows(results)
    assert len(rows) == 1
    settings = rows[0]["settings"]
    for s in ("detector", "prune-c", "prune-d", "scratch-e", "scratch-b"):
        assert settings[s]["n"] == 2 and all(0 <= v <= 1 for v in settings[s]["values"]["voc07_map"])
    assert settings["prune-c"]["params"] < settings["detector"]["params"]  # the pruned backbone is smaller
    assert settings["prune-c"]["ledger"] > 0
    text = tables(results, store.root)
    assert "Detection transfer: mAP (VOC07 11-point, IoU 0.5)" in text
    assert "Scratch-B − Prune-C" in text and "Prune-D − Prune-C" in text and "paired p" in text
    # Prune-D's detector starts from the prune step's backbone and the detector run's own layers
    pd = next(r for r in grid.runs if r.regime == "prune-d" and r.seed == 0)
    det_file = torch.load(store.root / pd.settings.init["heads"] / "model.pt", weights_only=True)
    from prunelab.runs.store import StoreSources
    from prunelab.detection.run import DetectionRun
    from prunelab.protocol import inits

    with torch.no_grad():
        model = DetectionRun(pd.settings).model(inits.start(pd.settings, StoreSources(store)), StoreSources(store))
    heads = {k: v for k, v in model.state_dict().items() if not k.startswith("backbone.")}
    assert heads.keys() == det_file["detector"].keys()
    from prunelab.errors import PrunelabError
    from prunelab.models_io import classifier, load as load_model

    det_path = store.root / pd.settings.init["heads"] / "model.pt"
    with pytest.raises(PrunelabError, match="is a detection run's model"):  # (prune and export refuse it)
        classifier(load_model(det_path), det_path)
    assert all(torch.equal(heads[k], det_file["detector"][k]) for k in heads)
    again = run_grid(_plan(TINY), store, progress=False)
    assert again.trained == [] and again.pruned == []
    # the store's report reads detection results as results (their mAPs), the same tables
    from prunelab.report.table import load_results

    skipped = []
    assert transfer_rows(load_results(store.root, skipped)) == rows and skipped == []


def test_voc_plan_is_one_line_without_its_folder_and_shows_every_run_with_it(tmp_path):
    raw = yaml.safe_load(open("experiments/paper/detection-voc07.yaml"))
    assert raw["transfer"]["data"]["dataset"] == "voc2007"
    missing = tmp_path / "nowhere"
    f = tmp_path / "voc.yaml"
    f.write_text(yaml.safe_dump({**raw, "transfer": {**raw["transfer"], "root": str(missing)}}))
    p = subprocess.run([sys.executable, "-m", "prunelab", "plan", str(f), "--store", str(tmp_path / "s")],
                       capture_output=True, text=True)
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1
    assert str(missing) in p.stderr and "VOCdevkit/VOC2007" in p.stderr and "Annotations" in p.stderr
    base = tmp_path / "voc" / "VOCdevkit" / "VOC2007"
    for d in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (base / d).mkdir(parents=True)
    for s in ("trainval", "test"):
        (base / "ImageSets" / "Main" / f"{s}.txt").write_text("")
    f.write_text(yaml.safe_dump({**raw, "transfer": {**raw["transfer"], "root": str(tmp_path / "voc")}}))
    p = subprocess.run([sys.executable, "-m", "prunelab", "plan", str(f), "--store", str(tmp_path / "s"), "--json"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    det = [r for r in rows if r.get("task") == "detection"]
    assert {r["regime"] for r in det} == {"prune-c", "detector", "prune-d", "scratch-e", "scratch-b"}
    assert {r["pruned"] for r in det if r["regime"] != "detector"} == {"resnet34-A", "resnet34-B"}
    assert all(r["epochs"] == 7 for r in det if r["regime"] != "prune-d") and all(r["train_macs"] > 0 for r in rows)
    assert {r["epochs"] for r in rows if r["regime"] == "baseline"} == {90}


def test_voc_data_reads_a_folder_in_its_standard_layout(tmp_path):
    from PIL import Image

    from prunelab.detection.data import VOCData

    base = tmp_path / "VOCdevkit" / "VOC2007"
    for d in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (base / d).mkdir(parents=True)
    objects = {"000001": [("dog", 10, 20, 50, 60, 0), ("person", 5, 5, 30, 40, 1)], "000002": [("car", 1, 2, 3, 4, 0)]}
    for name, objs in objects.items():
        Image.new("RGB", (64, 48), (200, 10, 10)).save(base / "JPEGImages" / f"{name}.jpg")
        xml = "".join(f"<object><name>{n}</name><difficult>{d}</difficult><bndbox><xmin>{a}</xmin><ymin>{b}</ymin>"
                      f"<xmax>{c}</xmax><ymax>{e}</ymax></bndbox></object>" for n, a, b, c, e, d in objs)
        (base / "Annotations" / f"{name}.xml").write_text(
            f"<annotation><filename>{name}.jpg</filename><size><width>64</width><height>48</height></size>{xml}"
            "</annotation>")
    for s in ("trainval", "test"):
        (base / "ImageSets" / "Main" / f"{s}.txt").write_text("000001\n000002\n")
    data = VOCData(tmp_path, workers=0)
    assert data.size("train") == 2 and data.num_batches("train", 1, True) == 2
    (x, y), = list(data.batches("test", 2))
    assert [tuple(img.shape) for img in x] == [(3, 48, 64)] * 2 and 0 <= float(x[0].min()) <= float(x[0].max()) <= 1
    # VOC's 1-based pixel boxes as x1-1, y1-1, x2, y2; the difficult person is left out; labels 1..20
    assert y[0]["boxes"].tolist() == [[9.0, 19.0, 50.0, 60.0]] and y[0]["labels"].tolist() == [12]
    assert y[1]["labels"].tolist() == [7]


def test_a_killed_detection_run_resumes_in_the_store_to_identical_final_metrics(tmp_path):
    from prunelab.runs.store import RunStore, execute_run

    grid = _plan({**TINY, "seeds": [0], "transfer": {**TINY["transfer"], "settings": ["prune-c"],
                                                      "recipe": {"epochs": 2, "batch_size": 8, "lr": 0.01}}})
    from prunelab.runs.execution import run_grid

    cls = [r for r in grid.runs if r.transfer is None]
    det = next(r for r in grid.runs if r.regime == "prune-c").settings
    stores = [RunStore(tmp_path / name) for name in ("straight", "killed")]
    for store in stores:  # the classifiers it starts from (identical runs in both stores)
        grid.runs = cls
        run_grid(grid, store, progress=False)
    straight, _ = execute_run(det, stores[0])
    seen = []

    def kill(images):  # an interrupt in the second epoch, after the first epoch's checkpoint
        seen.append(images)
        if len(seen) == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        execute_run(det, stores[1], progress=kill)
    assert (stores[1].path(det) / "checkpoint.pt").is_file() and stores[1].status(det) == "partial"
    resumed, trained = execute_run(det, stores[1])
    assert trained
    for k in ("final_map", "final_map_50", "final_voc07_map"):
        assert resumed[k] == straight[k]
