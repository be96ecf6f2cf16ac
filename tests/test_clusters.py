"""Topical clusters on the 97 real ProMediConv cases, with the real m3e-small model and FAISS."""
from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from leian.analytics.clusters import cluster_cases, cluster_quality
from leian.cli import cli, sample_path
from leian.data.ingest import ingest
from leian.data.readers import read_records
from leian.data.record import validate
from leian.data.store import Store

# A topic the sample does not have: e-bikes charged in stairwells, all in the last month.
NEW_TOPIC = [
    "电动自行车在楼道里充电，电池起火，烧坏了对门邻居的防盗门",
    "邻居把电动车推进楼道飞线充电，半夜电池冒烟起火，楼上住户被熏",
    "电瓶车在楼梯间充电引发火灾，烧毁两户人家的门窗和鞋柜",
    "业主私拉电线给电动自行车充电，电池爆燃，殃及隔壁住户财物",
    "楼道内电动车充电起火，浓烟进入邻居家中，邻居要求赔偿清洗费用",
    "电动车停放在楼道充电，锂电池自燃，烧坏公共楼道和邻居的电表箱",
    "小区住户在楼梯口给电瓶车充电着火，邻居家的门被烧黑要求赔偿",
    "电动自行车入户充电发生火灾，火势蔓延到隔壁，双方就赔偿发生纠纷",
]


@pytest.fixture(scope="module")
def sample_home(tmp_path_factory):
    root = tmp_path_factory.mktemp("clusters") / "home"
    with Store(root / "cases.sqlite") as store:
        report = ingest(store, [sample_path()], rejects_dir=root / "rejects", progress=False)
        assert report.rejected == 0
    return root


@pytest.fixture(scope="module")
def first_run(sample_home):
    with Store(sample_home / "cases.sqlite") as store:
        return cluster_cases(store), {case.id: case.category for case in store.iter_cases()}


def test_quality_against_dispute_types(first_run):
    clustering, truth = first_run
    quality = cluster_quality(clustering, truth)
    print(f"\nProMediConv cluster quality: {quality}")
    assert quality["cases"] == 97
    # Twelve types among 97 cases: random clusterings of this shape score NMI ~0.2.
    assert quality["purity"] >= 0.45 and quality["nmi"] >= 0.45
    for cluster in clustering.clusters:
        assert cluster.size >= 3 and len(cluster.keywords) >= 4
        assert not any("某" in word for word in cluster.keywords)
        assert cluster.medoid in cluster.case_ids


def test_ids_are_stable_across_runs_and_copies(sample_home, first_run, tmp_path):
    clustering, _ = first_run
    copy = tmp_path / "cases.sqlite"
    shutil.copy(sample_home / "cases.sqlite", copy)
    with Store(copy) as store:
        again = cluster_cases(store)
    assert [(c.id, c.case_ids) for c in again.clusters] == [(c.id, c.case_ids) for c in clustering.clusters]
    assert len({c.id for c in clustering.clusters}) == len(clustering.clusters)


def test_new_topic_is_an_emerging_cluster(sample_home, tmp_path):
    copy = tmp_path / "cases.sqlite"
    shutil.copy(sample_home / "cases.sqlite", copy)
    dated = []
    for i, raw in enumerate(read_records(sample_path())):
        record = dict(raw.data)
        record["occurred_on"] = f"2025-{i % 12 + 1:02d}-{i % 27 + 1:02d}"
        dated.append(validate(record))
    fresh = [validate({"id": f"NEW-{i}", "text": text, "type": "邻里", "occurred_on": f"2026-01-{i + 10:02d}"})
             for i, text in enumerate(NEW_TOPIC)]
    with Store(copy) as store:
        store.upsert_batch(dated + fresh)
        clustering = cluster_cases(store, window_days=60)
    emerging = [c for c in clustering.clusters if c.emerging]
    assert emerging, [c.to_dict() for c in clustering.clusters]
    new_ids = {case.id for case in fresh}
    for cluster in emerging:
        assert len(new_ids & set(cluster.case_ids)) > cluster.size / 2
    home_of_new = max(clustering.clusters, key=lambda c: len(new_ids & set(c.case_ids)))
    assert home_of_new.emerging and home_of_new.trend["2026-01"] >= 6
    assert any(word in "".join(home_of_new.keywords) for word in ("充电", "电动车", "电动自行车", "起火"))


def test_cli_json(sample_home, first_run):
    clustering, _ = first_run
    result = CliRunner().invoke(cli, ["--home", str(sample_home), "clusters", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [c["id"] for c in data["clusters"]] == [c.id for c in clustering.clusters]
    assert sum(c["size"] for c in data["clusters"]) + data["noise"] == 97
    missing = CliRunner().invoke(cli, ["--home", str(sample_home / "nowhere"), "clusters"])
    assert missing.exit_code == 1 and "中还没有案件库" in missing.output


def _copy(sample_home, first_run, tmp_path) -> Store:
    """A copy of the sample store holding the first run's clusters."""
    copy = tmp_path / "cases.sqlite"
    shutil.copy(sample_home / "cases.sqlite", copy)
    return Store(copy)


def test_a_few_new_cases_keep_every_cluster_and_its_id(sample_home, first_run, tmp_path):
    clustering, _ = first_run
    biggest = clustering.clusters[0]
    with _copy(sample_home, first_run, tmp_path) as store:
        members = store.get_many(biggest.case_ids[:4])
        # Four more cases of the biggest topic, told again in other words.
        retold = [validate({"id": f"AGAIN-{i}", "text": "另据反映：" + case.text[: len(case.text) * 2 // 3], "type": case.type})
                  for i, case in enumerate(members.values())]
        store.upsert_batch(retold)
        again = cluster_cases(store)
    assert {c.id for c in again.clusters} == {c.id for c in clustering.clusters}
    grown = next(c for c in again.clusters if c.id == biggest.id)
    assert set(biggest.case_ids) <= set(grown.case_ids) and len(set(grown.case_ids) - set(biggest.case_ids)) >= 3
    for before in clustering.clusters[1:]:
        after = next(c for c in again.clusters if c.id == before.id)
        assert set(before.case_ids) <= set(after.case_ids)


def test_a_new_topic_arriving_later_is_a_new_cluster_beside_the_old_ones(sample_home, first_run, tmp_path):
    clustering, _ = first_run
    with _copy(sample_home, first_run, tmp_path) as store:
        store.upsert_batch([validate({"id": f"NEW-{i}", "text": text, "type": "邻里"}) for i, text in enumerate(NEW_TOPIC)])
        again = cluster_cases(store)
        fresh = cluster_cases(store, fresh=True)
    old = {c.id: set(c.case_ids) for c in clustering.clusters}
    assert all(old[c.id] <= set(c.case_ids) for c in again.clusters if c.id in old) and set(old) <= {c.id for c in again.clusters}
    new_ids = {f"NEW-{i}" for i in range(len(NEW_TOPIC))}
    home_of_new = max(again.clusters, key=lambda c: len(new_ids & set(c.case_ids)))
    assert home_of_new.id not in old and len(new_ids & set(home_of_new.case_ids)) >= 6
    # Clustered afresh, the topics that match the earlier ones by members keep their ids.
    assert len({c.id for c in fresh.clusters} & set(old)) >= len(old) // 2
